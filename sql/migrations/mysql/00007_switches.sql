-- Tether schema, version 7 (MySQL / MariaDB): live switches (shared/switches).
--
-- switches holds each switch that was ever set (the others have the
-- catalogue's default); switch_changes is the history, one row per change
-- with who, when, old -> new and why. switch_version is one row whose
-- version every change increments first: that row lock serialises the
-- (rare) changes, so versions grow in commit order and a process that
-- installs version n has every change up to n. A change's id is the
-- version it made.

-- +goose Up
CREATE TABLE switch_version (
    id      TINYINT NOT NULL,
    version BIGINT  NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB;
INSERT INTO switch_version (id, version) VALUES (1, 0);

CREATE TABLE switches (
    name       VARCHAR(64)  NOT NULL,
    value      VARCHAR(64)  NOT NULL,
    rules      MEDIUMTEXT   NOT NULL,
    updated_by VARCHAR(128) NOT NULL,
    updated_at DATETIME(3)  NOT NULL,
    version    BIGINT       NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE switch_changes (
    id         BIGINT        NOT NULL,
    name       VARCHAR(64)   NOT NULL,
    old_value  VARCHAR(64)   NOT NULL,
    new_value  VARCHAR(64)   NOT NULL,
    old_rules  MEDIUMTEXT    NOT NULL,
    new_rules  MEDIUMTEXT    NOT NULL,
    actor      VARCHAR(128)  NOT NULL,
    reason     VARCHAR(500)  NOT NULL,
    created_at DATETIME(3)   NOT NULL,
    PRIMARY KEY (id),
    KEY ix_switch_changes_name (name, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE switch_changes;
DROP TABLE switches;
DROP TABLE switch_version;
