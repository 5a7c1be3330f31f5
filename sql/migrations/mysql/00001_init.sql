-- Tether schema, version 1 (MySQL / MariaDB).
--
-- Every table is InnoDB with utf8mb4 and a binary collation: usernames are
-- stored lowercased by the API and client message ids are case sensitive.
-- Times are UTC with millisecond precision.

-- +goose Up
CREATE TABLE users (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    username      VARCHAR(32)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per login session (a refresh-token family). Only SHA-256 hashes of
-- refresh tokens are stored; prev_refresh_hash is the token rotated away last,
-- kept to detect its reuse.
CREATE TABLE auth_sessions (
    id                VARCHAR(64) NOT NULL,
    user_id           BIGINT      NOT NULL,
    device_id         VARCHAR(64) NOT NULL,
    platform          VARCHAR(16) NOT NULL,
    refresh_hash      CHAR(64)    NOT NULL,
    prev_refresh_hash CHAR(64)    NULL,
    expires_at        DATETIME(3) NOT NULL,
    revoked_at        DATETIME(3) NULL,
    created_at        DATETIME(3) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_auth_sessions_refresh (refresh_hash),
    KEY ix_auth_sessions_prev (prev_refresh_hash),
    KEY ix_auth_sessions_user (user_id),
    CONSTRAINT fk_auth_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- conversation_id is "d:{low}:{high}" for 1:1 chats; other prefixes are free
-- for group conversations later.
CREATE TABLE messages (
    id              BIGINT      NOT NULL AUTO_INCREMENT,
    conversation_id VARCHAR(64) NOT NULL,
    sender_id       BIGINT      NOT NULL,
    recipient_id    BIGINT      NOT NULL,
    client_msg_id   VARCHAR(64) NOT NULL,
    type            VARCHAR(16) NOT NULL,
    content         LONGTEXT    NOT NULL,
    created_at      DATETIME(3) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_messages_sender_client (sender_id, client_msg_id),
    KEY ix_messages_conversation (conversation_id, id),
    KEY ix_messages_recipient (recipient_id),
    CONSTRAINT fk_messages_sender FOREIGN KEY (sender_id) REFERENCES users (id),
    CONSTRAINT fk_messages_recipient FOREIGN KEY (recipient_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The newest version of each user's timeline; its row lock serializes the
-- appends to one timeline.
CREATE TABLE timeline_heads (
    user_id BIGINT          NOT NULL,
    version BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id),
    CONSTRAINT fk_timeline_heads_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Each user's timeline: gap-free versions from 1. kind says what the entry is
-- ("message" today); message_id is nullable for kinds without a message.
CREATE TABLE timeline (
    user_id    BIGINT          NOT NULL,
    version    BIGINT UNSIGNED NOT NULL,
    kind       VARCHAR(16)     NOT NULL,
    message_id BIGINT          NULL,
    PRIMARY KEY (user_id, version),
    CONSTRAINT fk_timeline_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_timeline_message FOREIGN KEY (message_id) REFERENCES messages (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Push work committed with the messages it announces; the relay moves it to
-- the push nodes' Redis streams and deletes it.
CREATE TABLE outbox (
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    created_at DATETIME(3) NOT NULL,
    payload    LONGTEXT    NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE outbox;
DROP TABLE timeline;
DROP TABLE timeline_heads;
DROP TABLE messages;
DROP TABLE auth_sessions;
DROP TABLE users;
