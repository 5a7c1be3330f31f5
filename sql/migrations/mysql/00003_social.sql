-- Tether schema, version 3 (MySQL / MariaDB): user profiles, contacts and blocks.
--
-- One optional row per user; a user without a row has an empty profile.
-- attributes is the caller's custom JSON object (at most 4 KiB, checked by the API).

-- +goose Up
CREATE TABLE user_profiles (
    user_id      BIGINT       NOT NULL,
    display_name VARCHAR(64)  NOT NULL DEFAULT '',
    avatar_url   VARCHAR(512) NOT NULL DEFAULT '',
    attributes   TEXT         NOT NULL,
    updated_at   DATETIME(3)  NOT NULL,
    PRIMARY KEY (user_id),
    CONSTRAINT fk_user_profiles_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Each user's contact list: user_id has added contact_id (one-directional).
CREATE TABLE contacts (
    user_id    BIGINT      NOT NULL,
    contact_id BIGINT      NOT NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (user_id, contact_id),
    CONSTRAINT fk_contacts_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_contacts_contact FOREIGN KEY (contact_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- user_id has blocked blocked_id: blocked_id cannot message user_id. Sending
-- checks it with one primary-key lookup (user_id = recipient, blocked_id = sender).
CREATE TABLE blocks (
    user_id    BIGINT      NOT NULL,
    blocked_id BIGINT      NOT NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (user_id, blocked_id),
    CONSTRAINT fk_blocks_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_blocks_blocked FOREIGN KEY (blocked_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE blocks;
DROP TABLE contacts;
DROP TABLE user_profiles;
