-- contactd schema, version 5: webhooks (SPEC 10).
--
-- Subscriptions, and an outbox: each event and its deliveries are rows written in the
-- same transaction as the change that made them, so an acknowledged write always has
-- its deliveries and a failed one has none. The server's sender reads pending
-- deliveries from here and writes back every attempt; nothing about a delivery lives
-- only in memory, so a restart or `kill -9` loses none.

CREATE TABLE webhooks (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
    client_id   TEXT    NOT NULL REFERENCES clients (id),
    topic       TEXT    NOT NULL CHECK (topic IN (
        'message.received', 'message.sent', 'ticket.created', 'ticket.updated',
        'ticket.closed', 'contact.created', 'contact.updated', 'stage.changed')),
    url         TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    active      INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    -- The sender that may have a request in flight for this subscription, and until
    -- when: a claim in the file, so that two servers on it never send the same attempt
    -- and one subscription never has two requests in flight.
    lease_owner TEXT,
    lease_until INTEGER
) STRICT;

CREATE INDEX webhooks_by_client ON webhooks (client_id, created_at, id);
-- Who gets a new event's deliveries: the live, active subscriptions to its topic.
CREATE INDEX webhooks_live_by_topic ON webhooks (client_id, topic)
    WHERE deleted_at IS NULL AND active = 1;

-- One event, the body exactly as it is sent (and signed) to every subscription.
CREATE TABLE webhook_events (
    rowid      INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE CHECK (length(id) = 36),
    client_id  TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    body       TEXT    NOT NULL
) STRICT;

-- One event for one subscription. Its rowid is the order events were made in.
CREATE TABLE webhook_deliveries (
    rowid            INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE CHECK (length(id) = 36),
    webhook_id       TEXT    NOT NULL REFERENCES webhooks (id),
    event_rowid      INTEGER NOT NULL REFERENCES webhook_events (rowid),
    client_id        TEXT    NOT NULL,
    topic            TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN (
        'pending', 'delivered', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    -- Set only while pending: when the next attempt is due.
    next_attempt_at  INTEGER CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    response_status  INTEGER,
    response_time_ms INTEGER,
    error            TEXT,
    -- When it stopped being pending (delivered, failed or cancelled): retention's clock.
    finished_at      INTEGER CHECK ((status = 'pending') = (finished_at IS NULL))
) STRICT;

-- The sender's question, per subscription: its pending delivery due first (first
-- attempts in event order, since a first attempt is due when its event is made).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_attempt_at, rowid)
    WHERE status = 'pending';
-- The delivery log (SPEC 10.4), newest first, ties by id.
CREATE INDEX webhook_deliveries_by_client
    ON webhook_deliveries (client_id, created_at DESC, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_rowid);
-- Retention: finished deliveries by age.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE status <> 'pending';
