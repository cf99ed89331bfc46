-- +goose Up
-- wxcas_meta holds small installation facts (for example the sandbox's generated secret).
CREATE TABLE wxcas_meta (
  name       VARCHAR(64)  NOT NULL PRIMARY KEY,
  value      VARCHAR(512) NOT NULL,
  created_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE wxcas_meta;
