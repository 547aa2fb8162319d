-- contactd schema, version 2: the family of endpoints around the contact (SPEC 7, 8).
--
-- Indexes are the ones the family's queries use, each checked with EXPLAIN QUERY PLAN
-- (tests in src/store/ fail if a query stops using its index).

-- When the contact (or one of its tickets or messages) last changed. Rows from V1 get
-- the latest time they carry: the closest thing to a change time they have.
ALTER TABLE contacts ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE contacts SET updated_at = max(
    created_at, last_message_at,
    coalesce((SELECT max(t.updated_at) FROM tickets t WHERE t.ai_contact_id = contacts.id), 0));

-- The list's three orders, per client, ties by id ascending. The DESC column lets the
-- newest-first order walk the index forwards with ties still by ascending id. Each
-- starts with client_id, so the V1 index on client_id alone is redundant.
DROP INDEX contacts_by_client;
CREATE INDEX contacts_by_last_message ON contacts (client_id, last_message_at DESC, id);
CREATE INDEX contacts_by_created ON contacts (client_id, created_at, id);
CREATE INDEX contacts_by_updated ON contacts (client_id, updated_at, id);

-- The ticket's current stage (a stage id; not checked against pipelines, SPEC 8).
ALTER TABLE tickets ADD COLUMN stage_id TEXT CHECK (stage_id IS NULL OR length(stage_id) = 36);

-- Pipelines and their stages, kept in fixture order by `position`.
CREATE TABLE pipelines (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    client_id   TEXT    NOT NULL REFERENCES clients (id),
    name        TEXT    NOT NULL,
    description TEXT,
    position    INTEGER NOT NULL
) STRICT;

CREATE INDEX pipelines_by_client ON pipelines (client_id, position, id);

CREATE TABLE stages (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    pipeline_id TEXT    NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    description TEXT,
    position    INTEGER NOT NULL
) STRICT;

CREATE INDEX stages_by_pipeline ON stages (pipeline_id, position, id);

-- A contact's conversation, clustered in the order it is paged: by contact, then time,
-- then id. Message ids are unique on their own too.
CREATE TABLE messages (
    id            TEXT    NOT NULL UNIQUE CHECK (length(id) = 36),
    ai_contact_id TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE
                          DEFERRABLE INITIALLY DEFERRED,
    created_at    INTEGER NOT NULL,
    body          TEXT,
    direction     TEXT    NOT NULL CHECK (direction IN ('INBOUND', 'OUTBOUND')),
    "from"        TEXT,
    "to"          TEXT,
    type          TEXT    NOT NULL CHECK (type IN (
        'text', 'image', 'video', 'audio', 'document', 'sticker', 'location', 'template')),
    status        TEXT    NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    media_url     TEXT,
    PRIMARY KEY (ai_contact_id, created_at, id)
) STRICT, WITHOUT ROWID;

-- Search (SPEC 7.2): substrings of a contact's phone digits and email, found through a
-- trigram index rather than a scan. The source table holds what is indexed, keyed by a
-- rowid the full-text index can refer to; triggers keep the index in step with it.
CREATE TABLE contact_search_source (
    rowid        INTEGER PRIMARY KEY,
    contact_id   TEXT    NOT NULL UNIQUE REFERENCES contacts (id) ON DELETE CASCADE
                         DEFERRABLE INITIALLY DEFERRED,
    client_id    TEXT    NOT NULL,
    phone_digits TEXT,
    email        TEXT
) STRICT;

-- contact_number (SPEC 7.6) compares a phone's digits exactly.
CREATE INDEX contact_search_by_phone ON contact_search_source (client_id, phone_digits);

CREATE VIRTUAL TABLE contact_search USING fts5 (
    phone_digits, email,
    content = 'contact_search_source', content_rowid = 'rowid', tokenize = 'trigram');

CREATE TRIGGER contact_search_inserted AFTER INSERT ON contact_search_source BEGIN
    INSERT INTO contact_search (rowid, phone_digits, email)
    VALUES (new.rowid, new.phone_digits, new.email);
END;

CREATE TRIGGER contact_search_deleted AFTER DELETE ON contact_search_source BEGIN
    INSERT INTO contact_search (contact_search, rowid, phone_digits, email)
    VALUES ('delete', old.rowid, old.phone_digits, old.email);
END;

CREATE TRIGGER contact_search_updated AFTER UPDATE ON contact_search_source BEGIN
    INSERT INTO contact_search (contact_search, rowid, phone_digits, email)
    VALUES ('delete', old.rowid, old.phone_digits, old.email);
    INSERT INTO contact_search (rowid, phone_digits, email)
    VALUES (new.rowid, new.phone_digits, new.email);
END;

-- Contacts from V1: their phones' digits, one character at a time, and their emails
-- lower-cased (SQLite's lower() folds ASCII only; contactd folds the rest on write).
WITH RECURSIVE walk (id, phone, i, digits) AS (
    SELECT id, phone, 1, '' FROM contacts WHERE phone IS NOT NULL
    UNION ALL
    SELECT id, phone, i + 1,
           digits || CASE WHEN substr(phone, i, 1) BETWEEN '0' AND '9'
                          THEN substr(phone, i, 1) ELSE '' END
    FROM walk WHERE i <= length(phone)
)
INSERT INTO contact_search_source (contact_id, client_id, phone_digits, email)
SELECT c.id, c.client_id, w.digits, lower(c.email)
FROM contacts c
LEFT JOIN walk w ON w.id = c.id AND w.i = length(c.phone) + 1;
