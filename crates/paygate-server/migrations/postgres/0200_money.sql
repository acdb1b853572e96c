-- PostgreSQL twin of sqlite/0200_money.sql.
-- Money: running ledger balances, payments, wallets, deposits, withdrawals
-- and idempotency records. Times are Unix seconds; booleans are 0/1.

-- Running sums of ledger_entries per account, updated in the same
-- transaction as the entries. `paygate ledger verify` checks they match.
-- A merchant's own accounts can never go below zero, whatever the code does.
CREATE TABLE ledger_balances (
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    env          TEXT NOT NULL CHECK (env IN ('test', 'live')),
    account      TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, env, account, currency),
    CHECK (amount >= 0 OR account LIKE 'external:%')
);

CREATE TABLE payments (
    id               TEXT PRIMARY KEY,
    merchant_id      TEXT NOT NULL REFERENCES merchants (id),
    env              TEXT NOT NULL CHECK (env IN ('test', 'live')),
    amount           BIGINT NOT NULL CHECK (amount > 0),
    currency         TEXT NOT NULL,
    method           TEXT NOT NULL CHECK (method IN ('card', 'crypto')),
    status           TEXT NOT NULL CHECK (status IN ('requires_payment', 'processing', 'succeeded', 'failed', 'canceled', 'expired')),
    description      TEXT,
    metadata         TEXT NOT NULL,
    card_brand       TEXT,
    card_last4       TEXT,
    crypto_network   TEXT,
    crypto_address   TEXT,
    amount_received  BIGINT NOT NULL DEFAULT 0,
    failure_code     TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    confirmed_at     BIGINT,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX payments_by_created ON payments (merchant_id, env, created_at, id);
CREATE INDEX payments_by_updated ON payments (merchant_id, env, updated_at, id);
CREATE INDEX payments_by_amount ON payments (merchant_id, env, amount, id);
CREATE INDEX payments_by_status ON payments (merchant_id, env, status, id);
CREATE INDEX payments_due ON payments (status, expires_at);

-- The extended public key per merchant, environment and network. Never a
-- private key: a sandbox key is made from a seed that is then forgotten.
CREATE TABLE wallets (
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    env          TEXT NOT NULL CHECK (env IN ('test', 'live')),
    network      TEXT NOT NULL,
    xpub         TEXT NOT NULL,
    sandbox      BIGINT NOT NULL DEFAULT 0,
    next_index   BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, env, network)
);

-- Every address handed out; an address belongs to one merchant per env.
CREATE TABLE wallet_addresses (
    id                TEXT PRIMARY KEY,
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    env               TEXT NOT NULL CHECK (env IN ('test', 'live')),
    network           TEXT NOT NULL,
    address           TEXT NOT NULL,
    derivation_index  BIGINT NOT NULL,
    payment_id        TEXT,
    created_at        BIGINT NOT NULL,
    UNIQUE (env, address)
);

CREATE TABLE withdrawals (
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    env           TEXT NOT NULL CHECK (env IN ('test', 'live')),
    amount        BIGINT NOT NULL CHECK (amount > 0),
    currency      TEXT NOT NULL,
    destination   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending_approval', 'processing', 'paid', 'failed', 'rejected')),
    failure_code  TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    confirmed_at  BIGINT
);
CREATE INDEX withdrawals_by_created ON withdrawals (merchant_id, env, created_at, id);
CREATE INDEX withdrawals_by_updated ON withdrawals (merchant_id, env, updated_at, id);
CREATE INDEX withdrawals_by_amount ON withdrawals (merchant_id, env, amount, id);
CREATE INDEX withdrawals_by_status ON withdrawals (merchant_id, env, status, id);

-- Idempotency records (API.md section 6), committed with the effect. The
-- stored response is sealed under the master key: it may hold a secret.
CREATE TABLE idempotency_keys (
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    env            TEXT NOT NULL CHECK (env IN ('test', 'live')),
    idem_key       TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    status         BIGINT NOT NULL,
    body_key_id    TEXT NOT NULL,
    body_sealed    BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, env, idem_key)
);
CREATE INDEX idempotency_by_expiry ON idempotency_keys (expires_at);
