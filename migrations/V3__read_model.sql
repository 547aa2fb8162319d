-- contactd schema, version 3: the /info read model (issue 12).
--
-- Each contact's /info answer, rendered and tagged, written in the same transaction as
-- any change to the contact or its tickets. A request then reads one row: nothing to
-- join, nothing to serialise. The client is kept beside the body so that another
-- client's contact reads as missing without a second lookup.
--
-- A rowid table with a unique index on the contact id, not a table clustered on the id
-- (WITHOUT ROWID): a clustered table keeps whole rows in its inner pages too, so with
-- rows of 1-2 KiB an inner page holds a dozen keys and a million contacts make a tree
-- five levels deep that no page cache holds; every request read five pages. Here the
-- index's inner pages hold hundreds of short keys and the table's thousands of rowids,
-- both small enough to stay cached: a request reads an index leaf and a table leaf.
-- An answer (about 1.2 KiB, at most a few) fits whole in a 4 KiB table leaf.
--
-- contactd renders the rows of the contacts already stored right after this script, in
-- the same transaction: rendering is Rust (store/info_bodies.rs), not SQL.
CREATE TABLE contact_info_bodies (
    rowid      INTEGER PRIMARY KEY,
    contact_id TEXT    NOT NULL UNIQUE REFERENCES contacts (id) ON DELETE CASCADE
                       DEFERRABLE INITIALLY DEFERRED,
    client_id  TEXT    NOT NULL,
    etag       TEXT    NOT NULL,
    body       BLOB    NOT NULL
) STRICT;
