-- +goose Up
-- cas_pgt holds proxy-granting tickets (multi-use, as long-lived as their
-- SSO session, so only the SHA-256 of the id is stored). They are deleted
-- with their TGT, which is how a PGT dies on logout.
CREATE TABLE cas_pgt (
  id_hash    TEXT     NOT NULL PRIMARY KEY,
  tgt_hash   TEXT     NOT NULL,
  proxies    TEXT     NOT NULL,
  created_at DATETIME NOT NULL
);
CREATE INDEX cas_pgt_tgt ON cas_pgt (tgt_hash);

-- +goose Down
DROP TABLE cas_pgt;
