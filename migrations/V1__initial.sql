-- contactd schema, version 1.
--
-- Ids are canonical lowercase UUID text, timestamps are milliseconds since the Unix
-- epoch (UTC), JSON columns are minified JSON text. STRICT tables refuse values of
-- the wrong type instead of silently storing them. Contacts and tickets are clustered
-- on their id (WITHOUT ROWID): the endpoint's lookups by id then walk one B-tree per
-- table instead of an index and then the table.

CREATE TABLE clients (
    id   TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    name TEXT NOT NULL
) STRICT;

-- Only the SHA-256 digest of a key is kept; its plain text is shown once, when made.
CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    key_hash   BLOB    NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE INDEX api_keys_by_client ON api_keys (client_id);

CREATE TABLE contacts (
    id                       TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    client_id                TEXT    NOT NULL REFERENCES clients (id),
    ai_customer_id           TEXT    NOT NULL CHECK (length(ai_customer_id) = 36),
    name                     TEXT    NOT NULL,
    email                    TEXT,
    phone                    TEXT,
    platform                 TEXT    NOT NULL CHECK (platform IN (
        'whatsapp', 'web-whatsapp', 'instagram', 'webchat', 'tiktok',
        'sms', 'messenger', 'voice', 'playground')),
    created_at               INTEGER NOT NULL,
    last_message_at          INTEGER NOT NULL,
    last_message_content     TEXT,
    chat_status              TEXT    NOT NULL CHECK (chat_status IN (
        'UNATTENDED', 'ATTENDED', 'CLOSED', 'PENDING')),
    is_chat_read             INTEGER NOT NULL CHECK (is_chat_read IN (0, 1)),
    blocked                  INTEGER NOT NULL CHECK (blocked IN (0, 1)),
    default_stage_id         TEXT,
    active_ticket_v2_id      TEXT,
    last_closed_ticket_v2_id TEXT,
    current_integration_data TEXT CHECK (current_integration_data IS NULL OR (
        json_valid(current_integration_data)
        AND json_type(current_integration_data) = 'object')),
    metadata                 TEXT    NOT NULL DEFAULT '{}' CHECK (
        json_valid(metadata) AND json_type(metadata) = 'object'),
    -- The active and last closed tickets must be tickets of this same contact. The
    -- check is deferred because a contact and its tickets point at each other.
    FOREIGN KEY (id, active_ticket_v2_id) REFERENCES tickets (ai_contact_id, id)
        DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (id, last_closed_ticket_v2_id) REFERENCES tickets (ai_contact_id, id)
        DEFERRABLE INITIALLY DEFERRED
) STRICT, WITHOUT ROWID;

CREATE INDEX contacts_by_client ON contacts (client_id);

-- Clustered by contact: a contact's tickets sit side by side, so its active and last
-- closed ticket are read from the same pages. Ticket ids are unique on their own too.
CREATE TABLE tickets (
    id             TEXT    NOT NULL UNIQUE CHECK (length(id) = 36),
    ai_contact_id  TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE
                           DEFERRABLE INITIALLY DEFERRED,
    status         TEXT    NOT NULL CHECK (status <> '' AND status NOT GLOB '*[^A-Z_]*'),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    ticket_summary TEXT,
    metadata       TEXT    NOT NULL DEFAULT '{}' CHECK (
        json_valid(metadata) AND json_type(metadata) = 'object'),
    PRIMARY KEY (ai_contact_id, id)
) STRICT, WITHOUT ROWID;
