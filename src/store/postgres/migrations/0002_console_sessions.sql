-- Console sign-in sessions, shared by every node. A session is keyed by the SHA-256 of the
-- secret its cookie carries, never the secret: a copy of the database opens no session.
CREATE TABLE console_sessions (
    id text COLLATE "C" PRIMARY KEY,
    token_hash text COLLATE "C" NOT NULL,
    expires_at timestamptz NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX console_sessions_by_token ON console_sessions (token_hash);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
