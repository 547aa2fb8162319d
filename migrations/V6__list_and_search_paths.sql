-- The list's stage_id and pipeline_id filters (SPEC 7.1) find the contacts whose open
-- tickets are in a stage through this index when they are few, instead of walking every
-- contact of the client newest first to test each one's active ticket. An active ticket
-- is never CLOSED (fixtures refuse it), so closed tickets need no entry.
CREATE INDEX tickets_by_stage ON tickets (stage_id)
    WHERE stage_id IS NOT NULL AND status <> 'CLOSED';

-- Search pieces too short for the trigram index (one or two characters) are looked for
-- in the client's entries of these two, each a covering index, instead of in every
-- contact row of the client.
CREATE INDEX contact_search_by_email ON contact_search_source (client_id, email);
