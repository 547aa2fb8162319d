-- contactd schema, version 8: what the writes that move a conversation need (SPEC 11).
--
-- A client's channels (the numbers and widgets it talks to contacts through) and its
-- team members, both kept in fixture order by `position`; a contact's webchat identity
-- and the team member it is assigned to. Neither contact column is part of /info, so
-- the read model of V3 needs no new rendering.

CREATE TABLE channels (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    client_id    TEXT    NOT NULL REFERENCES clients (id),
    type         TEXT    NOT NULL CHECK (type IN (
        'whatsapp', 'web-whatsapp', 'webchat', 'instagram', 'messenger', 'tiktok',
        'sms', 'voice', 'playground')),
    phone_number TEXT,
    -- The digits of phone_number: 11.1 finds a channel by them.
    phone_digits TEXT,
    phone_id     TEXT,
    name         TEXT,
    position     INTEGER NOT NULL
) STRICT;

-- A client has a handful of channels: every lookup reads the client's few rows.
CREATE INDEX channels_by_client ON channels (client_id, type, position, id);

CREATE TABLE team_members (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    client_id  TEXT    NOT NULL REFERENCES clients (id),
    first_name TEXT,
    last_name  TEXT,
    email      TEXT,
    phone      TEXT,
    position   INTEGER NOT NULL
) STRICT;

CREATE INDEX team_members_by_client ON team_members (client_id, position, id);

ALTER TABLE contacts ADD COLUMN external_user_id TEXT;
ALTER TABLE contacts ADD COLUMN assigned_agent_id TEXT
    CHECK (assigned_agent_id IS NULL OR length(assigned_agent_id) = 36);

-- 11.1 finds a webchat contact by its external id; phones are found through
-- contact_search_by_phone (V2), which holds every contact's digits.
CREATE INDEX contacts_by_external_user ON contacts (client_id, external_user_id)
    WHERE external_user_id IS NOT NULL;
