-- Upload intents: a row written before the first byte of an upload goes to
-- storage and removed in the transaction that records its package file (or once
-- a failed upload has cleaned up after itself). An intent that outlives its
-- upload marks storage to collect: the garbage collector (`gateway gc`) removes
-- the object, temporary files and multipart uploads of its key, then the row.
CREATE TABLE upload_intents (
    object_key  text PRIMARY KEY,
    store       text NOT NULL CHECK (store IN ('fs', 's3')),
    -- The owning process, for operators reading the table: host, pid and a
    -- random id per process (pids are reused).
    owner_host  text NOT NULL,
    owner_pid   integer NOT NULL,
    owner_id    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_intents_by_age ON upload_intents (created_at);
