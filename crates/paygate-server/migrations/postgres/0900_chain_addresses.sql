-- Stablecoin deposit addresses (docs/stablecoins.md). Every `ethereum` row
-- of wallet_addresses is key `derivation_index` of the signer's one seed, so
-- an index is handed out once across merchants and environments: the
-- counter below allocates it (its row is locked by the UPDATE that takes the
-- next one), and the unique index refuses a second row with the same index.
CREATE TABLE chain_address_counters (
    network     TEXT PRIMARY KEY,
    next_index  BIGINT NOT NULL CHECK (next_index >= 0)
);
INSERT INTO chain_address_counters (network, next_index) VALUES ('ethereum', 0);
CREATE UNIQUE INDEX wallet_addresses_ethereum_index ON wallet_addresses (derivation_index) WHERE network = 'ethereum';

-- What a stablecoin payment is paid with: the token contract and the
-- confirmations it waits for, fixed when the payment is created.
ALTER TABLE payments ADD COLUMN crypto_token_contract TEXT;
ALTER TABLE payments ADD COLUMN crypto_confirmations BIGINT;
