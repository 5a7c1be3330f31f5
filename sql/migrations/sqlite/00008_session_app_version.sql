-- Tether schema, version 8 (SQLite): the app version of a login session.
-- Mirrors sql/migrations/mysql/00008_session_app_version.sql.

-- +goose Up
ALTER TABLE auth_sessions ADD COLUMN app_version TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_sessions DROP COLUMN app_version;
