-- PostgreSQL twin of sqlite/0600_checkout.sql.
-- Checkout sessions: a payment's browser-safe wrapper. The session token is
-- stored by hash; the session secret (the key of payor signatures) sealed.
CREATE TABLE checkout_sessions (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    env             TEXT NOT NULL CHECK (env IN ('test', 'live')),
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    methods         TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    secret_key_id   TEXT NOT NULL,
    secret_sealed   BYTEA NOT NULL,
    payment_id      TEXT,
    status          TEXT NOT NULL CHECK (status IN ('open', 'complete', 'expired')),
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX checkout_sessions_by_merchant ON checkout_sessions (merchant_id, env, created_at);
