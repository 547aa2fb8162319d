-- contactd schema, version 3: the /info read model (issue 12).
--
-- Each contact's /info answer, rendered and tagged, written in the same transaction as
-- any change to the contact or its tickets. A request then reads one row: one B-tree
-- probe, no joins, nothing to serialise. Clustered on the contact id (WITHOUT ROWID) so
-- the probe is the only one; an answer of about 1.5-2 KiB fits whole in a leaf of the
-- 16 KiB pages new databases are made with (with 4 KiB pages it spills to an overflow
-- page). The client is kept beside the body so another client's contact reads as
-- missing without a second lookup.
--
-- contactd renders the rows of the contacts already stored right after this script, in
-- the same transaction: rendering is Rust (store/info_bodies.rs), not SQL.
CREATE TABLE contact_info_bodies (
    contact_id TEXT NOT NULL PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE
                    DEFERRABLE INITIALLY DEFERRED,
    client_id  TEXT NOT NULL,
    etag       TEXT NOT NULL,
    body       BLOB NOT NULL
) STRICT, WITHOUT ROWID;
