-- Tether schema, version 6 (MySQL / MariaDB): offline-notification webhook deliveries.
--
-- The relay inserts one row per (message, recipient without a live push
-- session) in the transaction that removes the message's outbox row; the
-- unique key makes a republished batch insert nothing. A webhook worker
-- claims due pending rows (state, next_attempt_at) with SKIP LOCKED, bumps
-- attempts and next_attempt_at (its lease) before it sends, and marks the row
-- delivered or failed; failed rows stay for inspection.

-- +goose Up
CREATE TABLE webhook_deliveries (
    id              BIGINT        NOT NULL AUTO_INCREMENT,
    message_id      BIGINT        NOT NULL,
    user_id         BIGINT        NOT NULL,
    message         LONGTEXT      NOT NULL,
    state           VARCHAR(16)   NOT NULL DEFAULT 'pending',
    attempts        INT           NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3)   NOT NULL,
    last_error      VARCHAR(512)  NOT NULL DEFAULT '',
    created_at      DATETIME(3)   NOT NULL,
    updated_at      DATETIME(3)   NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_webhook_deliveries (message_id, user_id),
    KEY ix_webhook_deliveries_due (state, next_attempt_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE webhook_deliveries;
