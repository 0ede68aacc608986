-- The records of onetrip. Each record is kept whole as JSON (`body`, the domain type as
-- serde writes it); the columns beside it are what lookups, indexes and constraints need.
-- Text keys sort bytewise (COLLATE "C"), as they do in the embedded store.

CREATE TABLE submissions (
    id text COLLATE "C" PRIMARY KEY,
    holder_id text COLLATE "C" NOT NULL,
    -- The number of events in its history: the version a change is checked against.
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    -- Accepted with a promise (a due date) and not finished: the due listing's rows.
    promised boolean NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX submissions_by_holder ON submissions (holder_id, created_at DESC);
CREATE INDEX submissions_promised ON submissions (id) WHERE promised;

CREATE TABLE events (
    submission_id text COLLATE "C" NOT NULL REFERENCES submissions (id),
    seq bigint NOT NULL,
    body jsonb NOT NULL,
    PRIMARY KEY (submission_id, seq)
);

CREATE TABLE certificates (
    id text COLLATE "C" PRIMARY KEY,
    submission_id text COLLATE "C" NOT NULL REFERENCES submissions (id),
    code text COLLATE "C" UNIQUE,
    pdf_sha256 text COLLATE "C" NOT NULL UNIQUE,
    -- The status when it is not plainly valid (the signed status list's rows), else NULL.
    listed_status jsonb,
    body jsonb NOT NULL,
    pdf bytea NOT NULL,
    photo bytea
);
CREATE INDEX certificates_listed ON certificates (id) WHERE listed_status IS NOT NULL;

-- The current certificate of each holder's line of one kind (一企一证).
CREATE TABLE holder_lines (
    kind text COLLATE "C" NOT NULL,
    holder_id text COLLATE "C" NOT NULL,
    certificate_id text COLLATE "C" NOT NULL REFERENCES certificates (id),
    PRIMARY KEY (kind, holder_id)
);

-- Former (paper) licence numbers migrated, and the certificate that carries each now.
CREATE TABLE former_numbers (
    number text COLLATE "C" PRIMARY KEY,
    certificate_id text COLLATE "C" NOT NULL REFERENCES certificates (id)
);

-- The last sequence number handed out in each year.
CREATE TABLE sequences (
    year integer PRIMARY KEY,
    last bigint NOT NULL
);

CREATE TABLE tokens (
    hash text COLLATE "C" PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    body jsonb NOT NULL
);

-- Keyed by the public key's thumbprint; the private halves live apart, in the keys directory.
CREATE TABLE signing_keys (
    thumbprint text COLLATE "C" PRIMARY KEY,
    created_at timestamptz NOT NULL,
    body jsonb NOT NULL
);

-- Every version of every catalogue item.
CREATE TABLE service_items (
    code text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    body jsonb NOT NULL,
    PRIMARY KEY (code, version)
);

CREATE TABLE calendars (
    year integer PRIMARY KEY,
    body jsonb NOT NULL
);
