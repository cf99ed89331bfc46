-- +goose Up
-- cas_tgt_services remembers, per SSO session, every service that received an
-- ST, for single logout: the ST id is the SAML SessionIndex, logout_url is
-- where the LogoutRequest goes. Rows go when their session ends.
CREATE TABLE cas_tgt_services (
  st_id       VARCHAR(64) NOT NULL PRIMARY KEY,
  tgt_hash    CHAR(64)    NOT NULL,
  service_id  VARCHAR(64) NOT NULL,
  service_url TEXT        NOT NULL,
  logout_url  TEXT        NOT NULL,
  created_at  DATETIME(6) NOT NULL,
  KEY cas_tgt_services_tgt (tgt_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE cas_tgt_services;
