-- Tether schema, version 6 (SQLite): offline-notification webhook deliveries.
-- Mirrors sql/migrations/mysql/00006_webhooks.sql.

-- +goose Up
CREATE TABLE webhook_deliveries (
    id              INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    message_id      INTEGER  NOT NULL,
    user_id         INTEGER  NOT NULL,
    message         TEXT     NOT NULL,
    state           TEXT     NOT NULL DEFAULT 'pending',
    attempts        INTEGER  NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    last_error      TEXT     NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_webhook_deliveries ON webhook_deliveries (message_id, user_id);
CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);

-- +goose Down
DROP TABLE webhook_deliveries;
