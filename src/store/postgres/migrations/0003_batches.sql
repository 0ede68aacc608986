-- Batches issued by the server, shared by every node: the batch (who started it, its counts,
-- the node holding its lease), its lines, and one result per line.
CREATE TABLE batches (
    id text COLLATE "C" PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished boolean NOT NULL,
    body jsonb NOT NULL,
    lines jsonb NOT NULL
);
CREATE INDEX batches_latest ON batches (started_at DESC, id);

CREATE TABLE batch_results (
    batch_id text COLLATE "C" NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    line bigint NOT NULL,
    body jsonb NOT NULL,
    PRIMARY KEY (batch_id, line)
);
