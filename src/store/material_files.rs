//! Material files on disk, under `materials_dir/<submission>/<random name>` (by default
//! `<data>/materials`; several nodes may share it on a shared file system). A file is
//! streamed into `tmp/`, hashed as it arrives, fsynced and only then renamed into place (and
//! the directory fsynced), so a file that is visible is always whole and its digest is the
//! one recorded.
//!
//! Like the sled store, the material files watch their own writes: a write that fails (a
//! full disk, an I/O error) is kept and reported by [`MaterialFiles::ping`] (so `/healthz`
//! says 503 with the reason), and while the file system has no room again every upload is
//! refused at once instead of failing half-way. Room coming back (4 MiB free, as the sled
//! store waits for) or a later successful write clears the report: the service recovers
//! without a restart.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use chrono::Utc;
use futures_util::Stream;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::io::Write;

use super::free_space::{self, free_bytes};
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
    /// Why the last write failed, until room comes back or a write succeeds again.
    failure: Arc<Mutex<Option<WriteFailure>>>,
    removals: Arc<Mutex<Removals>>,
}

/// Files are removed only while no backup is reading them: a backup holds removals back
/// ([`MaterialFiles::hold_removals`]), one backup at a time, and what was to be removed
/// meanwhile is removed when the hold ends.
#[derive(Debug, Default)]
struct Removals {
    held: bool,
    deferred: Vec<PathBuf>,
}

/// While it lives, no material file is removed (a replaced upload's file stays until it
/// ends), so every file a copy of the records names can still be read.
#[derive(Debug)]
pub struct RemovalHold {
    removals: Arc<Mutex<Removals>>,
}

impl Drop for RemovalHold {
    fn drop(&mut self) {
        let deferred = {
            let mut removals = self.removals.lock().unwrap_or_else(PoisonError::into_inner);
            removals.held = false;
            std::mem::take(&mut removals.deferred)
        };
        for path in deferred {
            remove_file(&path);
        }
    }
}

fn remove_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "could not delete a replaced material file");
    }
}

#[derive(Debug, Clone)]
struct WriteFailure {
    reason: String,
    /// The file system was full (ENOSPC): uploads wait for room instead of trying. Other
    /// failures (a quota, which `statvfs` does not show; an I/O error) are only cleared by
    /// a write that succeeds, so uploads keep trying.
    out_of_room: bool,
}

/// Why a material file was not stored.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The body could not be taken: over its limit, or broken off.
    #[error(transparent)]
    Body(ReceiveError),
    /// Material files cannot be written now (a full disk, an I/O error): the reason.
    #[error("material files cannot be written: {0}")]
    Unavailable(String),
    /// The disk has room, but less than the declared file needs: waiting will not help.
    #[error("{0}")]
    NoRoomFor(String),
}

/// How long a partial file in `tmp/` stays untouched before a start takes it for one a dead
/// process left. An upload in progress touches its file with every chunk, and no request
/// lives this long (`limits.request_timeout_secs` is an hour by default).
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn random_name() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl MaterialFiles {
    /// Opens the material files in `root`, removing the partial files a process that died
    /// left in `tmp/`: those untouched for [`ABANDONED_AFTER`]. Younger ones may be another
    /// node's uploads in progress when several nodes share the directory.
    pub fn open(root: &Path) -> io::Result<Self> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        for entry in std::fs::read_dir(&tmp)? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            let abandoned = metadata
                .modified()?
                .elapsed()
                .is_ok_and(|age| age > ABANDONED_AFTER);
            if !abandoned {
                continue;
            }
            match metadata.is_dir() {
                true => std::fs::remove_dir_all(entry.path())?,
                false => std::fs::remove_file(entry.path())?,
            }
        }
        Ok(Self {
            root: root.to_owned(),
            failure: Arc::default(),
            removals: Arc::default(),
        })
    }

    /// Holds removals back until the answer is dropped (see [`RemovalHold`]); `None` while
    /// another hold lives.
    pub fn hold_removals(&self) -> Option<RemovalHold> {
        let mut removals = self.removals.lock().unwrap_or_else(PoisonError::into_inner);
        if removals.held {
            return None;
        }
        removals.held = true;
        Some(RemovalHold {
            removals: Arc::clone(&self.removals),
        })
    }

    /// A new file for scratch work on the data's own disk, in `tmp/`, which the next start
    /// empties if the process dies before the file is dropped.
    pub fn scratch_file(&self) -> io::Result<tempfile::TempPath> {
        Ok(tempfile::Builder::new()
            .prefix("scratch-")
            .tempfile_in(self.root.join("tmp"))?
            .into_temp_path())
    }

    /// Whether material files can be written: the reason the last write failed, unless the
    /// file system has room again since then.
    pub fn ping(&self) -> Result<(), FilesError> {
        match self.failure() {
            Some(failure) => Err(FilesError::Unavailable(failure.reason)),
            None => Ok(()),
        }
    }

    /// Refuses a file of `size` bytes (0 if not known) before any of it is read when it
    /// cannot be stored: the disk filled up and has no room yet, or has less than `size`.
    /// A disk found as full as a failed write would find it is reported like one.
    pub fn room_for(&self, size: u64) -> Result<(), FilesError> {
        if let Some(failure) = self.failure().filter(|f| f.out_of_room) {
            return Err(FilesError::Unavailable(failure.reason));
        }
        match free_bytes(&self.root) {
            Some(free) if free < size => {
                let reason =
                    format!("not enough space: {free} bytes free for a file of {size} bytes");
                if free < free_space::ROOM_TO_RESUME {
                    self.record(reason.clone(), true);
                    return Err(FilesError::Unavailable(reason));
                }
                Err(FilesError::NoRoomFor(reason))
            }
            _ => Ok(()),
        }
    }

    /// The failure that still holds: a full disk's is dropped once it has room again.
    fn failure(&self) -> Option<WriteFailure> {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        let room_back = failure.as_ref().is_some_and(|f| f.out_of_room)
            && free_bytes(&self.root).is_some_and(|free| free >= free_space::ROOM_TO_RESUME);
        if room_back {
            tracing::warn!("material files have room again");
            *failure = None;
        }
        failure.clone()
    }

    /// Keeps a write's failure for `ping` and answers it as the upload's error.
    fn failed(&self, e: io::Error) -> FilesError {
        let reason = e.to_string();
        self.record(reason.clone(), e.raw_os_error() == Some(libc::ENOSPC));
        FilesError::Unavailable(reason)
    }

    fn record(&self, reason: String, out_of_room: bool) {
        tracing::error!(%reason, "material files cannot be written");
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(WriteFailure {
            reason,
            out_of_room,
        });
    }

    fn succeeded(&self) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.take().is_some() {
            tracing::warn!("material files are written again");
        }
    }

    pub fn path(&self, submission: &SubmissionId, file: &str) -> PathBuf {
        self.root.join(submission.as_str()).join(file)
    }

    /// Streams `body` to disk through SHA-256. Over `limit` bytes, if the body breaks off or
    /// if the disk fails, nothing of the partial file is left behind; a failed write is kept
    /// for [`Self::ping`], and while the disk has no room every file is refused at once.
    pub async fn receive<S, E>(
        &self,
        submission: &SubmissionId,
        body: S,
        limit: u64,
    ) -> Result<StoredFile, FilesError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        self.room_for(0)?;
        let tmp = self.root.join("tmp").join(random_name());
        let result = self.write_and_hash(&tmp, body, limit).await;
        let (sha256, size) = match result {
            Ok(done) => done,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(match e {
                    ReceiveError::Io(e) => self.failed(e),
                    other => FilesError::Body(other),
                });
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
            // Renamed but not made durable: not recorded either, so it goes too.
            let _ = tokio::fs::remove_file(&tmp).await;
            let _ = tokio::fs::remove_file(dir.join(&name)).await;
            return Err(self.failed(e));
        }
        self.succeeded();
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

    /// Deletes a file that no longer belongs to any material (a replaced upload), now or,
    /// while a backup runs, when it ends.
    pub async fn remove(&self, submission: &SubmissionId, file: &str) {
        let path = self.path(submission, file);
        {
            let mut removals = self.removals.lock().unwrap_or_else(PoisonError::into_inner);
            if removals.held {
                removals.deferred.push(path);
                return;
            }
        }
        if let Err(e) = tokio::fs::remove_file(&path).await {
            tracing::warn!(%submission, file, error = %e, "could not delete a replaced material file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file removed while a backup holds removals stays until the hold ends; one hold at
    /// a time.
    /// Opening removes the partial files a dead process left and keeps those another node
    /// may be writing now.
    #[test]
    fn opening_removes_only_abandoned_partial_files() {
        let root = tempfile::tempdir().unwrap();
        let tmp = root.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let (abandoned, live) = (tmp.join("abandoned"), tmp.join("live"));
        std::fs::write(&abandoned, b"part").unwrap();
        std::fs::write(&live, b"part").unwrap();
        let long_ago = std::time::SystemTime::now() - ABANDONED_AFTER * 2;
        std::fs::File::options()
            .write(true)
            .open(&abandoned)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        MaterialFiles::open(root.path()).unwrap();
        assert!(!abandoned.exists());
        assert!(live.exists());
    }

    #[tokio::test]
    async fn removals_wait_for_the_hold() {
        let data = tempfile::tempdir().unwrap();
        let files = MaterialFiles::open(data.path()).unwrap();
        let submission = SubmissionId::generate();
        let path = files.path(&submission, "f");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"material").unwrap();
        let hold = files.hold_removals().unwrap();
        assert!(files.hold_removals().is_none());
        files.remove(&submission, "f").await;
        assert!(path.exists());
        drop(hold);
        assert!(!path.exists());
        assert!(files.hold_removals().is_some());
        std::fs::write(&path, b"material").unwrap();
        files.remove(&submission, "f").await;
        assert!(!path.exists(), "with no hold a file goes at once");
    }
}
