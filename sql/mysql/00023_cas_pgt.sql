-- +goose Up
-- cas_pgt holds proxy-granting tickets (multi-use, as long-lived as their
-- SSO session, so only the SHA-256 of the id is stored). They are deleted
-- with their TGT, which is how a PGT dies on logout.
CREATE TABLE cas_pgt (
  id_hash    CHAR(64)    NOT NULL PRIMARY KEY,
  tgt_hash   CHAR(64)    NOT NULL,
  proxies    TEXT        NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY cas_pgt_tgt (tgt_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE cas_pgt;
