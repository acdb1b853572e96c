-- PostgreSQL twin of sqlite/0001_foundation.sql: the same tables, columns
-- and meaning. Integers are BIGINT so both backends decode them as i64.

CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    country     TEXT NOT NULL,
    email       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    env             TEXT NOT NULL CHECK (env IN ('test', 'live')),
    name            TEXT NOT NULL,
    key_hash        TEXT NOT NULL UNIQUE,
    prefix          TEXT NOT NULL,
    secret_key_id   TEXT NOT NULL,
    secret_sealed   BYTEA NOT NULL,
    scopes          TEXT NOT NULL,
    allowed_ips     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    revoked_at      BIGINT,
    last_used_at    BIGINT,
    last_used_ip    TEXT
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, env, created_at);

CREATE TABLE ledger_entries (
    id              BIGSERIAL PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    env             TEXT NOT NULL CHECK (env IN ('test', 'live')),
    transaction_id  TEXT NOT NULL,
    account         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX ledger_by_account ON ledger_entries (merchant_id, env, account, currency);
CREATE INDEX ledger_by_transaction ON ledger_entries (transaction_id);
