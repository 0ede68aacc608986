//! Records of every sort, paged by key, and records copied in from another store as they are.

use sqlx::PgConnection;
use sqlx::types::Json;

use super::{PgStore, TRANSACTION_ATTEMPTS, broken_off, engine, in_transaction};
use crate::domain::Sha256Digest;
use crate::domain::batch::{BatchRecord, NumberedLine, NumberedResult};
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::ServiceItem;
use crate::domain::certificate::{CertStatus, Certificate};
use crate::domain::session::ConsoleSession;
use crate::domain::signing_key::{KeyRecord, SealedKey};
use crate::domain::submission::{Event, Submission};
use crate::domain::token::TokenRecord;
use crate::store::{Conflict, Record, Sort, StoreError, Unique};

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A record that this store holds differently: a copy will not overwrite it.
fn differs(record: &Record) -> StoreError {
    StoreError::Conflict(Conflict::Taken {
        constraint: Unique::CopiedRecord,
        value: format!("{:?} {}", record.sort(), record.key()),
        holder: None,
    })
}

fn corrupt(key: impl Into<String>, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.into(),
        reason: reason.to_string(),
    }
}

impl PgStore {
    pub(super) async fn page(
        &self,
        sort: Sort,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        if sort.is_small() && after.is_some() {
            return Ok(Vec::new());
        }
        let after = after.unwrap_or_default();
        let limit = limit_of(limit);
        let pool = &self.pool;
        Ok(match sort {
            Sort::Submissions => {
                let rows = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<Submission>" FROM submissions
                       WHERE id > $1 ORDER BY id LIMIT $2"#,
                    after,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                let mut records = Vec::with_capacity(rows.len());
                for Json(submission) in rows {
                    let events = sqlx::query_scalar!(
                        r#"SELECT body AS "body: Json<Event>" FROM events
                           WHERE submission_id = $1 ORDER BY seq"#,
                        submission.id.as_str(),
                    )
                    .fetch_all(pool)
                    .await
                    .map_err(engine)?;
                    let events = events.into_iter().map(|Json(e)| e).collect();
                    records.push(Record::Submission { submission, events });
                }
                records
            }
            Sort::Certificates => {
                let rows = sqlx::query!(
                    r#"SELECT body AS "body: Json<Certificate>", pdf, photo FROM certificates
                       WHERE id > $1 ORDER BY id LIMIT $2"#,
                    after,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|row| Record::Certificate {
                        certificate: Box::new(row.body.0),
                        pdf: row.pdf,
                        photo: row.photo,
                    })
                    .collect()
            }
            Sort::HolderLines => {
                let (kind, holder) = after.split_once('\0').unwrap_or((after, ""));
                let rows = sqlx::query!(
                    "SELECT kind, holder_id, certificate_id FROM holder_lines
                     WHERE (kind, holder_id) > ($1, $2) ORDER BY kind, holder_id LIMIT $3",
                    kind,
                    holder,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|row| Record::HolderLine {
                        kind: row.kind,
                        holder_id: row.holder_id,
                        certificate: row.certificate_id,
                    })
                    .collect()
            }
            Sort::FormerNumbers => {
                let rows = sqlx::query!(
                    "SELECT number, certificate_id FROM former_numbers
                     WHERE number > $1 ORDER BY number LIMIT $2",
                    after,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|row| Record::FormerNumber {
                        number: row.number,
                        certificate: row.certificate_id,
                    })
                    .collect()
            }
            Sort::Tokens => {
                let rows = sqlx::query!(
                    r#"SELECT hash, body AS "body: Json<TokenRecord>" FROM tokens
                       WHERE hash > $1 ORDER BY hash LIMIT $2"#,
                    after,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|row| {
                        let hash =
                            Sha256Digest::parse(&row.hash).map_err(|e| corrupt(&row.hash, e))?;
                        Ok(Record::Token {
                            hash,
                            record: row.body.0,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?
            }
            Sort::Sessions => {
                let rows = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<ConsoleSession>" FROM console_sessions
                       WHERE id > $1 ORDER BY id LIMIT $2"#,
                    after,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter().map(|Json(s)| Record::Session(s)).collect()
            }
            Sort::SealedKeys => {
                let rows = sqlx::query_as!(
                    SealedKey,
                    "SELECT thumbprint, kek_id, sealed_at, nonce, ciphertext FROM sealed_keys
                     WHERE thumbprint > $1 ORDER BY thumbprint LIMIT $2",
                    after,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter().map(Record::SealedKey).collect()
            }
            Sort::Batches => {
                let rows = sqlx::query!(
                    r#"SELECT body AS "body: Json<BatchRecord>", lines AS "lines: Json<Vec<NumberedLine>>"
                       FROM batches WHERE id > $1 ORDER BY id LIMIT $2"#,
                    after,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                let mut records = Vec::with_capacity(rows.len());
                for row in rows {
                    let batch = row.body.0;
                    let results = batch_results(pool, &batch.id).await?;
                    records.push(Record::Batch {
                        lines: row.lines.0,
                        results,
                        batch,
                    });
                }
                records
            }
            Sort::SigningKeys => {
                let rows = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<KeyRecord>" FROM signing_keys
                       WHERE thumbprint > $1 ORDER BY thumbprint LIMIT $2"#,
                    after,
                    limit,
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|Json(k)| Record::SigningKey(k))
                    .collect()
            }
            Sort::ServiceItems => {
                let rows = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<ServiceItem>" FROM service_items
                       ORDER BY code, version"#
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|Json(s)| Record::ServiceItem(s))
                    .collect()
            }
            Sort::Calendars => {
                let rows = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<YearCalendar>" FROM calendars ORDER BY year"#
                )
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|Json(c)| Record::Calendar(c))
                    .collect()
            }
            Sort::Sequences => {
                let rows = sqlx::query!("SELECT year, last FROM sequences ORDER BY year")
                    .fetch_all(pool)
                    .await
                    .map_err(engine)?;
                rows.into_iter()
                    .map(|row| {
                        let last = u64::try_from(row.last).map_err(|e| corrupt("sequences", e))?;
                        Ok(Record::Sequence {
                            year: row.year,
                            last,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?
            }
        })
    }

    pub(super) async fn put(&self, record: &Record) -> Result<bool, StoreError> {
        in_transaction!(self, |tx| put_in(&mut tx, record).await?)
    }
}

/// A batch's results, in line order.
pub(super) async fn batch_results(
    connection: impl sqlx::PgExecutor<'_>,
    id: &str,
) -> Result<Vec<NumberedResult>, StoreError> {
    let rows = sqlx::query_scalar!(
        r#"SELECT body AS "body: Json<NumberedResult>" FROM batch_results
           WHERE batch_id = $1 ORDER BY line"#,
        id,
    )
    .fetch_all(connection)
    .await
    .map_err(engine)?;
    Ok(rows.into_iter().map(|Json(r)| r).collect())
}

type Statement<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Runs an `INSERT … ON CONFLICT DO NOTHING`: whether it wrote a row.
async fn inserted(tx: &mut PgConnection, insert: Statement<'_>) -> Result<bool, StoreError> {
    Ok(insert
        .execute(&mut *tx)
        .await
        .map_err(engine)?
        .rows_affected()
        > 0)
}

async fn put_in(tx: &mut PgConnection, record: &Record) -> Result<bool, StoreError> {
    let unchanged = |same: bool| {
        if same {
            Ok(false)
        } else {
            Err(differs(record))
        }
    };
    match record {
        Record::Submission { submission, events } => {
            let id = submission.id.as_str();
            let insert = sqlx::query!(
                "INSERT INTO submissions (id, holder_id, version, created_at, promised, in_review, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                id,
                submission.holder.id(),
                super::records::bigint(submission.event_count)?,
                submission.created_at,
                super::records::promised(submission),
                submission.status.is_in_review(),
                Json(submission) as _,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<Submission>" FROM submissions WHERE id = $1"#,
                    id,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                let stored_events = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<Event>" FROM events
                       WHERE submission_id = $1 ORDER BY seq"#,
                    id,
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(engine)?;
                let stored_events: Vec<Event> =
                    stored_events.into_iter().map(|Json(e)| e).collect();
                return unchanged(stored.0 == *submission && stored_events == *events);
            }
            for event in events {
                sqlx::query!(
                    "INSERT INTO events (submission_id, seq, body) VALUES ($1, $2, $3)",
                    id,
                    super::records::bigint(event.seq)?,
                    Json(event) as _,
                )
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
            }
        }
        Record::Certificate {
            certificate,
            pdf,
            photo,
        } => {
            let id = certificate.content.id.as_str();
            let listed =
                (certificate.status != CertStatus::Valid).then_some(Json(&certificate.status));
            let insert = sqlx::query!(
                "INSERT INTO certificates (id, submission_id, code, pdf_sha256, listed_status, body, pdf, photo)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                id,
                certificate.submission.as_str(),
                certificate.content.code.as_ref().map(|c| c.as_str()),
                certificate.pdf_sha256.as_str(),
                listed as _,
                Json(&**certificate) as _,
                pdf.as_slice(),
                photo.as_deref(),
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query!(
                    r#"SELECT body AS "body: Json<Certificate>", pdf FROM certificates WHERE id = $1"#,
                    id,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored.body.0 == **certificate && stored.pdf == *pdf);
            }
        }
        Record::HolderLine {
            kind,
            holder_id,
            certificate,
        } => {
            let insert = sqlx::query!(
                "INSERT INTO holder_lines (kind, holder_id, certificate_id) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, holder_id) DO NOTHING",
                kind,
                holder_id,
                certificate,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query_scalar!(
                    "SELECT certificate_id FROM holder_lines WHERE kind = $1 AND holder_id = $2",
                    kind,
                    holder_id,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored == *certificate);
            }
        }
        Record::FormerNumber {
            number,
            certificate,
        } => {
            let insert = sqlx::query!(
                "INSERT INTO former_numbers (number, certificate_id) VALUES ($1, $2)
                 ON CONFLICT (number) DO NOTHING",
                number,
                certificate,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query_scalar!(
                    "SELECT certificate_id FROM former_numbers WHERE number = $1",
                    number,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored == *certificate);
            }
        }
        Record::Token {
            hash,
            record: token,
        } => {
            let insert = sqlx::query!(
                "INSERT INTO tokens (hash, id, created_at, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (hash) DO NOTHING",
                hash.as_str(),
                token.id.0.as_str(),
                token.created_at,
                Json(token) as _,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<TokenRecord>" FROM tokens WHERE hash = $1"#,
                    hash.as_str(),
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored.0 == *token);
            }
        }
        Record::Session(session) => {
            let insert = sqlx::query!(
                "INSERT INTO console_sessions (id, token_hash, expires_at, body)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                session.id.as_str(),
                session.token_hash.as_str(),
                session.expires_at,
                Json(session) as _,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<ConsoleSession>" FROM console_sessions
                       WHERE id = $1"#,
                    session.id.as_str(),
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored.0 == *session);
            }
        }
        Record::SealedKey(sealed) => {
            let insert = sqlx::query!(
                "INSERT INTO sealed_keys (thumbprint, kek_id, sealed_at, nonce, ciphertext)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (thumbprint) DO NOTHING",
                sealed.thumbprint,
                sealed.kek_id,
                sealed.sealed_at,
                sealed.nonce,
                sealed.ciphertext,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query!(
                    "SELECT kek_id, nonce, ciphertext FROM sealed_keys WHERE thumbprint = $1",
                    sealed.thumbprint,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(
                    stored.kek_id == sealed.kek_id
                        && stored.nonce == sealed.nonce
                        && stored.ciphertext == sealed.ciphertext,
                );
            }
        }
        Record::Batch {
            batch,
            lines,
            results,
        } => {
            let insert = sqlx::query!(
                "INSERT INTO batches (id, started_at, finished, body, lines)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                batch.id,
                batch.started_at,
                batch.finished_at.is_some(),
                Json(batch) as _,
                Json(lines) as _,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query!(
                    r#"SELECT body AS "body: Json<BatchRecord>", lines AS "lines: Json<Vec<NumberedLine>>"
                       FROM batches WHERE id = $1"#,
                    batch.id,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                let same = stored.body.0 == *batch
                    && stored.lines.0 == *lines
                    && batch_results(&mut *tx, &batch.id).await? == *results;
                return unchanged(same);
            }
            for result in results {
                sqlx::query!(
                    "INSERT INTO batch_results (batch_id, line, body) VALUES ($1, $2, $3)",
                    batch.id,
                    super::records::bigint(result.line as u64)?,
                    Json(result) as _,
                )
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
            }
        }
        Record::SigningKey(key) => {
            let insert = sqlx::query!(
                "INSERT INTO signing_keys (thumbprint, created_at, body) VALUES ($1, $2, $3)
                 ON CONFLICT (thumbprint) DO NOTHING",
                key.thumbprint,
                key.created_at,
                Json(key) as _,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<KeyRecord>" FROM signing_keys
                       WHERE thumbprint = $1"#,
                    key.thumbprint,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored.0 == *key);
            }
        }
        Record::ServiceItem(item) => {
            let insert = sqlx::query!(
                "INSERT INTO service_items (code, version, body) VALUES ($1, $2, $3)
                 ON CONFLICT (code, version) DO NOTHING",
                item.code.as_str(),
                i64::from(item.version),
                Json(item) as _,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<ServiceItem>" FROM service_items
                       WHERE code = $1 AND version = $2"#,
                    item.code.as_str(),
                    i64::from(item.version),
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored.0 == *item);
            }
        }
        Record::Calendar(calendar) => {
            let insert = sqlx::query!(
                "INSERT INTO calendars (year, body) VALUES ($1, $2) ON CONFLICT (year) DO NOTHING",
                calendar.year,
                Json(calendar) as _,
            );
            if !inserted(tx, insert).await? {
                let stored = sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<YearCalendar>" FROM calendars WHERE year = $1"#,
                    calendar.year,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored.0 == *calendar);
            }
        }
        Record::Sequence { year, last } => {
            let raised = sqlx::query!(
                "INSERT INTO sequences (year, last) VALUES ($1, $2)
                 ON CONFLICT (year) DO UPDATE SET last = EXCLUDED.last
                 WHERE sequences.last < EXCLUDED.last",
                year,
                super::records::bigint(*last)?,
            );
            return inserted(tx, raised).await;
        }
    }
    Ok(true)
}
