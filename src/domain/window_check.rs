//! 核对制: compare the files an applicant brought to the window with the frozen manifest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{MaterialName, Sha256Digest};

/// One frozen material: what the window check compares the files brought in against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ManifestEntry {
    pub name: MaterialName,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// One file handed over at the window (or only its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The multipart part name, or the `name` given beside a digest.
    pub part: String,
    pub filename: Option<String>,
    pub sha256: Sha256Digest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Matched,
    Mismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialStatus {
    Matched,
    Missing,
    Altered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaterialResult {
    pub name: MaterialName,
    pub status: MaterialStatus,
    pub expected_sha256: Sha256Digest,
    pub actual_sha256: Option<Sha256Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Unexpected {
    pub part: String,
    pub filename: Option<String>,
    pub sha256: Sha256Digest,
}

/// The report as API.md shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WindowReport {
    pub outcome: Outcome,
    pub materials: Vec<MaterialResult>,
    pub unexpected: Vec<Unexpected>,
    pub checked_by: String,
    pub checked_at: DateTime<Utc>,
}

/// Compares by content first: a file whose digest is a frozen material's digest matches it
/// whatever its part name. A file that matches nothing but carries a material's name shows
/// that material as altered; anything else is unexpected. Unexpected files are reported but do
/// not block acceptance: every frozen material being present and intact is what 核对制 asks.
pub fn compare(
    manifest: &[ManifestEntry],
    presented: &[Presented],
    checked_by: String,
    checked_at: DateTime<Utc>,
) -> WindowReport {
    let matched: Vec<bool> = manifest
        .iter()
        .map(|m| presented.iter().any(|p| p.sha256 == m.sha256))
        .collect();
    let mut altered: Vec<Option<Sha256Digest>> = vec![None; manifest.len()];
    let mut unexpected = Vec::new();
    for file in presented {
        if manifest.iter().any(|m| m.sha256 == file.sha256) {
            continue;
        }
        let named = manifest.iter().position(|m| m.name.as_str() == file.part);
        match named {
            Some(i) if !matched[i] && altered[i].is_none() => {
                altered[i] = Some(file.sha256.clone());
            }
            _ => unexpected.push(Unexpected {
                part: file.part.clone(),
                filename: file.filename.clone(),
                sha256: file.sha256.clone(),
            }),
        }
    }
    let materials: Vec<MaterialResult> = manifest
        .iter()
        .zip(matched)
        .zip(altered)
        .map(|((entry, matched), altered)| {
            let expected = &entry.sha256;
            let (status, actual) = match (matched, altered) {
                (true, _) => (MaterialStatus::Matched, Some(expected.clone())),
                (false, Some(actual)) => (MaterialStatus::Altered, Some(actual)),
                (false, None) => (MaterialStatus::Missing, None),
            };
            MaterialResult {
                name: entry.name.clone(),
                status,
                expected_sha256: expected.clone(),
                actual_sha256: actual,
            }
        })
        .collect();
    let outcome = if materials
        .iter()
        .all(|m| m.status == MaterialStatus::Matched)
    {
        Outcome::Matched
    } else {
        Outcome::Mismatch
    };
    WindowReport {
        outcome,
        materials,
        unexpected,
        checked_by,
        checked_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Vec<ManifestEntry> {
        [
            ("营业执照", b"licence".as_slice()),
            ("法人身份证", b"id card"),
        ]
        .iter()
        .map(|(name, content)| ManifestEntry {
            name: MaterialName::parse(name).unwrap(),
            sha256: Sha256Digest::of(content),
            size: content.len() as u64,
        })
        .collect()
    }

    fn file(part: &str, content: &[u8]) -> Presented {
        Presented {
            part: part.into(),
            filename: Some(format!("{part}.pdf")),
            sha256: Sha256Digest::of(content),
        }
    }

    fn statuses(report: &WindowReport) -> Vec<MaterialStatus> {
        report.materials.iter().map(|m| m.status).collect()
    }

    #[test]
    fn all_present_under_any_part_names_is_a_match() {
        let report = compare(
            &manifest(),
            &[file("file1", b"id card"), file("whatever", b"licence")],
            "clerk".into(),
            Utc::now(),
        );
        assert_eq!(report.outcome, Outcome::Matched);
        assert_eq!(statuses(&report), [MaterialStatus::Matched; 2]);
        assert!(report.unexpected.is_empty());
    }

    #[test]
    fn altered_missing_and_unexpected_are_told_apart() {
        let report = compare(
            &manifest(),
            &[
                file("营业执照", b"licence, edited"),
                file("photo", b"holiday"),
            ],
            "clerk".into(),
            Utc::now(),
        );
        assert_eq!(report.outcome, Outcome::Mismatch);
        assert_eq!(
            statuses(&report),
            [MaterialStatus::Altered, MaterialStatus::Missing]
        );
        assert_eq!(
            report.materials[0].actual_sha256,
            Some(Sha256Digest::of(b"licence, edited"))
        );
        assert_eq!(report.materials[1].actual_sha256, None);
        assert_eq!(report.unexpected.len(), 1);
        assert_eq!(report.unexpected[0].part, "photo");
    }

    #[test]
    fn extra_files_are_listed_but_do_not_block_a_full_match() {
        let report = compare(
            &manifest(),
            &[
                file("a", b"licence"),
                file("b", b"id card"),
                file("营业执照", b"second copy, different"),
            ],
            "clerk".into(),
            Utc::now(),
        );
        assert_eq!(report.outcome, Outcome::Matched);
        assert_eq!(report.unexpected.len(), 1);
    }

    #[test]
    fn nothing_presented_is_all_missing() {
        let report = compare(&manifest(), &[], "clerk".into(), Utc::now());
        assert_eq!(report.outcome, Outcome::Mismatch);
        assert_eq!(statuses(&report), [MaterialStatus::Missing; 2]);
    }
}
