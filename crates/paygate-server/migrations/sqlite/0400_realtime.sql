-- Single-use tokens for the realtime socket, stored by hash so any instance
-- can redeem one minted on another.
CREATE TABLE ws_tokens (
    token_hash        TEXT PRIMARY KEY,
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    env               TEXT NOT NULL CHECK (env IN ('test', 'live')),
    checkout_session  TEXT,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    used_at           INTEGER
);
CREATE INDEX ws_tokens_by_expiry ON ws_tokens (expires_at);
