-- PostgreSQL twin of sqlite/0300_webhooks.sql.

CREATE TABLE webhook_endpoints (
    id                     TEXT PRIMARY KEY,
    merchant_id            TEXT NOT NULL REFERENCES merchants (id),
    env                    TEXT NOT NULL CHECK (env IN ('test', 'live')),
    url                    TEXT NOT NULL,
    description            TEXT,
    -- JSON array of event types, or ["*"].
    events                 TEXT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    disabled_reason        TEXT,
    -- The signing secret, sealed under the master key, and its last four
    -- characters for the mask.
    secret_key_id          TEXT NOT NULL,
    secret_sealed          BYTEA NOT NULL,
    secret_hint            TEXT NOT NULL,
    -- After a rotation the previous secret signs beside the new one until
    -- previous_expires_at.
    previous_key_id        TEXT,
    previous_sealed        BYTEA,
    previous_expires_at    BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id, env, created_at, id);

-- One event to one endpoint. A worker claims a due row by setting
-- lease_token/lease_until (on PostgreSQL the claim's subquery can add
-- FOR UPDATE SKIP LOCKED); an expired lease is claimable again, so a
-- crashed worker's deliveries are retried.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES events (id),
    merchant_id      TEXT NOT NULL,
    env              TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT,
    lease_token      TEXT,
    lease_until      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at, id);
CREATE INDEX webhook_deliveries_lease ON webhook_deliveries (lease_token);

CREATE TABLE webhook_attempts (
    delivery_id      TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt          BIGINT NOT NULL,
    attempted_at     BIGINT NOT NULL,
    response_status  BIGINT,
    duration_ms      BIGINT NOT NULL,
    -- The first 1 KiB of the answer.
    response_body    TEXT NOT NULL,
    error            TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
