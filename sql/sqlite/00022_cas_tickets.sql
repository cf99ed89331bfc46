-- +goose Up
-- cas_tickets holds unvalidated service tickets (ST-) and proxy tickets (PT-).
-- They live seconds and are deleted by the first validation attempt; the
-- DELETE's affected-row count decides which of concurrent validators wins.
-- proxies is the JSON proxy chain of a PT ('' for an ST).
CREATE TABLE cas_tickets (
  id             TEXT     NOT NULL PRIMARY KEY,
  tgt_hash       TEXT     NOT NULL,
  service        TEXT     NOT NULL,
  from_new_login INTEGER  NOT NULL,
  proxies        TEXT     NOT NULL,
  created_at     DATETIME NOT NULL,
  expires_at     DATETIME NOT NULL
);
CREATE INDEX cas_tickets_tgt ON cas_tickets (tgt_hash);
CREATE INDEX cas_tickets_expires_at ON cas_tickets (expires_at);

-- +goose Down
DROP TABLE cas_tickets;
