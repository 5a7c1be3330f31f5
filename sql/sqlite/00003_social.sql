-- Tether schema, version 3 (SQLite): user profiles. Mirrors sql/mysql/00003_social.sql.

-- +goose Up
CREATE TABLE user_profiles (
    user_id      INTEGER  NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    display_name TEXT     NOT NULL DEFAULT '',
    avatar_url   TEXT     NOT NULL DEFAULT '',
    attributes   TEXT     NOT NULL,
    updated_at   DATETIME NOT NULL
);

-- +goose Down
DROP TABLE user_profiles;
