-- Private signing keys sealed under a key-encryption key that only the nodes hold
-- (XChaCha20-Poly1305): the database never holds a private key in the clear.
CREATE TABLE sealed_keys (
    thumbprint text COLLATE "C" PRIMARY KEY REFERENCES signing_keys (thumbprint),
    kek_id text COLLATE "C" NOT NULL,
    sealed_at timestamptz NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL
);
