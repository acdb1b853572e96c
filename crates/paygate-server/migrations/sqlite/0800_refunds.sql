-- Refunds and balance transactions (docs/refunds.md).
--
-- Every ledger entry names the movement it belongs to (type and source
-- object) and its account's running balance right after it: a balance
-- transaction is the entry on the `available` account, read straight from
-- the ledger rather than kept as a second copy.
ALTER TABLE ledger_entries ADD COLUMN source_type TEXT;
ALTER TABLE ledger_entries ADD COLUMN source_id TEXT;
ALTER TABLE ledger_entries ADD COLUMN balance_after INTEGER;
CREATE INDEX ledger_by_movement ON ledger_entries (merchant_id, env, account, id);

-- What has been refunded of a payment; never more than it received.
ALTER TABLE payments ADD COLUMN amount_refunded INTEGER NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0);

CREATE TABLE refunds (
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    env           TEXT NOT NULL CHECK (env IN ('test', 'live')),
    payment_id    TEXT NOT NULL REFERENCES payments (id),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    currency      TEXT NOT NULL,
    reason        TEXT,
    destination   TEXT,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_code  TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    confirmed_at  INTEGER
);
CREATE INDEX refunds_by_created ON refunds (merchant_id, env, created_at, id);
CREATE INDEX refunds_by_updated ON refunds (merchant_id, env, updated_at, id);
CREATE INDEX refunds_by_amount ON refunds (merchant_id, env, amount, id);
CREATE INDEX refunds_by_status ON refunds (merchant_id, env, status, id);
CREATE INDEX refunds_by_payment ON refunds (payment_id, created_at, id);
