//! Material files on disk, under `<data>/materials/<submission>/<random name>`. A file is
//! streamed into `tmp/`, hashed as it arrives, fsynced and only then renamed into place, so
//! a file that is visible is always whole and its digest is the one recorded.

use std::io;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use chrono::Utc;
use futures_util::Stream;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::io::Write;

use crate::body::{ReceiveError, discard_rest, next_chunk};
use crate::domain::submission::StoredFile;
use crate::domain::{Sha256Digest, SubmissionId};

/// Writes reach the disk in blocks of this size; hashing happens on the same blocks.
const WRITE_BLOCK: usize = 1 << 20;
/// Blocks received but not yet written: bounds an upload's memory to a few MiB.
const WRITE_QUEUE: usize = 4;

#[derive(Debug, Clone)]
pub struct MaterialFiles {
    root: PathBuf,
}

fn random_name() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl MaterialFiles {
    /// Opens `<data>/materials`, removing partial uploads a crash may have left in `tmp/`.
    pub fn open(data: &Path) -> io::Result<Self> {
        let root = data.join("materials");
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { root })
    }

    pub fn path(&self, submission: &SubmissionId, file: &str) -> PathBuf {
        self.root.join(submission.as_str()).join(file)
    }

    /// Streams `body` to disk through SHA-256. Over `limit` bytes, or if the body breaks off,
    /// nothing of the partial file is left behind.
    pub async fn receive<S, E>(
        &self,
        submission: &SubmissionId,
        body: S,
        limit: u64,
    ) -> Result<StoredFile, ReceiveError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let tmp = self.root.join("tmp").join(random_name());
        let result = self.write_and_hash(&tmp, body, limit).await;
        let (sha256, size) = match result {
            Ok(done) => done,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let dir = self.root.join(submission.as_str());
        let name = random_name();
        let placed = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::rename(&tmp, dir.join(&name)).await?;
            tokio::fs::File::open(&dir).await?.sync_all().await
        }
        .await;
        if let Err(e) = placed {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        Ok(StoredFile {
            sha256,
            size,
            file: name,
            uploaded_at: Utc::now(),
        })
    }

    /// Receives on the async side and hashes + writes on a blocking thread, one block behind:
    /// the network, SHA-256 and the disk then work at the same time instead of in turn.
    async fn write_and_hash<S, E>(
        &self,
        path: &Path,
        body: S,
        limit: u64,
    ) -> Result<(Sha256Digest, u64), ReceiveError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let file = tokio::fs::File::create(path).await?.into_std().await;
        let (blocks, mut to_write) = tokio::sync::mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
        let writer = tokio::task::spawn_blocking(move || {
            let mut file = file;
            let mut hasher = Sha256::new();
            while let Some(block) = to_write.blocking_recv() {
                hasher.update(&block);
                file.write_all(&block)?;
            }
            file.sync_all()?;
            Ok::<_, std::io::Error>(Sha256Digest::from_hasher(hasher))
        });
        let received = async {
            let mut size: u64 = 0;
            let mut block = Vec::with_capacity(WRITE_BLOCK);
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = next_chunk(&mut body).await? {
                size += chunk.len() as u64;
                if size > limit {
                    discard_rest(&mut body).await;
                    return Err(ReceiveError::TooLarge { limit });
                }
                block.extend_from_slice(&chunk);
                if block.len() >= WRITE_BLOCK {
                    let full = std::mem::replace(&mut block, Vec::with_capacity(WRITE_BLOCK));
                    if blocks.send(full).await.is_err() {
                        break;
                    }
                }
            }
            // If the writer stopped early, its own error is reported below.
            let _ = blocks.send(block).await;
            Ok(size)
        }
        .await;
        drop(blocks);
        let written = writer
            .await
            .map_err(|e| ReceiveError::Io(std::io::Error::other(e)))?;
        let size = received?;
        Ok((written?, size))
    }

    /// Reads a stored material file of at most `limit` bytes; `None` if it is larger.
    pub async fn read(
        &self,
        submission: &SubmissionId,
        file: &str,
        limit: u64,
    ) -> io::Result<Option<Vec<u8>>> {
        let path = self.path(submission, file);
        if tokio::fs::metadata(&path).await?.len() > limit {
            return Ok(None);
        }
        tokio::fs::read(path).await.map(Some)
    }

    /// Deletes a file that no longer belongs to any material (a replaced upload).
    pub async fn remove(&self, submission: &SubmissionId, file: &str) {
        if let Err(e) = tokio::fs::remove_file(self.path(submission, file)).await {
            tracing::warn!(%submission, file, error = %e, "could not delete a replaced material file");
        }
    }
}
