-- Tether schema, version 1 (SQLite, the embedded dev mode).
--
-- Mirrors sql/migrations/mysql/00001_init.sql. AUTOINCREMENT keeps ids from being reused
-- after deletes, which matters for outbox ids (they name push jobs). Times are
-- declared DATETIME so the driver reads them back as time values.

-- +goose Up
CREATE TABLE users (
    id            INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    username      TEXT     NOT NULL,
    password_hash TEXT     NOT NULL,
    created_at    DATETIME NOT NULL,
    CONSTRAINT uq_users_username UNIQUE (username)
);

CREATE TABLE auth_sessions (
    id                TEXT     NOT NULL PRIMARY KEY,
    user_id           INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id         TEXT     NOT NULL,
    platform          TEXT     NOT NULL,
    refresh_hash      TEXT     NOT NULL,
    prev_refresh_hash TEXT     NULL,
    expires_at        DATETIME NOT NULL,
    revoked_at        DATETIME NULL,
    created_at        DATETIME NOT NULL,
    CONSTRAINT uq_auth_sessions_refresh UNIQUE (refresh_hash)
);
CREATE INDEX ix_auth_sessions_prev ON auth_sessions (prev_refresh_hash);
CREATE INDEX ix_auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE messages (
    id              INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT     NOT NULL,
    sender_id       INTEGER  NOT NULL REFERENCES users (id),
    recipient_id    INTEGER  NOT NULL REFERENCES users (id),
    client_msg_id   TEXT     NOT NULL,
    type            TEXT     NOT NULL,
    content         TEXT     NOT NULL,
    created_at      DATETIME NOT NULL,
    CONSTRAINT uq_messages_sender_client UNIQUE (sender_id, client_msg_id)
);
CREATE INDEX ix_messages_conversation ON messages (conversation_id, id);
CREATE INDEX ix_messages_recipient ON messages (recipient_id);

CREATE TABLE timeline_heads (
    user_id INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE timeline (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    message_id INTEGER NULL REFERENCES messages (id),
    PRIMARY KEY (user_id, version)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id         INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    created_at DATETIME NOT NULL,
    payload    TEXT     NOT NULL
);

-- +goose Down
DROP TABLE outbox;
DROP TABLE timeline;
DROP TABLE timeline_heads;
DROP TABLE messages;
DROP TABLE auth_sessions;
DROP TABLE users;
