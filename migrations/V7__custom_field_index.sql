-- The list's custom_field_key/custom_field_value filter (SPEC 7.1) finds the contacts
-- with that value under that key through this index when they are few, instead of
-- walking every contact of the client to read its metadata.
--
-- One row per top-level key of a contact's metadata ('customer') and of its active
-- ticket's ('ticket'): the value as the filter compares it (a string as itself, any
-- other value by its compact JSON text), cut to its first 100 characters so that a
-- long value costs no more than a short one. An entry says only "may match": the list
-- still tests each contact it finds here against its metadata, so a cut value, or an
-- entry left behind by a hand-made change, can never make a wrong answer.
--
-- Triggers keep it in step with the rows it is made from, for every path that writes
-- them (the API's writes, fixture loads, and writes yet to come). An entry is removed by
-- recomputing it from the row's old metadata, so the index needs no second key.
CREATE TABLE contact_field_values (
    client_id  TEXT NOT NULL,
    entity     TEXT NOT NULL CHECK (entity IN ('customer', 'ticket')),
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (client_id, entity, key, value, contact_id)
) STRICT, WITHOUT ROWID;

-- What the index should hold, from the rows themselves: what the triggers below add
-- for a contact (the rows as they are after the change), the entries for the contacts
-- already stored, and what `contactd check` compares the index with. (Its two halves
-- never share a row: their `entity` differs.)
CREATE VIEW contact_field_values_expected AS
SELECT c.client_id, 'customer' AS entity, j.key,
       substr(CASE WHEN j.type = 'text' THEN j.value ELSE c.metadata -> j.fullkey END,
              1, 100) AS value,
       c.id AS contact_id
FROM contacts c, json_each(c.metadata) j
UNION ALL
SELECT c.client_id, 'ticket', j.key,
       substr(CASE WHEN j.type = 'text' THEN j.value ELSE t.metadata -> j.fullkey END,
              1, 100),
       c.id
FROM contacts c
JOIN tickets t ON t.ai_contact_id = c.id AND t.id = c.active_ticket_v2_id,
     json_each(t.metadata) j;

-- A contact's own metadata.
CREATE TRIGGER contact_fields_inserted AFTER INSERT ON contacts BEGIN
    INSERT OR IGNORE INTO contact_field_values (client_id, entity, key, value, contact_id)
    SELECT * FROM contact_field_values_expected WHERE contact_id = NEW.id;
END;

CREATE TRIGGER contact_fields_updated AFTER UPDATE OF metadata ON contacts
WHEN OLD.metadata IS NOT NEW.metadata BEGIN
    -- Only the entries that change: a write of one key leaves the others' pages alone.
    DELETE FROM contact_field_values
    -- (A compound SELECT straight inside IN is a scan of the whole table; inside a
    -- derived table it is looked up by key.)
    WHERE (client_id, entity, key, value, contact_id) IN (SELECT * FROM (
        SELECT OLD.client_id, 'customer', j.key,
               substr(CASE WHEN j.type = 'text' THEN j.value
                           ELSE OLD.metadata -> j.fullkey END, 1, 100),
               OLD.id
        FROM json_each(OLD.metadata) j
        EXCEPT
        SELECT NEW.client_id, 'customer', j.key,
               substr(CASE WHEN j.type = 'text' THEN j.value
                           ELSE NEW.metadata -> j.fullkey END, 1, 100),
               NEW.id
        FROM json_each(NEW.metadata) j));
    INSERT OR IGNORE INTO contact_field_values (client_id, entity, key, value, contact_id)
    SELECT NEW.client_id, 'customer', j.key,
           substr(CASE WHEN j.type = 'text' THEN j.value ELSE NEW.metadata -> j.fullkey END,
                  1, 100),
           NEW.id
    FROM json_each(NEW.metadata) j
    EXCEPT
    SELECT OLD.client_id, 'customer', j.key,
           substr(CASE WHEN j.type = 'text' THEN j.value ELSE OLD.metadata -> j.fullkey END,
                  1, 100),
           OLD.id
    FROM json_each(OLD.metadata) j;
END;

-- The active ticket's metadata: when the contact's active ticket changes ...
CREATE TRIGGER contact_fields_active_ticket AFTER UPDATE OF active_ticket_v2_id ON contacts
WHEN OLD.active_ticket_v2_id IS NOT NEW.active_ticket_v2_id BEGIN
    DELETE FROM contact_field_values
    WHERE (client_id, entity, key, value, contact_id) IN (
        SELECT OLD.client_id, 'ticket', j.key,
               substr(CASE WHEN j.type = 'text' THEN j.value
                           ELSE t.metadata -> j.fullkey END, 1, 100),
               OLD.id
        FROM tickets t, json_each(t.metadata) j
        WHERE t.ai_contact_id = OLD.id AND t.id = OLD.active_ticket_v2_id);
    INSERT OR IGNORE INTO contact_field_values (client_id, entity, key, value, contact_id)
    SELECT * FROM contact_field_values_expected
    WHERE contact_id = NEW.id AND entity = 'ticket';
END;

-- ... and when a ticket that is (or becomes, by moving) a contact's active one is
-- written. A contact written before its tickets (fixture loads) gets their entries here.
CREATE TRIGGER ticket_fields_inserted AFTER INSERT ON tickets BEGIN
    INSERT OR IGNORE INTO contact_field_values (client_id, entity, key, value, contact_id)
    SELECT * FROM contact_field_values_expected
    WHERE contact_id = NEW.ai_contact_id AND entity = 'ticket';
END;

CREATE TRIGGER ticket_fields_updated AFTER UPDATE OF metadata, ai_contact_id ON tickets
WHEN OLD.metadata IS NOT NEW.metadata OR OLD.ai_contact_id IS NOT NEW.ai_contact_id BEGIN
    DELETE FROM contact_field_values
    WHERE (client_id, entity, key, value, contact_id) IN (SELECT * FROM (
        SELECT c.client_id, 'ticket', j.key,
               substr(CASE WHEN j.type = 'text' THEN j.value
                           ELSE OLD.metadata -> j.fullkey END, 1, 100),
               c.id
        FROM contacts c, json_each(OLD.metadata) j
        WHERE c.id = OLD.ai_contact_id AND c.active_ticket_v2_id = OLD.id
        EXCEPT
        SELECT c.client_id, 'ticket', j.key,
               substr(CASE WHEN j.type = 'text' THEN j.value
                           ELSE NEW.metadata -> j.fullkey END, 1, 100),
               c.id
        FROM contacts c, json_each(NEW.metadata) j
        WHERE c.id = NEW.ai_contact_id AND c.active_ticket_v2_id = NEW.id));
    INSERT OR IGNORE INTO contact_field_values (client_id, entity, key, value, contact_id)
    SELECT c.client_id, 'ticket', j.key,
           substr(CASE WHEN j.type = 'text' THEN j.value ELSE NEW.metadata -> j.fullkey END,
                  1, 100),
           c.id
    FROM contacts c, json_each(NEW.metadata) j
    WHERE c.id = NEW.ai_contact_id AND c.active_ticket_v2_id = NEW.id
    EXCEPT
    SELECT c.client_id, 'ticket', j.key,
           substr(CASE WHEN j.type = 'text' THEN j.value ELSE OLD.metadata -> j.fullkey END,
                  1, 100),
           c.id
    FROM contacts c, json_each(OLD.metadata) j
    WHERE c.id = OLD.ai_contact_id AND c.active_ticket_v2_id = OLD.id;
END;

-- Removed rows take their entries with them.
CREATE TRIGGER contact_fields_deleted AFTER DELETE ON contacts BEGIN
    DELETE FROM contact_field_values
    WHERE (client_id, entity, key, value, contact_id) IN (SELECT * FROM (
        SELECT OLD.client_id, 'customer', j.key,
               substr(CASE WHEN j.type = 'text' THEN j.value
                           ELSE OLD.metadata -> j.fullkey END, 1, 100),
               OLD.id
        FROM json_each(OLD.metadata) j
        UNION ALL
        SELECT OLD.client_id, 'ticket', j.key,
               substr(CASE WHEN j.type = 'text' THEN j.value
                           ELSE t.metadata -> j.fullkey END, 1, 100),
               OLD.id
        FROM tickets t, json_each(t.metadata) j
        WHERE t.ai_contact_id = OLD.id AND t.id = OLD.active_ticket_v2_id));
END;

CREATE TRIGGER ticket_fields_deleted AFTER DELETE ON tickets BEGIN
    DELETE FROM contact_field_values
    WHERE (client_id, entity, key, value, contact_id) IN (
        SELECT c.client_id, 'ticket', j.key,
               substr(CASE WHEN j.type = 'text' THEN j.value
                           ELSE OLD.metadata -> j.fullkey END, 1, 100),
               c.id
        FROM contacts c, json_each(OLD.metadata) j
        WHERE c.id = OLD.ai_contact_id AND c.active_ticket_v2_id = OLD.id);
END;

-- The contacts already stored, in the index's order.
INSERT OR IGNORE INTO contact_field_values (client_id, entity, key, value, contact_id)
SELECT client_id, entity, key, value, contact_id FROM contact_field_values_expected
ORDER BY client_id, entity, key, value, contact_id;
