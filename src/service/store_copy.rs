//! `onetrip store copy`: every record of one store written into another, sort by sort and
//! page by page, then checked record by record. A copy cut short runs again from the start
//! and skips what the target already holds (equal records); a target that holds a record
//! differently stops it, naming the record.

use sha2::{Digest, Sha256};

use super::{ErrorKind, ServiceError};
use crate::domain::Role;
use crate::domain::actor::Actor;
use crate::store::{Record, Sort, Store};

/// Records read and written at a time.
const PAGE: usize = 200;

/// What a copy did with the records of one sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub sort: Sort,
    /// Written into the target.
    pub written: u64,
    /// Already there, equal (a copy resumed).
    pub already: u64,
}

/// Copies every record of `from` into `to` (an admin, or the operator at the command line),
/// telling `progress` after each page.
pub async fn copy(
    actor: &Actor,
    from: &dyn Store,
    to: &dyn Store,
    mut progress: impl FnMut(&Tally),
) -> Result<Vec<Tally>, ServiceError> {
    actor.require(&[Role::Admin])?;
    let mut tallies = Vec::with_capacity(Sort::ALL.len());
    for sort in Sort::ALL {
        let mut tally = Tally {
            sort,
            written: 0,
            already: 0,
        };
        let mut after: Option<String> = None;
        loop {
            let page = from.records(sort, after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.key());
            for record in &page {
                match to.put_record(record).await? {
                    true => tally.written += 1,
                    false => tally.already += 1,
                }
            }
            progress(&tally);
        }
        tallies.push(tally);
    }
    Ok(tallies)
}

/// Checks that `to` holds exactly the records of `from`, sort by sort in key order, and that
/// every certificate's PDF has the digest its record states; answers how many of each sort.
pub async fn verify(
    actor: &Actor,
    from: &dyn Store,
    to: &dyn Store,
) -> Result<Vec<(Sort, u64)>, ServiceError> {
    actor.require(&[Role::Admin])?;
    let mut counts = Vec::with_capacity(Sort::ALL.len());
    for sort in Sort::ALL {
        let mut count = 0u64;
        let mut after: Option<String> = None;
        loop {
            let theirs = from.records(sort, after.as_deref(), PAGE).await?;
            let ours = to.records(sort, after.as_deref(), PAGE).await?;
            if let Some(at) = theirs.iter().zip(&ours).position(|(a, b)| a != b) {
                return Err(mismatch(format!(
                    "{} {} differs in the copy",
                    sort.name(),
                    theirs[at].key()
                )));
            }
            if theirs.len() != ours.len() {
                let extra = match theirs.len() > ours.len() {
                    true => format!("{} is missing from the copy", theirs[ours.len()].key()),
                    false => format!("the copy has {} besides", ours[theirs.len()].key()),
                };
                return Err(mismatch(format!("{}: {extra}", sort.name())));
            }
            for record in &ours {
                if let Record::Certificate {
                    certificate, pdf, ..
                } = record
                    && hex::encode(Sha256::digest(pdf)) != certificate.pdf_sha256.as_str()
                {
                    return Err(mismatch(format!(
                        "the PDF of {} does not have its recorded digest",
                        certificate.content.id
                    )));
                }
            }
            count += ours.len() as u64;
            let Some(last) = ours.last() else { break };
            after = Some(last.key());
        }
        counts.push((sort, count));
    }
    Ok(counts)
}

fn mismatch(message: String) -> ServiceError {
    ServiceError::new(
        ErrorKind::Conflict,
        "copy_differs",
        format!("副本与原存储不一致 / the copy differs from its source: {message}"),
    )
}
