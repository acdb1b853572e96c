-- Payouts from the hot wallet (docs/stablecoins.md), one row per payout
-- whatever asked for it (a withdrawal now; a refund may later). The row
-- keeps its nonce and signed transaction before the transaction is sent,
-- so a restart resends that one and never signs another for the payout.
-- States: queued -> signing (nonce held) -> signed (stored, not yet sent)
-- -> sent -> paid | failed. A payout is settled only from receipts.
CREATE TABLE chain_payouts (
    id                       TEXT PRIMARY KEY,
    env                      TEXT NOT NULL CHECK (env IN ('test', 'live')),
    chain_id                 BIGINT NOT NULL,
    source_type              TEXT NOT NULL CHECK (source_type IN ('withdrawal', 'refund')),
    source_id                TEXT NOT NULL,
    merchant_id              TEXT NOT NULL REFERENCES merchants (id),
    currency                 TEXT NOT NULL,
    token                    TEXT NOT NULL,
    destination              TEXT NOT NULL,
    amount                   BIGINT NOT NULL CHECK (amount > 0),
    hot_wallet               TEXT,
    nonce                    BIGINT,
    max_fee_per_gas          BIGINT,
    max_priority_fee_per_gas BIGINT,
    raw_tx                   TEXT,
    tx_hash                  TEXT,
    -- Earlier versions of the transaction (fee bumps with the same nonce),
    -- space-separated: any of them may be the one mined.
    replaced_tx_hashes       TEXT NOT NULL DEFAULT '',
    route                    TEXT CHECK (route IN ('private', 'public_fallback', 'public')),
    fallback_reason          TEXT CHECK (fallback_reason IN ('timeout', 'relay_refused', 'relay_unreachable')),
    -- The head when the current version was last sent on its route.
    sent_block               BIGINT,
    mined_block              BIGINT,
    state                    TEXT NOT NULL CHECK (state IN ('queued', 'signing', 'signed', 'sent', 'paid', 'failed')),
    failure_code             TEXT,
    -- An instance works on a payout while it holds the claim (Unix seconds).
    claimed_until            BIGINT NOT NULL DEFAULT 0,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);
CREATE UNIQUE INDEX chain_payouts_source ON chain_payouts (source_type, source_id);
CREATE UNIQUE INDEX chain_payouts_nonce ON chain_payouts (env, chain_id, hot_wallet, nonce);
CREATE INDEX chain_payouts_open ON chain_payouts (env, chain_id, state, created_at);

-- The hot wallet's nonces, one allocator per (environment, chain, wallet):
-- every transaction from the hot wallet (payouts, gas top-ups) takes its
-- nonce here, in order and without gaps. `holder` is the payout or sweep
-- signing with nonce `next_nonce - 1`; no other nonce is given out until it
-- has stored its transaction or given the nonce back.
CREATE TABLE chain_nonces (
    env        TEXT NOT NULL CHECK (env IN ('test', 'live')),
    chain_id   BIGINT NOT NULL,
    address    TEXT NOT NULL,
    next_nonce BIGINT NOT NULL CHECK (next_nonce >= 0),
    holder     TEXT,
    held_at    BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (env, chain_id, address)
);

-- The withdrawal's `chain` object as the API shows it (tx_hash, route,
-- block, confirmations), kept by the payout runner; NULL until signed.
ALTER TABLE withdrawals ADD COLUMN chain TEXT;
