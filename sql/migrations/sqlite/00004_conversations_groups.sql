-- Tether schema, version 4 (SQLite): conversations, groups, recall and
-- timeline events. Mirrors sql/migrations/mysql/00004_conversations_groups.sql.
--
-- SQLite cannot make messages.recipient_id nullable in place, so messages is
-- rebuilt; foreign keys are deferred to the commit so timeline's references
-- resolve to the new table.

-- +goose Up
PRAGMA defer_foreign_keys = ON;

ALTER TABLE timeline ADD COLUMN conversation_id TEXT NULL;
ALTER TABLE timeline ADD COLUMN event TEXT NULL;
CREATE INDEX ix_timeline_conversation ON timeline (user_id, conversation_id, version);
UPDATE timeline SET conversation_id = (SELECT m.conversation_id FROM messages AS m WHERE m.id = timeline.message_id)
WHERE message_id IS NOT NULL;

CREATE TABLE chat_groups (
    id           INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    name         TEXT     NOT NULL,
    avatar_url   TEXT     NOT NULL DEFAULT '',
    announcement TEXT     NOT NULL DEFAULT '',
    owner_id     INTEGER  NOT NULL REFERENCES users (id),
    muted_all    INTEGER  NOT NULL DEFAULT 0,
    member_count INTEGER  NOT NULL DEFAULT 0,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL,
    dissolved_at DATETIME NULL
);
CREATE INDEX ix_chat_groups_owner ON chat_groups (owner_id);

CREATE TABLE group_members (
    group_id    INTEGER  NOT NULL REFERENCES chat_groups (id) ON DELETE CASCADE,
    user_id     INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT     NOT NULL,
    muted_until DATETIME NULL,
    joined_at   DATETIME NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX ix_group_members_user ON group_members (user_id, group_id);

CREATE TABLE group_invitations (
    id         INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    group_id   INTEGER  NOT NULL REFERENCES chat_groups (id) ON DELETE CASCADE,
    inviter_id INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invitee_id INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    CONSTRAINT uq_group_invitations UNIQUE (group_id, invitee_id)
);
CREATE INDEX ix_group_invitations_invitee ON group_invitations (invitee_id, id);

CREATE TABLE messages_v4 (
    id              INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT     NOT NULL,
    sender_id       INTEGER  NOT NULL REFERENCES users (id),
    recipient_id    INTEGER  NULL REFERENCES users (id),
    client_msg_id   TEXT     NOT NULL,
    type            TEXT     NOT NULL,
    content         TEXT     NOT NULL,
    created_at      DATETIME NOT NULL,
    group_id        INTEGER  NULL REFERENCES chat_groups (id),
    recalled_at     DATETIME NULL,
    CONSTRAINT uq_messages_sender_client UNIQUE (sender_id, client_msg_id)
);
INSERT INTO messages_v4 (id, conversation_id, sender_id, recipient_id, client_msg_id, type, content, created_at)
SELECT id, conversation_id, sender_id, recipient_id, client_msg_id, type, content, created_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v4 RENAME TO messages;
CREATE INDEX ix_messages_conversation ON messages (conversation_id, id);
CREATE INDEX ix_messages_recipient ON messages (recipient_id);

CREATE TABLE conversations (
    user_id         INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id TEXT     NOT NULL,
    peer_id         INTEGER  NULL,
    group_id        INTEGER  NULL,
    last_message_id INTEGER  NOT NULL DEFAULT 0,
    last_version    INTEGER  NOT NULL DEFAULT 0,
    read_version    INTEGER  NOT NULL DEFAULT 0,
    unread_count    INTEGER  NOT NULL DEFAULT 0,
    muted           INTEGER  NOT NULL DEFAULT 0,
    hidden          INTEGER  NOT NULL DEFAULT 0,
    updated_at      DATETIME NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
) WITHOUT ROWID;
CREATE INDEX ix_conversations_list ON conversations (user_id, hidden, last_message_id);

INSERT INTO conversations (user_id, conversation_id, peer_id, last_message_id, last_version, read_version, unread_count, updated_at)
SELECT t.user_id, m.conversation_id,
       MAX(CASE WHEN m.sender_id = t.user_id THEN m.recipient_id ELSE m.sender_id END),
       MAX(m.id), MAX(t.version), MAX(t.version), 0, MAX(m.created_at)
FROM timeline AS t JOIN messages AS m ON m.id = t.message_id
GROUP BY t.user_id, m.conversation_id;

-- +goose Down
PRAGMA defer_foreign_keys = ON;
DROP TABLE conversations;
DELETE FROM timeline WHERE message_id IN (SELECT id FROM messages WHERE group_id IS NOT NULL) OR kind <> 'message';
DELETE FROM messages WHERE group_id IS NOT NULL;
CREATE TABLE messages_v3 (
    id              INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT     NOT NULL,
    sender_id       INTEGER  NOT NULL REFERENCES users (id),
    recipient_id    INTEGER  NOT NULL REFERENCES users (id),
    client_msg_id   TEXT     NOT NULL,
    type            TEXT     NOT NULL,
    content         TEXT     NOT NULL,
    created_at      DATETIME NOT NULL,
    CONSTRAINT uq_messages_sender_client UNIQUE (sender_id, client_msg_id)
);
INSERT INTO messages_v3 SELECT id, conversation_id, sender_id, recipient_id, client_msg_id, type, content, created_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v3 RENAME TO messages;
CREATE INDEX ix_messages_conversation ON messages (conversation_id, id);
CREATE INDEX ix_messages_recipient ON messages (recipient_id);
DROP TABLE group_invitations;
DROP TABLE group_members;
DROP TABLE chat_groups;
DROP INDEX ix_timeline_conversation;
ALTER TABLE timeline DROP COLUMN event;
ALTER TABLE timeline DROP COLUMN conversation_id;
