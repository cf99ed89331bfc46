-- +goose Up
-- cas_tgt_services remembers, per SSO session, every service that received an
-- ST, for single logout: the ST id is the SAML SessionIndex, logout_url is
-- where the LogoutRequest goes. Rows go when their session ends.
CREATE TABLE cas_tgt_services (
  st_id       TEXT     NOT NULL PRIMARY KEY,
  tgt_hash    TEXT     NOT NULL,
  service_id  TEXT     NOT NULL,
  service_url TEXT     NOT NULL,
  logout_url  TEXT     NOT NULL,
  created_at  DATETIME NOT NULL
);
CREATE INDEX cas_tgt_services_tgt ON cas_tgt_services (tgt_hash);

-- +goose Down
DROP TABLE cas_tgt_services;
