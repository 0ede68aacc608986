//! The PostgreSQL implementation of the store: the only code that names PostgreSQL or sqlx.
//! Each record is one row holding the domain value as JSON beside the columns its lookups and
//! constraints need (`migrations/`, embedded and applied at start). A write is one
//! transaction: rows it checks are locked (`FOR UPDATE`) and compared with what the plan was
//! decided on, unique values are the tables' own constraints, and a deadlock or a
//! serialization failure runs the transaction again a bounded number of times.

mod copy;
mod records;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Conflict, StoreError, Unique};

/// How many times a transaction runs when PostgreSQL breaks it off to resolve a deadlock or
/// a serialization failure (each retry follows another transaction's commit).
const TRANSACTION_ATTEMPTS: u32 = 5;

/// The pool's limits: a request waits at most `ACQUIRE_TIMEOUT` for a connection, and no
/// statement runs longer than `STATEMENT_TIMEOUT` (a stuck query cannot hold a connection).
const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_TIMEOUT: &str = "10s";

/// The records in a PostgreSQL database, through a pool of connections.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub const ENGINE: &'static str = "postgres";

    /// Connects to the database at `url` (`postgres://…`; `sslmode=require` or stricter for
    /// TLS, with the system's roots) and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without touching the schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("the store's address: {e}")))?
            .application_name("onetrip")
            .options([("statement_timeout", STATEMENT_TIMEOUT)]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(engine)?;
        Ok(Self { pool })
    }

    /// Applies the migrations this binary carries that the database has not seen, each once
    /// (a lock keeps two starting nodes from applying one twice).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("src/store/postgres/migrations")
            .run(&self.pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => engine(e),
                other => StoreError::Engine(Box::new(other)),
            })
    }
}

/// What a failed statement means to the port: the database out of reach is `Unavailable`
/// (503, and `/healthz` says so), a unique value taken is a `Conflict` naming it, a race
/// lost on a row the plan read is `Changed`.
fn engine(e: sqlx::Error) -> StoreError {
    use sqlx::Error;
    match &e {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed => {
            StoreError::Unavailable(format!("the database cannot be reached: {e}"))
        }
        Error::ColumnDecode { source, .. } => StoreError::Corrupt {
            key: "a stored row".into(),
            reason: source.to_string(),
        },
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match (code.as_ref(), db.constraint()) {
                ("23505", Some(constraint)) => unique_violation(constraint),
                // Connection lost, the server shutting down or starting, out of resources
                // (disk, memory, connections), a statement over its time.
                (c, _) if c.starts_with("08") || c.starts_with("57") || c.starts_with("53") => {
                    StoreError::Unavailable(format!("the database cannot serve: {e}"))
                }
                // A value the database cannot hold (a NUL in text or JSON, say): this value
                // will never be stored, whatever is tried again.
                (c, _) if c.starts_with("22") => StoreError::Encode(e.to_string()),
                _ => StoreError::Engine(Box::new(e)),
            }
        }
        _ => StoreError::Engine(Box::new(e)),
    }
}

/// A unique constraint that refused a row: values the port names are `Taken`; the rest are
/// rows the plan was decided on without them (a line or a sequence number claimed meanwhile), which
/// a second decision will see.
fn unique_violation(constraint: &str) -> StoreError {
    let taken = |constraint| {
        StoreError::Conflict(Conflict::Taken {
            constraint,
            value: String::new(),
            holder: None,
        })
    };
    match constraint {
        "submissions_pkey" => taken(Unique::SubmissionId),
        "certificates_pkey" => taken(Unique::CertificateId),
        "certificates_code_key" => taken(Unique::VerificationCode),
        "certificates_pdf_sha256_key" => taken(Unique::PdfDigest),
        "former_numbers_pkey" => taken(Unique::FormerNumber),
        "batches_pkey" => taken(Unique::BatchId),
        other => StoreError::Conflict(Conflict::Changed(format!("the rows under {other}"))),
    }
}

/// Whether PostgreSQL broke a transaction off to let another go first (serialization
/// failure, deadlock): running it again is safe.
fn broken_off(e: &StoreError) -> bool {
    let StoreError::Engine(e) = e else {
        return false;
    };
    e.downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|db| db.code())
        .is_some_and(|code| code == "40001" || code == "40P01")
}

/// Runs `$body` (which uses `$tx`, a transaction) and commits, running both again while
/// PostgreSQL breaks the transaction off; any other error rolls it back and is returned.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 1;
        loop {
            let result = async {
                let mut $tx = $store.pool.begin().await.map_err(engine)?;
                let value = $body;
                $tx.commit().await.map_err(engine)?;
                Ok(value)
            }
            .await;
            match result {
                Err(e) if attempt < TRANSACTION_ATTEMPTS && broken_off(&e) => attempt += 1,
                other => break other,
            }
        }
    }};
}
use in_transaction;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::PgStore;
    use crate::store::Store;
    use crate::store::contract::contract_suite;

    /// A fresh database on the server at `TEST_POSTGRES_URL` (default: the one this
    /// project's machines run on 127.0.0.1:5432), dropped with the guard.
    pub(crate) struct TestDatabase {
        admin: String,
        name: String,
    }

    impl TestDatabase {
        pub(crate) async fn create() -> (String, Self) {
            let admin = std::env::var("TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!(
                "onetrip_test_{:016x}",
                rand_core::RngCore::next_u64(&mut rand_core::OsRng)
            );
            let store = PgStore::connect(&admin)
                .await
                .expect("a PostgreSQL for tests");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&store.pool)
                .await
                .unwrap();
            let (server, _) = admin.rsplit_once('/').unwrap();
            (format!("{server}/{name}"), Self { admin, name })
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            let (admin, name) = (self.admin.clone(), self.name.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(store) = PgStore::connect(&admin).await {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(&drop).execute(&store.pool).await;
                    }
                });
            })
            .join()
            .unwrap();
        }
    }

    contract_suite!({
        let (url, database) = TestDatabase::create().await;
        let store: Arc<dyn Store> = Arc::new(PgStore::open(&url).await.unwrap());
        (store, database)
    });
}
