-- Where verification starts once old audit rows are pruned: the sequence
-- number and hash of the last pruned row.
CREATE TABLE audit_checkpoint (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    pruned_at  INTEGER NOT NULL
);
INSERT INTO audit_checkpoint (id, seq, hash, pruned_at) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);
