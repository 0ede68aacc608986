//! Records of every sort, paged by key, and records copied in from another store as they are.

use sqlx::PgConnection;
use sqlx::types::Json;

use super::{PgStore, TRANSACTION_ATTEMPTS, broken_off, engine, in_transaction};
use crate::domain::Sha256Digest;
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::ServiceItem;
use crate::domain::certificate::{CertStatus, Certificate};
use crate::domain::signing_key::KeyRecord;
use crate::domain::submission::{Event, Submission};
use crate::domain::token::TokenRecord;
use crate::store::{Conflict, Record, Sort, StoreError, Unique};

/// A certificate as its row holds it: the record, the PDF, the photo.
type CertificateRow = (Json<Certificate>, Vec<u8>, Option<Vec<u8>>);

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
                let rows: Vec<Json<Submission>> = sqlx::query_scalar(
                    "SELECT body FROM submissions WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                let mut records = Vec::with_capacity(rows.len());
                for Json(submission) in rows {
                    let events: Vec<Json<Event>> = sqlx::query_scalar(
                        "SELECT body FROM events WHERE submission_id = $1 ORDER BY seq",
                    )
                    .bind(submission.id.as_str())
                    .fetch_all(pool)
                    .await
                    .map_err(engine)?;
                    let events = events.into_iter().map(|Json(e)| e).collect();
                    records.push(Record::Submission { submission, events });
                }
                records
            }
            Sort::Certificates => {
                let rows: Vec<CertificateRow> = sqlx::query_as(
                    "SELECT body, pdf, photo FROM certificates WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|(Json(certificate), pdf, photo)| Record::Certificate {
                        certificate: Box::new(certificate),
                        pdf,
                        photo,
                    })
                    .collect()
            }
            Sort::HolderLines => {
                let (kind, holder) = after.split_once('\0').unwrap_or((after, ""));
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT kind, holder_id, certificate_id FROM holder_lines
                     WHERE (kind, holder_id) > ($1, $2) ORDER BY kind, holder_id LIMIT $3",
                )
                .bind(kind)
                .bind(holder)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|(kind, holder_id, certificate)| Record::HolderLine {
                        kind,
                        holder_id,
                        certificate,
                    })
                    .collect()
            }
            Sort::FormerNumbers => {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT number, certificate_id FROM former_numbers
                     WHERE number > $1 ORDER BY number LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|(number, certificate)| Record::FormerNumber {
                        number,
                        certificate,
                    })
                    .collect()
            }
            Sort::Tokens => {
                let rows: Vec<(String, Json<TokenRecord>)> = sqlx::query_as(
                    "SELECT hash, body FROM tokens WHERE hash > $1 ORDER BY hash LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|(hash, Json(record))| {
                        let parsed = Sha256Digest::parse(&hash).map_err(|e| corrupt(&hash, e))?;
                        Ok(Record::Token {
                            hash: parsed,
                            record,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?
            }
            Sort::SigningKeys => {
                let rows: Vec<Json<KeyRecord>> = sqlx::query_scalar(
                    "SELECT body FROM signing_keys WHERE thumbprint > $1
                     ORDER BY thumbprint LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(engine)?;
                rows.into_iter()
                    .map(|Json(k)| Record::SigningKey(k))
                    .collect()
            }
            Sort::ServiceItems => {
                let rows: Vec<Json<ServiceItem>> =
                    sqlx::query_scalar("SELECT body FROM service_items ORDER BY code, version")
                        .fetch_all(pool)
                        .await
                        .map_err(engine)?;
                rows.into_iter()
                    .map(|Json(s)| Record::ServiceItem(s))
                    .collect()
            }
            Sort::Calendars => {
                let rows: Vec<Json<YearCalendar>> =
                    sqlx::query_scalar("SELECT body FROM calendars ORDER BY year")
                        .fetch_all(pool)
                        .await
                        .map_err(engine)?;
                rows.into_iter()
                    .map(|Json(c)| Record::Calendar(c))
                    .collect()
            }
            Sort::Sequences => {
                let rows: Vec<(i32, i64)> =
                    sqlx::query_as("SELECT year, last FROM sequences ORDER BY year")
                        .fetch_all(pool)
                        .await
                        .map_err(engine)?;
                rows.into_iter()
                    .map(|(year, last)| {
                        let last = u64::try_from(last).map_err(|e| corrupt("sequences", e))?;
                        Ok(Record::Sequence { year, last })
                    })
                    .collect::<Result<_, StoreError>>()?
            }
        })
    }

    pub(super) async fn put(&self, record: &Record) -> Result<bool, StoreError> {
        in_transaction!(self, |tx| put_in(&mut tx, record).await?)
    }
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
            let insert = sqlx::query(
                "INSERT INTO submissions (id, holder_id, version, created_at, promised, body)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(submission.holder.id())
            .bind(super::records::bigint(submission.event_count)?)
            .bind(submission.created_at)
            .bind(super::records::promised(submission))
            .bind(Json(submission));
            if !inserted(tx, insert).await? {
                let stored: Json<Submission> =
                    sqlx::query_scalar("SELECT body FROM submissions WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(engine)?;
                let stored_events: Vec<Json<Event>> = sqlx::query_scalar(
                    "SELECT body FROM events WHERE submission_id = $1 ORDER BY seq",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(engine)?;
                let stored_events: Vec<Event> =
                    stored_events.into_iter().map(|Json(e)| e).collect();
                return unchanged(stored.0 == *submission && stored_events == *events);
            }
            for event in events {
                sqlx::query("INSERT INTO events (submission_id, seq, body) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(super::records::bigint(event.seq)?)
                    .bind(Json(event))
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
            let insert = sqlx::query(
                "INSERT INTO certificates (id, submission_id, code, pdf_sha256, listed_status, body, pdf, photo)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(certificate.submission.as_str())
            .bind(certificate.content.code.as_ref().map(|c| c.as_str()))
            .bind(certificate.pdf_sha256.as_str())
            .bind(listed)
            .bind(Json(&**certificate))
            .bind(pdf.as_slice())
            .bind(photo.as_deref());
            if !inserted(tx, insert).await? {
                let (stored, stored_pdf): (Json<Certificate>, Vec<u8>) =
                    sqlx::query_as("SELECT body, pdf FROM certificates WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(engine)?;
                return unchanged(stored.0 == **certificate && stored_pdf == *pdf);
            }
        }
        Record::HolderLine {
            kind,
            holder_id,
            certificate,
        } => {
            let insert = sqlx::query(
                "INSERT INTO holder_lines (kind, holder_id, certificate_id) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, holder_id) DO NOTHING",
            )
            .bind(kind)
            .bind(holder_id)
            .bind(certificate);
            if !inserted(tx, insert).await? {
                let stored: String = sqlx::query_scalar(
                    "SELECT certificate_id FROM holder_lines WHERE kind = $1 AND holder_id = $2",
                )
                .bind(kind)
                .bind(holder_id)
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
            let insert = sqlx::query(
                "INSERT INTO former_numbers (number, certificate_id) VALUES ($1, $2)
                 ON CONFLICT (number) DO NOTHING",
            )
            .bind(number)
            .bind(certificate);
            if !inserted(tx, insert).await? {
                let stored: String = sqlx::query_scalar(
                    "SELECT certificate_id FROM former_numbers WHERE number = $1",
                )
                .bind(number)
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
            let insert = sqlx::query(
                "INSERT INTO tokens (hash, id, created_at, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (hash) DO NOTHING",
            )
            .bind(hash.as_str())
            .bind(token.id.0.as_str())
            .bind(token.created_at)
            .bind(Json(token));
            if !inserted(tx, insert).await? {
                let stored: Json<TokenRecord> =
                    sqlx::query_scalar("SELECT body FROM tokens WHERE hash = $1")
                        .bind(hash.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(engine)?;
                return unchanged(stored.0 == *token);
            }
        }
        Record::SigningKey(key) => {
            let insert = sqlx::query(
                "INSERT INTO signing_keys (thumbprint, created_at, body) VALUES ($1, $2, $3)
                 ON CONFLICT (thumbprint) DO NOTHING",
            )
            .bind(&key.thumbprint)
            .bind(key.created_at)
            .bind(Json(key));
            if !inserted(tx, insert).await? {
                let stored: Json<KeyRecord> =
                    sqlx::query_scalar("SELECT body FROM signing_keys WHERE thumbprint = $1")
                        .bind(&key.thumbprint)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(engine)?;
                return unchanged(stored.0 == *key);
            }
        }
        Record::ServiceItem(item) => {
            let insert = sqlx::query(
                "INSERT INTO service_items (code, version, body) VALUES ($1, $2, $3)
                 ON CONFLICT (code, version) DO NOTHING",
            )
            .bind(item.code.as_str())
            .bind(i64::from(item.version))
            .bind(Json(item));
            if !inserted(tx, insert).await? {
                let stored: Json<ServiceItem> = sqlx::query_scalar(
                    "SELECT body FROM service_items WHERE code = $1 AND version = $2",
                )
                .bind(item.code.as_str())
                .bind(i64::from(item.version))
                .fetch_one(&mut *tx)
                .await
                .map_err(engine)?;
                return unchanged(stored.0 == *item);
            }
        }
        Record::Calendar(calendar) => {
            let insert = sqlx::query(
                "INSERT INTO calendars (year, body) VALUES ($1, $2) ON CONFLICT (year) DO NOTHING",
            )
            .bind(calendar.year)
            .bind(Json(calendar));
            if !inserted(tx, insert).await? {
                let stored: Json<YearCalendar> =
                    sqlx::query_scalar("SELECT body FROM calendars WHERE year = $1")
                        .bind(calendar.year)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(engine)?;
                return unchanged(stored.0 == *calendar);
            }
        }
        Record::Sequence { year, last } => {
            let raised = sqlx::query(
                "INSERT INTO sequences (year, last) VALUES ($1, $2)
                 ON CONFLICT (year) DO UPDATE SET last = EXCLUDED.last
                 WHERE sequences.last < EXCLUDED.last",
            )
            .bind(year)
            .bind(super::records::bigint(*last)?);
            return inserted(tx, raised).await;
        }
    }
    Ok(true)
}
