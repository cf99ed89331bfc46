-- +goose Up
-- wxcas_meta holds small installation facts (for example the sandbox's generated secret).
CREATE TABLE wxcas_meta (
  name       TEXT     NOT NULL PRIMARY KEY,
  value      TEXT     NOT NULL,
  created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE wxcas_meta;
