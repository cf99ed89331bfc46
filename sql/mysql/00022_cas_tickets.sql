-- +goose Up
-- cas_tickets holds unvalidated service tickets (ST-) and proxy tickets (PT-).
-- They live seconds and are deleted by the first validation attempt; the
-- DELETE's affected-row count decides which of concurrent validators wins.
-- proxies is the JSON proxy chain of a PT ('' for an ST).
CREATE TABLE cas_tickets (
  id             VARCHAR(64) NOT NULL PRIMARY KEY,
  tgt_hash       CHAR(64)    NOT NULL,
  service        TEXT        NOT NULL,
  from_new_login BOOLEAN     NOT NULL,
  proxies        TEXT        NOT NULL,
  created_at     DATETIME(6) NOT NULL,
  expires_at     DATETIME(6) NOT NULL,
  KEY cas_tickets_tgt (tgt_hash),
  KEY cas_tickets_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE cas_tickets;
