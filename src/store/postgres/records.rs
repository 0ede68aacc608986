//! The port over the tables of `migrations/`.

use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;

use super::{PgStore, TRANSACTION_ATTEMPTS, broken_off, engine, in_transaction};
use crate::domain::batch::{BatchRecord, Lease, NumberedLine, NumberedResult};
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::{ServiceItem, ServiceSpec};
use crate::domain::certificate::{CertStatus, Certificate};
use crate::domain::identifier::Identifier;
use crate::domain::plan::{CertificateWrite, Issuance, KeyRingWrite, SubmissionWrite};
use crate::domain::session::{ConsoleSession, SessionOpening};
use crate::domain::signing_key::{KeyRecord, SealedKey};
use crate::domain::submission::{Event, Submission};
use crate::domain::token::TokenRecord;
use crate::domain::{ItemCode, Sha256Digest, SubmissionId, TokenId, VerificationCode};
use crate::store::{Conflict, Record, RecordsCopy, Sort, Store, StoreError, Unique};

/// A count or a sequence number as PostgreSQL's `bigint`.
pub(super) fn bigint(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Encode(format!("{n} is beyond a bigint")))
}

/// A certificate identifier as a column holds it.
fn identifier(text: String) -> Result<Identifier, StoreError> {
    Identifier::parse(&text).map_err(|e| StoreError::Corrupt {
        key: text,
        reason: e.to_string(),
    })
}

/// Whether the due listing shows it: accepted with a promise and not finished.
pub(super) fn promised(submission: &Submission) -> bool {
    submission.due_date.is_some() && !submission.status.is_finished()
}

/// The status a certificate is listed with, when it is not plainly valid.
fn listed(certificate: &Certificate) -> Option<Json<&CertStatus>> {
    (certificate.status != CertStatus::Valid).then_some(Json(&certificate.status))
}

/// Writes a submission and appends its events: a new one only if its id is free, a
/// changed one only while the stored one is at the version it was read at.
async fn write_submission(
    tx: &mut PgConnection,
    write: &SubmissionWrite,
) -> Result<(), StoreError> {
    let submission = &write.submission;
    let id = submission.id.as_str();
    let version = bigint(submission.event_count)?;
    let written = match write.read_at {
        None => sqlx::query!(
            "INSERT INTO submissions (id, holder_id, version, created_at, promised, in_review, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            id,
            submission.holder.id(),
            version,
            submission.created_at,
            promised(submission),
            submission.status.is_in_review(),
            Json(submission) as _,
        )
        .execute(&mut *tx)
        .await
        .map_err(engine)?,
        Some(read_at) => sqlx::query!(
            "UPDATE submissions SET version = $2, promised = $3, in_review = $4, body = $5
             WHERE id = $1 AND version = $6",
            id,
            version,
            promised(submission),
            submission.status.is_in_review(),
            Json(submission) as _,
            bigint(read_at)?,
        )
        .execute(&mut *tx)
        .await
        .map_err(engine)?,
    };
    if written.rows_affected() == 0 {
        return Err(match write.read_at {
            None => Conflict::Taken {
                constraint: Unique::SubmissionId,
                value: id.to_owned(),
                holder: None,
            },
            Some(_) => Conflict::Changed(format!("submission {id}")),
        }
        .into());
    }
    for event in &write.events {
        sqlx::query!(
            "INSERT INTO events (submission_id, seq, body) VALUES ($1, $2, $3)",
            id,
            bigint(event.seq)?,
            Json(event) as _,
        )
        .execute(&mut *tx)
        .await
        .map_err(engine)?;
    }
    Ok(())
}

/// Writes a changed certificate while the stored one is still as read.
async fn write_certificate(
    tx: &mut PgConnection,
    write: &CertificateWrite,
) -> Result<(), StoreError> {
    let id = write.after.content.id.as_str();
    let stored = sqlx::query_scalar!(
        r#"SELECT body AS "body: Json<Certificate>" FROM certificates WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(engine)?;
    if stored.map(|Json(c)| c).as_ref() != Some(&write.before) {
        return Err(Conflict::Changed(format!("certificate {id}")).into());
    }
    sqlx::query!(
        "UPDATE certificates SET body = $2, listed_status = $3 WHERE id = $1",
        id,
        Json(&write.after) as _,
        listed(&write.after) as _,
    )
    .execute(&mut *tx)
    .await
    .map_err(engine)?;
    Ok(())
}

/// Everything an issuance writes, inside one transaction.
async fn write_issuance(
    tx: &mut PgConnection,
    issuance: &Issuance,
    pdf: &[u8],
    photo: Option<&[u8]>,
) -> Result<(), StoreError> {
    let certificate = &issuance.certificate;
    let content = &certificate.content;
    let id = content.id.as_str();
    for write in issuance.submissions() {
        write_submission(tx, write).await?;
    }
    if let Some((superseded, _)) = &issuance.superseded {
        write_certificate(tx, superseded).await?;
    }
    sqlx::query!(
        "INSERT INTO certificates (id, submission_id, code, pdf_sha256, listed_status, body, pdf, photo)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        certificate.submission.as_str(),
        content.code.as_ref().map(VerificationCode::as_str),
        certificate.pdf_sha256.as_str(),
        listed(certificate) as _,
        Json(certificate) as _,
        pdf,
        photo,
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| named(engine(e), id, content.code.as_ref().map(VerificationCode::as_str)))?;

    let previous = content.supersedes.as_ref().map(|p| p.as_str());
    for number in content.former_numbers() {
        let holder = sqlx::query_scalar!(
            "SELECT certificate_id FROM former_numbers WHERE number = $1 FOR UPDATE",
            number,
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(engine)?;
        match holder {
            Some(holder) if Some(holder.as_str()) != previous => {
                return Err(Conflict::Taken {
                    constraint: Unique::FormerNumber,
                    value: number.to_owned(),
                    holder: Some(holder),
                }
                .into());
            }
            Some(_) => {
                sqlx::query!(
                    "UPDATE former_numbers SET certificate_id = $2 WHERE number = $1",
                    number,
                    id,
                )
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
            }
            None => {
                sqlx::query!(
                    "INSERT INTO former_numbers (number, certificate_id) VALUES ($1, $2)",
                    number,
                    id,
                )
                .execute(&mut *tx)
                .await
                .map_err(|e| named(engine(e), number, None))?;
            }
        }
    }

    let holder_id = content.holder.id();
    let line = sqlx::query_scalar!(
        "SELECT certificate_id FROM holder_lines WHERE kind = $1 AND holder_id = $2 FOR UPDATE",
        content.kind,
        holder_id,
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(engine)?;
    if line.as_deref() != issuance.line_was.as_ref().map(|l| l.as_str()) {
        return Err(Conflict::Changed("the holder's current certificate".into()).into());
    }
    match line {
        Some(_) => sqlx::query!(
            "UPDATE holder_lines SET certificate_id = $3 WHERE kind = $1 AND holder_id = $2",
            content.kind,
            holder_id,
            id,
        ),
        None => sqlx::query!(
            "INSERT INTO holder_lines (kind, holder_id, certificate_id) VALUES ($1, $2, $3)",
            content.kind,
            holder_id,
            id,
        ),
    }
    .execute(&mut *tx)
    .await
    .map_err(engine)?;
    Ok(())
}

/// Writes a key's sealed private half, over the one it had.
pub(super) async fn insert_sealed(
    tx: &mut PgConnection,
    sealed: &SealedKey,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO sealed_keys (thumbprint, kek_id, sealed_at, nonce, ciphertext)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (thumbprint) DO UPDATE SET kek_id = EXCLUDED.kek_id,
             sealed_at = EXCLUDED.sealed_at, nonce = EXCLUDED.nonce,
             ciphertext = EXCLUDED.ciphertext",
        sealed.thumbprint,
        sealed.kek_id,
        sealed.sealed_at,
        sealed.nonce,
        sealed.ciphertext,
    )
    .execute(&mut *tx)
    .await
    .map_err(engine)?;
    Ok(())
}

/// The batch `id`, locked until the transaction ends, while its lease is still `read`.
async fn locked_batch(
    tx: &mut PgConnection,
    id: &str,
    read: &Lease,
) -> Result<BatchRecord, StoreError> {
    let found = sqlx::query_scalar!(
        r#"SELECT body AS "body: Json<BatchRecord>" FROM batches WHERE id = $1 FOR NO KEY UPDATE"#,
        id,
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(engine)?;
    match found {
        Some(Json(batch)) if &batch.lease == read => Ok(batch),
        _ => Err(Conflict::Changed(format!("batch {id}'s lease")).into()),
    }
}

async fn update_batch(tx: &mut PgConnection, batch: &BatchRecord) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE batches SET body = $2, finished = $3 WHERE id = $1",
        batch.id,
        Json(batch) as _,
        batch.finished_at.is_some(),
    )
    .execute(&mut *tx)
    .await
    .map_err(engine)?;
    Ok(())
}

/// A unique constraint's refusal with the value it refused filled in.
fn named(e: StoreError, id: &str, code: Option<&str>) -> StoreError {
    match e {
        StoreError::Conflict(Conflict::Taken {
            constraint, holder, ..
        }) => {
            let value = match constraint {
                Unique::VerificationCode => code.unwrap_or_default(),
                _ => id,
            };
            StoreError::Conflict(Conflict::Taken {
                constraint,
                value: value.to_owned(),
                holder,
            })
        }
        other => other,
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query!("SELECT 1 AS one")
            .fetch_one(&self.pool)
            .await
            .map_err(engine)?;
        Ok(())
    }

    async fn save_submission(&self, write: &SubmissionWrite) -> Result<(), StoreError> {
        in_transaction!(self, |tx| write_submission(&mut tx, write).await?)
    }

    async fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Submission>" FROM submissions WHERE id = $1"#,
            id.as_str(),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.map(|Json(s)| s))
    }

    async fn submissions_by_holder(&self, holder_id: &str) -> Result<Vec<Submission>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Submission>" FROM submissions
               WHERE holder_id = $1 ORDER BY created_at DESC"#,
            holder_id,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(s)| s).collect())
    }

    async fn submissions_with_promise(&self) -> Result<Vec<Submission>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Submission>" FROM submissions WHERE promised ORDER BY id"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(s)| s).collect())
    }

    async fn submissions_in_review(&self) -> Result<Vec<Submission>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Submission>" FROM submissions WHERE in_review
               ORDER BY created_at, id"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(s)| s).collect())
    }

    async fn events(&self, id: &SubmissionId) -> Result<Vec<Event>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Event>" FROM events WHERE submission_id = $1 ORDER BY seq"#,
            id.as_str(),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(e)| e).collect())
    }

    async fn next_sequence(&self, year: i32) -> Result<u64, StoreError> {
        let last = sqlx::query_scalar!(
            "INSERT INTO sequences (year, last) VALUES ($1, 1)
             ON CONFLICT (year) DO UPDATE SET last = sequences.last + 1
             RETURNING last",
            year,
        )
        .fetch_one(&self.pool)
        .await
        .map_err(engine)?;
        u64::try_from(last).map_err(|_| StoreError::Corrupt {
            key: format!("sequences/{year}"),
            reason: format!("negative sequence {last}"),
        })
    }

    async fn store_issued(
        &self,
        issuance: &Issuance,
        pdf: &[u8],
        photo: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let written = in_transaction!(self, |tx| write_issuance(&mut tx, issuance, pdf, photo)
            .await?);
        match written {
            // A number claimed meanwhile: its constraint does not say by whom; the committed
            // claim does.
            Err(StoreError::Conflict(Conflict::Taken {
                constraint: Unique::FormerNumber,
                value,
                holder: None,
            })) => {
                let holder = self.certificate_id_by_former_number(&value).await?;
                Err(Conflict::Taken {
                    constraint: Unique::FormerNumber,
                    value,
                    holder: holder.map(|h| h.to_string()),
                }
                .into())
            }
            other => other,
        }
    }

    async fn save_certificate(
        &self,
        write: &CertificateWrite,
        history: Option<&SubmissionWrite>,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| {
            write_certificate(&mut tx, write).await?;
            if let Some(history) = history {
                write_submission(&mut tx, history).await?;
            }
        })
    }

    async fn certificate(&self, id: &Identifier) -> Result<Option<Certificate>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<Certificate>" FROM certificates WHERE id = $1"#,
            id.as_str(),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.map(|Json(c)| c))
    }

    async fn certificate_pdf(&self, id: &Identifier) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar!("SELECT pdf FROM certificates WHERE id = $1", id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(engine)
    }

    async fn certificate_photo(&self, id: &Identifier) -> Result<Option<Vec<u8>>, StoreError> {
        let found =
            sqlx::query_scalar!("SELECT photo FROM certificates WHERE id = $1", id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(engine)?;
        Ok(found.flatten())
    }

    async fn current_certificate(
        &self,
        kind: &str,
        holder_id: &str,
    ) -> Result<Option<Certificate>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT c.body AS "body!: Json<Certificate>"
               FROM holder_lines l JOIN certificates c ON c.id = l.certificate_id
               WHERE l.kind = $1 AND l.holder_id = $2"#,
            kind,
            holder_id,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.map(|Json(c)| c))
    }

    async fn listed_statuses(&self) -> Result<Vec<(Identifier, CertStatus)>, StoreError> {
        let found = sqlx::query!(
            r#"SELECT id, listed_status AS "listed_status!: Json<CertStatus>" FROM certificates
               WHERE listed_status IS NOT NULL ORDER BY id"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        found
            .into_iter()
            .map(|row| Ok((identifier(row.id)?, row.listed_status.0)))
            .collect()
    }

    async fn certificate_id_by_pdf(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<Option<Identifier>, StoreError> {
        let found = sqlx::query_scalar!(
            "SELECT id FROM certificates WHERE pdf_sha256 = $1",
            sha256.as_str()
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        found.map(identifier).transpose()
    }

    async fn certificate_id_by_code(
        &self,
        code: &VerificationCode,
    ) -> Result<Option<Identifier>, StoreError> {
        let found =
            sqlx::query_scalar!("SELECT id FROM certificates WHERE code = $1", code.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(engine)?;
        found.map(identifier).transpose()
    }

    async fn certificate_id_by_former_number(
        &self,
        number: &str,
    ) -> Result<Option<Identifier>, StoreError> {
        let found = sqlx::query_scalar!(
            "SELECT certificate_id FROM former_numbers WHERE number = $1",
            number,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        found.map(identifier).transpose()
    }

    async fn insert_token(
        &self,
        hash: &Sha256Digest,
        record: &TokenRecord,
    ) -> Result<(), StoreError> {
        sqlx::query!(
            "INSERT INTO tokens (hash, id, created_at, body) VALUES ($1, $2, $3, $4)",
            hash.as_str(),
            record.id.0.as_str(),
            record.created_at,
            Json(record) as _,
        )
        .execute(&self.pool)
        .await
        .map_err(engine)?;
        Ok(())
    }

    async fn token(&self, hash: &Sha256Digest) -> Result<Option<TokenRecord>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<TokenRecord>" FROM tokens WHERE hash = $1"#,
            hash.as_str(),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.map(|Json(t)| t))
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<TokenRecord>" FROM tokens ORDER BY created_at, id"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(t)| t).collect())
    }

    async fn revoke_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        in_transaction!(self, |tx| {
            let found = sqlx::query_scalar!(
                r#"SELECT body AS "body: Json<TokenRecord>" FROM tokens WHERE id = $1 FOR UPDATE"#,
                id.0.as_str(),
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(engine)?;
            match found {
                Some(Json(mut record)) => {
                    if record.revoked_at.is_none() {
                        record.revoked_at = Some(Utc::now());
                        sqlx::query!(
                            "UPDATE tokens SET body = $2 WHERE id = $1",
                            id.0.as_str(),
                            Json(&record) as _,
                        )
                        .execute(&mut *tx)
                        .await
                        .map_err(engine)?;
                    }
                    Some(record)
                }
                None => None,
            }
        })
    }

    async fn session(&self, id: &Sha256Digest) -> Result<Option<ConsoleSession>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<ConsoleSession>" FROM console_sessions WHERE id = $1"#,
            id.as_str(),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.map(|Json(s)| s))
    }

    async fn sessions_of_token(
        &self,
        token_hash: &Sha256Digest,
    ) -> Result<Vec<ConsoleSession>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<ConsoleSession>" FROM console_sessions
               WHERE token_hash = $1"#,
            token_hash.as_str(),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(s)| s).collect())
    }

    async fn open_session(&self, opening: &SessionOpening) -> Result<(), StoreError> {
        let session = &opening.session;
        in_transaction!(self, |tx| {
            // Openings for one token take turns (a lock on the token's hash until the
            // transaction ends), so the sessions checked are the sessions written over.
            sqlx::query!(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)) AS locked",
                session.token_hash.as_str(),
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(engine)?;
            let stored = sqlx::query_scalar!(
                "SELECT id FROM console_sessions WHERE token_hash = $1",
                session.token_hash.as_str(),
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(engine)?;
            let stored = stored
                .iter()
                .map(|id| Sha256Digest::parse(id).map_err(|e| StoreError::Encode(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            if !opening.decided_on(&stored) {
                return Err(Conflict::Changed("the token's console sessions".into()).into());
            }
            let closed: Vec<&str> = opening.closed.iter().map(Sha256Digest::as_str).collect();
            sqlx::query!(
                "DELETE FROM console_sessions WHERE id = ANY($1)",
                &closed as &[&str],
            )
            .execute(&mut *tx)
            .await
            .map_err(engine)?;
            sqlx::query!(
                "INSERT INTO console_sessions (id, token_hash, expires_at, body)
                 VALUES ($1, $2, $3, $4)",
                session.id.as_str(),
                session.token_hash.as_str(),
                session.expires_at,
                Json(session) as _,
            )
            .execute(&mut *tx)
            .await
            .map_err(engine)?;
        })
    }

    async fn close_session(&self, id: &Sha256Digest) -> Result<(), StoreError> {
        sqlx::query!("DELETE FROM console_sessions WHERE id = $1", id.as_str())
            .execute(&self.pool)
            .await
            .map_err(engine)?;
        Ok(())
    }

    async fn remove_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let removed = sqlx::query!("DELETE FROM console_sessions WHERE expires_at <= $1", now)
            .execute(&self.pool)
            .await
            .map_err(engine)?;
        Ok(removed.rows_affected())
    }

    async fn insert_batch(
        &self,
        batch: &BatchRecord,
        lines: &[NumberedLine],
    ) -> Result<(), StoreError> {
        sqlx::query!(
            "INSERT INTO batches (id, started_at, finished, body, lines) VALUES ($1, $2, $3, $4, $5)",
            batch.id,
            batch.started_at,
            batch.finished_at.is_some(),
            Json(batch) as _,
            Json(lines) as _,
        )
        .execute(&self.pool)
        .await
        .map_err(|e| named(engine(e), &batch.id, None))?;
        Ok(())
    }

    async fn batch(&self, id: &str) -> Result<Option<BatchRecord>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<BatchRecord>" FROM batches WHERE id = $1"#,
            id,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.map(|Json(b)| b))
    }

    async fn latest_batches(&self, limit: usize) -> Result<Vec<BatchRecord>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<BatchRecord>" FROM batches
               ORDER BY started_at DESC, id LIMIT $1"#,
            i64::try_from(limit).unwrap_or(i64::MAX),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(b)| b).collect())
    }

    async fn batch_lines(&self, id: &str) -> Result<Vec<NumberedLine>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT lines AS "lines: Json<Vec<NumberedLine>>" FROM batches WHERE id = $1"#,
            id,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.map(|Json(lines)| lines).unwrap_or_default())
    }

    async fn batch_results(&self, id: &str) -> Result<Vec<NumberedResult>, StoreError> {
        super::copy::batch_results(&self.pool, id).await
    }

    async fn record_batch_result(
        &self,
        id: &str,
        result: &NumberedResult,
    ) -> Result<bool, StoreError> {
        let line = i64::try_from(result.line).unwrap_or(i64::MAX);
        in_transaction!(self, |tx| {
            // The batch first: its results are written one at a time, and the lock is one
            // the results' foreign key does not wait for.
            let Json(mut batch) = sqlx::query_scalar!(
                r#"SELECT body AS "body: Json<BatchRecord>" FROM batches
                   WHERE id = $1 FOR NO KEY UPDATE"#,
                id,
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(engine)?
            .ok_or_else(|| Conflict::Changed(format!("batch {id}")))?;
            let inserted = sqlx::query!(
                "INSERT INTO batch_results (batch_id, line, body) VALUES ($1, $2, $3)
                 ON CONFLICT (batch_id, line) DO NOTHING",
                id,
                line,
                Json(result) as _,
            )
            .execute(&mut *tx)
            .await
            .map_err(engine)?
            .rows_affected()
                == 1;
            if inserted {
                batch.count(&result.result);
                update_batch(&mut tx, &batch).await?;
            }
            inserted
        })
    }

    async fn renew_batch_lease(
        &self,
        id: &str,
        read: &Lease,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| {
            let mut batch = locked_batch(&mut tx, id, read).await?;
            batch.lease = lease.clone();
            update_batch(&mut tx, &batch).await?;
        })
    }

    async fn finish_batch(
        &self,
        id: &str,
        read: &Lease,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| {
            let mut batch = locked_batch(&mut tx, id, read).await?;
            batch.finished_at = Some(at);
            update_batch(&mut tx, &batch).await?;
        })
    }

    async fn remove_old_batches(&self, keep: usize) -> Result<u64, StoreError> {
        let removed = sqlx::query!(
            "DELETE FROM batches WHERE finished AND id NOT IN
             (SELECT id FROM batches ORDER BY started_at DESC, id LIMIT $1)",
            i64::try_from(keep).unwrap_or(i64::MAX),
        )
        .execute(&self.pool)
        .await
        .map_err(engine)?;
        Ok(removed.rows_affected())
    }

    async fn service_items(&self) -> Result<Vec<ServiceItem>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT DISTINCT ON (code) body AS "body: Json<ServiceItem>" FROM service_items
               ORDER BY code, version DESC"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(s)| s).collect())
    }

    async fn service_item(
        &self,
        code: &str,
        version: Option<u32>,
    ) -> Result<Option<ServiceItem>, StoreError> {
        let found = match version {
            Some(version) => {
                sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<ServiceItem>" FROM service_items
                       WHERE code = $1 AND version = $2"#,
                    code,
                    i64::from(version),
                )
                .fetch_optional(&self.pool)
                .await
            }
            None => {
                sqlx::query_scalar!(
                    r#"SELECT body AS "body: Json<ServiceItem>" FROM service_items
                       WHERE code = $1 ORDER BY version DESC LIMIT 1"#,
                    code,
                )
                .fetch_optional(&self.pool)
                .await
            }
        }
        .map_err(engine)?;
        Ok(found.map(|Json(s)| s))
    }

    async fn put_service_item(
        &self,
        code: &ItemCode,
        spec: &ServiceSpec,
        by: &str,
        at: DateTime<Utc>,
        only_if_new: bool,
    ) -> Result<Option<ServiceItem>, StoreError> {
        in_transaction!(self, |tx| {
            // One writer of an item at a time: its versions are numbered without gaps.
            sqlx::query!("SELECT pg_advisory_xact_lock(hashtext($1))", code.as_str())
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
            let current = sqlx::query_scalar!(
                "SELECT max(version) FROM service_items WHERE code = $1",
                code.as_str()
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(engine)?;
            let current = u32::try_from(current.unwrap_or(0)).map_err(|_| StoreError::Corrupt {
                key: format!("service_items/{code}"),
                reason: "a version beyond u32".into(),
            })?;
            if only_if_new && current > 0 {
                None
            } else {
                let item = ServiceItem {
                    code: code.clone(),
                    version: current + 1,
                    updated_at: at,
                    updated_by: by.to_owned(),
                    spec: spec.clone(),
                };
                sqlx::query!(
                    "INSERT INTO service_items (code, version, body) VALUES ($1, $2, $3)",
                    code.as_str(),
                    i64::from(item.version),
                    Json(&item) as _,
                )
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
                Some(item)
            }
        })
    }

    async fn calendars(&self) -> Result<Vec<YearCalendar>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<YearCalendar>" FROM calendars ORDER BY year"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(c)| c).collect())
    }

    async fn put_calendar(&self, calendar: &YearCalendar) -> Result<(), StoreError> {
        sqlx::query!(
            "INSERT INTO calendars (year, body) VALUES ($1, $2)
             ON CONFLICT (year) DO UPDATE SET body = EXCLUDED.body",
            calendar.year,
            Json(calendar) as _,
        )
        .execute(&self.pool)
        .await
        .map_err(engine)?;
        Ok(())
    }

    async fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let found = sqlx::query_scalar!(
            r#"SELECT body AS "body: Json<KeyRecord>" FROM signing_keys
               ORDER BY created_at, thumbprint"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)?;
        Ok(found.into_iter().map(|Json(k)| k).collect())
    }

    async fn put_key_records(&self, change: &KeyRingWrite<'_>) -> Result<(), StoreError> {
        in_transaction!(self, |tx| {
            // Key ring writers take turns (readers do not wait): the ring checked is the ring
            // written over.
            sqlx::query!("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
            let stored =
                sqlx::query_scalar!(r#"SELECT body AS "body: Json<KeyRecord>" FROM signing_keys"#)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(engine)?;
            let stored: Vec<KeyRecord> = stored.into_iter().map(|Json(k)| k).collect();
            if !change.decided_on(&stored) {
                return Err(Conflict::Changed("the key ring".into()).into());
            }
            for record in change.written {
                sqlx::query!(
                    "INSERT INTO signing_keys (thumbprint, created_at, body) VALUES ($1, $2, $3)
                     ON CONFLICT (thumbprint) DO UPDATE SET body = EXCLUDED.body",
                    record.thumbprint,
                    record.created_at,
                    Json(record) as _,
                )
                .execute(&mut *tx)
                .await
                .map_err(engine)?;
            }
            if let Some(sealed) = change.sealed {
                insert_sealed(&mut tx, sealed).await?;
            }
        })
    }

    async fn sealed_keys(&self) -> Result<Vec<SealedKey>, StoreError> {
        sqlx::query_as!(
            SealedKey,
            "SELECT thumbprint, kek_id, sealed_at, nonce, ciphertext FROM sealed_keys
             ORDER BY thumbprint"
        )
        .fetch_all(&self.pool)
        .await
        .map_err(engine)
    }

    async fn replace_sealed_key(
        &self,
        read: Option<&SealedKey>,
        sealed: &SealedKey,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| {
            let stored = sqlx::query_as!(
                SealedKey,
                "SELECT thumbprint, kek_id, sealed_at, nonce, ciphertext FROM sealed_keys
                 WHERE thumbprint = $1 FOR UPDATE",
                sealed.thumbprint,
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(engine)?;
            if stored.as_ref() != read {
                return Err(Conflict::Changed("the sealed key".into()).into());
            }
            insert_sealed(&mut tx, sealed).await?;
        })
    }

    async fn records(
        &self,
        sort: Sort,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.page(sort, after, limit).await
    }

    async fn put_record(&self, record: &Record) -> Result<bool, StoreError> {
        self.put(record).await
    }

    async fn copy_records(&self, _into: &Path) -> Result<RecordsCopy, StoreError> {
        Err(StoreError::Unsupported(
            "备份 PostgreSQL 存储请使用 pg_dump / back up a PostgreSQL store with pg_dump (its own consistent snapshot)",
        ))
    }
}
