-- The API key a ws token was minted with (none for a payor's token), so
-- revoking the key spends its unused tokens and its sockets can be found.
ALTER TABLE ws_tokens ADD COLUMN key_id TEXT;
CREATE INDEX ws_tokens_unused_by_key ON ws_tokens (key_id) WHERE used_at IS NULL;
