//! How the sled store lives through a failed write (a full disk, an I/O error): the failure
//! is kept for `ping`, and once the file system has room again the database is closed and
//! reopened, which is what sled 0.34 needs to write again; plus the clean-up that lets sled
//! open after a snapshot died half-way.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::{SledStore, Trees};
use crate::store::StoreError;
use crate::store::free_space::{ROOM_TO_RESUME, free_bytes};

impl SledStore {
    /// Opens the store in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let trees = Trees::open(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            trees: Arc::new(RwLock::new(Some(Arc::new(trees)))),
            failure: Arc::new(Mutex::new(None)),
            reopening: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The open trees, or why there are none (while they are being reopened).
    pub(super) fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        self.trees
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                StoreError::Unavailable(
                    self.failure()
                        .unwrap_or_else(|| "the store is being reopened".to_owned()),
                )
            })
    }

    pub(super) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Notes how a write went: an engine failure is kept for `ping` and starts a reopen; a
    /// success clears it.
    pub(super) fn observed<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let failed = {
            let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            match &result {
                Ok(_) => {
                    *failure = None;
                    false
                }
                // The engine failing, as opposed to a refusal or a conflict.
                Err(e @ StoreError::Engine(_)) => {
                    let reason = e.to_string();
                    tracing::error!(%reason, "a store write failed in the engine");
                    *failure = Some(reason);
                    true
                }
                Err(_) => false,
            }
        };
        if failed {
            self.reopen_in_background();
        }
        result
    }

    /// Once the file system has room again, closes the database (when the requests using it
    /// are done) and opens it again. One reopen at a time; none without a tokio runtime.
    fn reopen_in_background(&self) {
        if self.reopening.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.reopening.store(false, Ordering::SeqCst);
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            // Opening sled on a full disk damages its snapshot: wait for room first.
            while free_bytes(&store.dir).is_some_and(|free| free < ROOM_TO_RESUME) {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let old = store
                .trees
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(mut old) = old {
                // sled holds a lock on its directory until its last handle is gone.
                loop {
                    match Arc::try_unwrap(old) {
                        Ok(trees) => {
                            drop(trees);
                            break;
                        }
                        Err(shared) => {
                            old = shared;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }
            loop {
                let dir = store.dir.clone();
                match tokio::task::spawn_blocking(move || Trees::open(&dir)).await {
                    Ok(Ok(trees)) => {
                        *store.trees.write().unwrap_or_else(PoisonError::into_inner) =
                            Some(Arc::new(trees));
                        tracing::warn!("store reopened after a failed write");
                        break;
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "reopening the store"),
                    Err(e) => tracing::error!(error = %e, "reopening the store"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            store.reopening.store(false, Ordering::SeqCst);
        });
    }
}

/// Removes the empty `snap.*.generating` files a snapshot that failed half-way (a full disk)
/// leaves behind: sled 0.34 reads them at the next open and refuses the store ("Read corrupted
/// data") even once space is free again. An empty file holds nothing to lose.
pub(super) fn remove_empty_snapshots(dir: &Path) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::Engine(Box::new(e))),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let empty = entry.metadata().is_ok_and(|m| m.is_file() && m.len() == 0);
        if name.starts_with("snap.") && name.ends_with(".generating") && empty {
            tracing::warn!(file = %name, "removing an empty, unfinished sled snapshot");
            std::fs::remove_file(entry.path()).map_err(|e| StoreError::Engine(Box::new(e)))?;
        }
    }
    Ok(())
}
