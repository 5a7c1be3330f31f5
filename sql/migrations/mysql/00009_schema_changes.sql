-- Tether schema, version 9 (MySQL / MariaDB): schema_changes, where each
-- migration from now on declares whether binaries older than it may run on
-- it (sql/migrations/README.md, expand/contract). An expand migration only
-- adds (new tables, columns that are nullable or have a default), so older
-- binaries run on it; a contract migration removes what binaries before
-- oldest_binary still used. A binary whose newest migration is L runs on a
-- database at V > L only if every migration in (L, V] is recorded here and
-- is an expansion or has oldest_binary <= L. Expand only itself.

-- +goose Up
CREATE TABLE schema_changes (
    version       BIGINT      NOT NULL,
    kind          VARCHAR(16) NOT NULL,
    oldest_binary BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (version)
) ENGINE=InnoDB;
INSERT INTO schema_changes (version, kind, oldest_binary) VALUES (8, 'expand', 0), (9, 'expand', 0);

-- +goose Down
DROP TABLE schema_changes;
