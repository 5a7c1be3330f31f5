-- Tether schema, version 4 (MySQL / MariaDB): conversations, groups, recall
-- and timeline events.
--
-- A timeline entry now says which conversation it belongs to, and entries
-- that are not messages (read receipts, recalls, group events, pushes) carry
-- their data as a JSON object in event. Group messages have group_id set and
-- no recipient_id.

-- +goose Up
ALTER TABLE timeline
    ADD COLUMN conversation_id VARCHAR(64) NULL,
    ADD COLUMN event           TEXT        NULL,
    ADD KEY ix_timeline_conversation (user_id, conversation_id, version);

UPDATE timeline AS t JOIN messages AS m ON m.id = t.message_id SET t.conversation_id = m.conversation_id;

-- "groups" is a reserved word in MySQL 8.
CREATE TABLE chat_groups (
    id           BIGINT        NOT NULL AUTO_INCREMENT,
    name         VARCHAR(64)   NOT NULL,
    avatar_url   VARCHAR(512)  NOT NULL DEFAULT '',
    announcement VARCHAR(2048) NOT NULL DEFAULT '',
    owner_id     BIGINT        NOT NULL,
    muted_all    TINYINT(1)    NOT NULL DEFAULT 0,
    member_count INT           NOT NULL DEFAULT 0,
    created_at   DATETIME(3)   NOT NULL,
    updated_at   DATETIME(3)   NOT NULL,
    dissolved_at DATETIME(3)   NULL,
    PRIMARY KEY (id),
    KEY ix_chat_groups_owner (owner_id),
    CONSTRAINT fk_chat_groups_owner FOREIGN KEY (owner_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- role is owner, admin or member; exactly one owner per live group.
-- muted_until in the future silences one member.
CREATE TABLE group_members (
    group_id    BIGINT      NOT NULL,
    user_id     BIGINT      NOT NULL,
    role        VARCHAR(8)  NOT NULL,
    muted_until DATETIME(3) NULL,
    joined_at   DATETIME(3) NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY ix_group_members_user (user_id, group_id),
    CONSTRAINT fk_group_members_group FOREIGN KEY (group_id) REFERENCES chat_groups (id) ON DELETE CASCADE,
    CONSTRAINT fk_group_members_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A pending invitation of invitee_id into group_id; accepting or declining
-- deletes it.
CREATE TABLE group_invitations (
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    group_id   BIGINT      NOT NULL,
    inviter_id BIGINT      NOT NULL,
    invitee_id BIGINT      NOT NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_group_invitations (group_id, invitee_id),
    KEY ix_group_invitations_invitee (invitee_id, id),
    CONSTRAINT fk_group_invitations_group FOREIGN KEY (group_id) REFERENCES chat_groups (id) ON DELETE CASCADE,
    CONSTRAINT fk_group_invitations_inviter FOREIGN KEY (inviter_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_group_invitations_invitee FOREIGN KEY (invitee_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE messages
    MODIFY recipient_id BIGINT NULL,
    ADD COLUMN group_id    BIGINT      NULL,
    ADD COLUMN recalled_at DATETIME(3) NULL,
    ADD CONSTRAINT fk_messages_group FOREIGN KEY (group_id) REFERENCES chat_groups (id);

-- Each user's conversation list: one row per conversation the user has seen
-- an entry of. last_version and read_version are versions of the user's own
-- timeline; unread_count counts messages from others after read_version.
-- hidden rows were deleted from the list and come back with the next message.
CREATE TABLE conversations (
    user_id         BIGINT          NOT NULL,
    conversation_id VARCHAR(64)     NOT NULL,
    peer_id         BIGINT          NULL,
    group_id        BIGINT          NULL,
    last_message_id BIGINT          NOT NULL DEFAULT 0,
    last_version    BIGINT UNSIGNED NOT NULL DEFAULT 0,
    read_version    BIGINT UNSIGNED NOT NULL DEFAULT 0,
    unread_count    INT             NOT NULL DEFAULT 0,
    muted           TINYINT(1)      NOT NULL DEFAULT 0,
    hidden          TINYINT(1)      NOT NULL DEFAULT 0,
    updated_at      DATETIME(3)     NOT NULL,
    PRIMARY KEY (user_id, conversation_id),
    KEY ix_conversations_list (user_id, hidden, last_message_id),
    CONSTRAINT fk_conversations_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Existing 1:1 conversations, everything read.
INSERT INTO conversations (user_id, conversation_id, peer_id, last_message_id, last_version, read_version, unread_count, updated_at)
SELECT t.user_id, m.conversation_id,
       MAX(CASE WHEN m.sender_id = t.user_id THEN m.recipient_id ELSE m.sender_id END),
       MAX(m.id), MAX(t.version), MAX(t.version), 0, MAX(m.created_at)
FROM timeline AS t JOIN messages AS m ON m.id = t.message_id
GROUP BY t.user_id, m.conversation_id;

-- +goose Down
DROP TABLE conversations;
ALTER TABLE messages DROP FOREIGN KEY fk_messages_group;
DELETE FROM timeline WHERE message_id IN (SELECT id FROM messages WHERE group_id IS NOT NULL) OR kind <> 'message';
DELETE FROM messages WHERE group_id IS NOT NULL;
ALTER TABLE messages DROP COLUMN recalled_at, DROP COLUMN group_id, MODIFY recipient_id BIGINT NOT NULL;
DROP TABLE group_invitations;
DROP TABLE group_members;
DROP TABLE chat_groups;
ALTER TABLE timeline DROP KEY ix_timeline_conversation, DROP COLUMN event, DROP COLUMN conversation_id;
