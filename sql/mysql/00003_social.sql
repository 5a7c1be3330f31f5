-- Tether schema, version 3 (MySQL / MariaDB): user profiles.
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

-- +goose Down
DROP TABLE user_profiles;
