-- Two-layer credentials (API.md 4.2 to 4.5): token signing keys, sessions,
-- the per-merchant security policy, and the revocation epoch.

-- Ed25519 keys that sign access tokens. The private key is sealed under the
-- master key; the newest is current, the one before it still verifies.
CREATE TABLE jwt_signing_keys (
    kid             TEXT PRIMARY KEY,
    -- 1, 2, 3...: the highest is current (time alone can tie).
    generation      INTEGER NOT NULL UNIQUE,
    public_key      BLOB NOT NULL,
    secret_key_id   TEXT NOT NULL,
    secret_sealed   BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    retired_at      INTEGER
);

-- One session per token exchange. The token itself is never stored.
CREATE TABLE auth_sessions (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    env          TEXT NOT NULL CHECK (env IN ('test', 'live')),
    key_id       TEXT NOT NULL REFERENCES api_keys (id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX auth_sessions_by_key ON auth_sessions (key_id);

CREATE TABLE security_policies (
    merchant_id        TEXT NOT NULL REFERENCES merchants (id),
    env                TEXT NOT NULL CHECK (env IN ('test', 'live')),
    require_signature  INTEGER NOT NULL DEFAULT 0,
    require_token      INTEGER NOT NULL DEFAULT 0,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, env)
);

-- Bumped in the same transaction as every change that can make a cached
-- credential stop working (revoke, roll, session end, policy, signing key),
-- by any process. Each request reads it, so caches never outlive a change.
CREATE TABLE auth_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);
