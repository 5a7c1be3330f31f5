-- Tether schema, version 3 (SQLite): user profiles, contacts and blocks. Mirrors sql/migrations/mysql/00003_social.sql.

-- +goose Up
CREATE TABLE user_profiles (
    user_id      INTEGER  NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    display_name TEXT     NOT NULL DEFAULT '',
    avatar_url   TEXT     NOT NULL DEFAULT '',
    attributes   TEXT     NOT NULL,
    updated_at   DATETIME NOT NULL
);

CREATE TABLE contacts (
    user_id    INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_id INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (user_id, contact_id)
) WITHOUT ROWID;

CREATE TABLE blocks (
    user_id    INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE blocks;
DROP TABLE contacts;
DROP TABLE user_profiles;
