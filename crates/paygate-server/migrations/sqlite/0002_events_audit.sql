-- The outbox: each event is written in the same transaction as the change it
-- reports. `payload` is the event exactly as webhooks and sockets deliver it.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    env            TEXT NOT NULL CHECK (env IN ('test', 'live')),
    type           TEXT NOT NULL,
    payload        TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    -- Set once webhook deliveries have been planned for the event.
    dispatched_at  INTEGER
);
CREATE INDEX events_by_merchant ON events (merchant_id, env, created_at, id);
CREATE INDEX events_undispatched ON events (dispatched_at, seq);

-- The audit log: append-only and hash-chained. Each row's hash covers its
-- content and the previous row's hash; `audit_head` holds the chain's end,
-- and updating it serialises writers on every backend.
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    merchant_id  TEXT,
    env          TEXT,
    action       TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason       TEXT,
    actor        TEXT,
    ip           TEXT,
    details      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_by_merchant ON audit_events (merchant_id, env, seq);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
