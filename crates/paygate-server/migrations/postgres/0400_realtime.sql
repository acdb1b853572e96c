-- PostgreSQL twin of sqlite/0400_realtime.sql. Single-use tokens for the realtime socket, stored by hash so any instance
-- can redeem one minted on another.
CREATE TABLE ws_tokens (
    token_hash        TEXT PRIMARY KEY,
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    env               TEXT NOT NULL CHECK (env IN ('test', 'live')),
    checkout_session  TEXT,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used_at           BIGINT
);
CREATE INDEX ws_tokens_by_expiry ON ws_tokens (expires_at);
