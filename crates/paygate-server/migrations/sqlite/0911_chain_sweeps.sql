-- Sweeps of confirmed deposits to the hot wallet (docs/stablecoins.md).
-- A sweep keeps its signed transactions before they are sent, so a restart
-- resends the same ones and never signs a second transfer of the same funds.
CREATE TABLE chain_sweeps (
    id               TEXT PRIMARY KEY,
    env              TEXT NOT NULL CHECK (env IN ('test', 'live')),
    chain_id         INTEGER NOT NULL,
    address_id       TEXT NOT NULL REFERENCES wallet_addresses (id),
    derivation_index INTEGER NOT NULL,
    address          TEXT NOT NULL,
    token            TEXT NOT NULL,
    currency         TEXT NOT NULL,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'topping_up', 'sweeping', 'done', 'failed')),
    topup_tx         TEXT,
    topup_raw        TEXT,
    sweep_tx         TEXT,
    sweep_raw        TEXT,
    failure          TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- One open sweep per address, whichever instance makes it: an address's
-- transactions take its nonces one after another.
CREATE UNIQUE INDEX chain_sweeps_one_open ON chain_sweeps (env, chain_id, address_id)
    WHERE state IN ('pending', 'topping_up', 'sweeping');

-- The sweep that moved a confirmed transfer's tokens on.
ALTER TABLE chain_transfers ADD COLUMN sweep_id TEXT;
