-- +goose Up
-- Stored values that the re-encryption job found do not open (corrupt,
-- truncated, or sealed for another row or under a key that is gone). The job
-- skips them and goes on; each is recorded here by table, column and row with
-- the ciphertext found, so that it is reported once and counted for as long as
-- that same ciphertext is stored (a value rewritten or deleted stops counting).
CREATE TABLE undecryptable_values (
    table_name  TEXT NOT NULL,
    column_name TEXT NOT NULL,
    row_id      TEXT NOT NULL,
    ciphertext  BLOB NOT NULL,
    found_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, column_name, row_id)
);

-- +goose Down
DROP TABLE undecryptable_values;
