-- Tether schema, version 5 (MySQL / MariaDB): server-to-server API keys of the push API.
--
-- A key's secret is shown once, at creation; only its SHA-256 is stored
-- (secret_hash), so a leaked table yields no usable key. key_id is the
-- public handle ("k_..."), safe to list and log. scopes is a comma-separated
-- subset of push, broadcast, admin. rate_limit is pushes per second, 0 for
-- the server default. Revoked keys stay (revoked_at set) for the audit trail.

-- +goose Up
CREATE TABLE api_keys (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    key_id      VARCHAR(32)  NOT NULL,
    name        VARCHAR(64)  NOT NULL,
    secret_hash BINARY(32)   NOT NULL,
    scopes      VARCHAR(64)  NOT NULL,
    rate_limit  INT          NOT NULL DEFAULT 0,
    created_at  DATETIME(3)  NOT NULL,
    revoked_at  DATETIME(3)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_api_keys_key_id (key_id),
    UNIQUE KEY uq_api_keys_secret_hash (secret_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE api_keys;
