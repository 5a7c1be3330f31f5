-- Tether schema, version 7 (SQLite): live switches.
-- Mirrors sql/migrations/mysql/00007_switches.sql.

-- +goose Up
CREATE TABLE switch_version (
    id      INTEGER NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO switch_version (id, version) VALUES (1, 0);

CREATE TABLE switches (
    name       TEXT     NOT NULL PRIMARY KEY,
    value      TEXT     NOT NULL,
    rules      TEXT     NOT NULL,
    updated_by TEXT     NOT NULL,
    updated_at DATETIME NOT NULL,
    version    INTEGER  NOT NULL
);

CREATE TABLE switch_changes (
    id         INTEGER  NOT NULL PRIMARY KEY,
    name       TEXT     NOT NULL,
    old_value  TEXT     NOT NULL,
    new_value  TEXT     NOT NULL,
    old_rules  TEXT     NOT NULL,
    new_rules  TEXT     NOT NULL,
    actor      TEXT     NOT NULL,
    reason     TEXT     NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX ix_switch_changes_name ON switch_changes (name, id);

-- +goose Down
DROP TABLE switch_changes;
DROP TABLE switches;
DROP TABLE switch_version;
