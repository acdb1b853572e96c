-- PostgreSQL twin of sqlite/0730_operations.sql. Operations (API.md section
-- 14): why a merchant is suspended, and when a key was last told it is due
-- for rotation (at most one alert a week).
ALTER TABLE merchants ADD COLUMN suspension_reason TEXT;
ALTER TABLE merchants ADD COLUMN suspended_at BIGINT;
ALTER TABLE api_keys ADD COLUMN rotation_alerted_at BIGINT;
