-- The dashboard's people: accounts, sessions, email links, one-time codes
-- and 2FA recovery codes.
CREATE TABLE dashboard_users (
    id                   TEXT PRIMARY KEY,
    merchant_id          TEXT NOT NULL REFERENCES merchants (id),
    email                TEXT NOT NULL UNIQUE,
    password_hash        TEXT NOT NULL,
    email_verified_at    INTEGER,
    -- The TOTP seed, sealed under the master key: pending until confirmed.
    totp_key_id          TEXT,
    totp_sealed          BLOB,
    totp_enabled_at      INTEGER,
    -- The last accepted TOTP time step: a code is accepted once only.
    totp_last_step       INTEGER,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    password_changed_at  INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);

CREATE TABLE dashboard_sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES dashboard_users (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_id);

-- Email verification and password reset links, stored by hash.
CREATE TABLE email_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES dashboard_users (id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

-- Emailed one-time codes (6 digits, 10 minutes, single use), keyed-hashed.
CREATE TABLE one_time_codes (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES dashboard_users (id),
    purpose     TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX one_time_codes_by_user ON one_time_codes (user_id, purpose);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES dashboard_users (id),
    code_hash  TEXT NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);
