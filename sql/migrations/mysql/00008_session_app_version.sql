-- Tether schema, version 8 (MySQL / MariaDB): the app version a client
-- declared at login, kept with its login session so that every access
-- token of the session (refreshes included) carries it for the live
-- switches' version rules. Expand only: older binaries ignore the column.

-- +goose Up
ALTER TABLE auth_sessions ADD COLUMN app_version VARCHAR(64) NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_sessions DROP COLUMN app_version;
