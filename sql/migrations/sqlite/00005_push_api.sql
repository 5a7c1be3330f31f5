-- Tether schema, version 5 (SQLite): server-to-server API keys of the push API. Mirrors sql/migrations/mysql/00005_push_api.sql.

-- +goose Up
CREATE TABLE api_keys (
    id          INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    key_id      TEXT     NOT NULL UNIQUE,
    name        TEXT     NOT NULL,
    secret_hash BLOB     NOT NULL UNIQUE,
    scopes      TEXT     NOT NULL,
    rate_limit  INTEGER  NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    revoked_at  DATETIME NULL
);

-- +goose Down
DROP TABLE api_keys;
