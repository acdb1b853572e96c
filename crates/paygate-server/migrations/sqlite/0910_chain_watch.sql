-- The chain watcher (docs/stablecoins.md): the recent blocks it scanned, its
-- cursor, and every token transfer to a watched address it observed.

-- The recent blocks' hashes and parents per environment and chain: a block
-- whose parent is not the hash remembered below it is a reorganisation.
CREATE TABLE chain_blocks (
    env          TEXT NOT NULL CHECK (env IN ('test', 'live')),
    chain_id     INTEGER NOT NULL,
    number       INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    parent_hash  TEXT NOT NULL,
    PRIMARY KEY (env, chain_id, number)
);

-- Where the next scan starts, and the head the last scan saw.
CREATE TABLE chain_cursors (
    env          TEXT NOT NULL CHECK (env IN ('test', 'live')),
    chain_id     INTEGER NOT NULL,
    next_block   INTEGER NOT NULL,
    head         INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (env, chain_id)
);

-- One row per Transfer log to a watched address, keyed as the chain keys
-- it: the key is what makes a credit happen once, whoever scans.
CREATE TABLE chain_transfers (
    id             TEXT PRIMARY KEY,
    env            TEXT NOT NULL CHECK (env IN ('test', 'live')),
    chain_id       INTEGER NOT NULL,
    tx_hash        TEXT NOT NULL,
    log_index      INTEGER NOT NULL,
    block_number   INTEGER NOT NULL,
    block_hash     TEXT NOT NULL,
    token          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    from_address   TEXT NOT NULL,
    to_address     TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    address_id     TEXT NOT NULL REFERENCES wallet_addresses (id),
    derivation_index INTEGER NOT NULL,
    payment_id     TEXT,
    state          TEXT NOT NULL CHECK (state IN ('seen', 'confirming', 'confirmed', 'reversed', 'dropped')),
    credited_at    INTEGER,
    reversed_at    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX chain_transfers_open ON chain_transfers (env, chain_id, state);
CREATE INDEX chain_transfers_payment ON chain_transfers (payment_id);
