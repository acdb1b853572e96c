-- The addresses (IPv6: the /64) each API key was used from, so the first
-- request of a key from a new address raises a security alert once, across
-- restarts and instances.
CREATE TABLE api_key_addresses (
    key_id          TEXT NOT NULL,
    address         TEXT NOT NULL,
    first_seen_at   INTEGER NOT NULL,
    PRIMARY KEY (key_id, address)
);
