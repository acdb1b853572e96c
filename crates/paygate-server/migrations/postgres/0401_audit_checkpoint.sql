-- PostgreSQL twin of sqlite/0401_audit_checkpoint.sql. Where verification starts once old audit rows are pruned: the sequence
-- number and hash of the last pruned row.
CREATE TABLE audit_checkpoint (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    pruned_at  BIGINT NOT NULL
);
INSERT INTO audit_checkpoint (id, seq, hash, pruned_at) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);
