//! Backups. A backup is a consistent copy of the records (as of one instant between two
//! writes), the signing keys and every material file the records name, with a manifest of
//! each file's size and SHA-256. A running service streams one as a tar
//! (`GET /api/v1/backup`); `onetrip backup` writes one into a directory, from a running
//! service or from a stopped store; `onetrip restore` checks one and makes a new data
//! directory of it.
//!
//! The layout, in the tar and in a backup directory alike:
//!
//! ```text
//! records                     the store's records, in its engine's own copy format
//! keys/<thumbprint>.pem       the signing keys' private halves
//! materials/<submission>/<f>  each material file the records name
//! manifest.json               last: what was written, with sizes and digests
//! ```
//!
//! The manifest comes last, its digests taken while the files were written, so a backup cut
//! short has none and is refused. Material files are removed only while no backup runs
//! (a replaced upload's file waits), so every file the copied records name can be read.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{ErrorKind, ServiceError};
use crate::domain::actor::Actor;
use crate::domain::{Role, Sha256Digest};
use crate::signing::{Custody, KeyRing};
use crate::store::{MaterialFiles, RecordCounts, RemovalHold, Store, restore_records};

/// The manifest's `format`.
pub const FORMAT: &str = "onetrip-backup";
const VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const RECORDS: &str = "records";
const KEYS: &str = "keys";
const MATERIALS: &str = "materials";
/// A manifest this large is not one of ours (10^6 files take about 150 MB).
const MAX_MANIFEST_BYTES: u64 = 512 << 20;

/// What a backup holds: every file with its size and digest, and how many records of each
/// sort its `records` file restores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub created_at: DateTime<Utc>,
    /// The onetrip version that made it.
    pub made_by: String,
    /// The store engine whose copy format `records` is in.
    pub engine: String,
    pub counts: RecordCounts,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: Sha256Digest,
}

/// A backup taken and not yet written: the records copied, the keys read, the material files
/// listed and held against removal until it is dropped.
pub struct Snapshot {
    created_at: DateTime<Utc>,
    writes_waited: std::time::Duration,
    engine: &'static str,
    counts: RecordCounts,
    records: tempfile::TempPath,
    keys: Vec<(String, Vec<u8>)>,
    /// Each material file: where it goes in the backup, where it is, its recorded digest.
    materials: Vec<(String, PathBuf, Sha256Digest)>,
    _hold: RemovalHold,
}

/// Takes a backup (admins; the CLI as the operator). Writes wait while the records are
/// copied; the files are read afterwards, when [`Snapshot::write_tar`] writes them.
pub async fn take(
    store: &dyn Store,
    files: &MaterialFiles,
    keys_dir: &Path,
    actor: &Actor,
) -> Result<Snapshot, ServiceError> {
    actor.require(&[Role::Admin])?;
    let hold = files.hold_removals().ok_or_else(|| {
        ServiceError::new(
            ErrorKind::Unavailable,
            "backup_running",
            "另一个备份正在进行，请在其结束后再试 / another backup is running; try again when it ends",
        )
    })?;
    let records = files.scratch_file().map_err(ServiceError::internal)?;
    let started = std::time::Instant::now();
    let copy = store.copy_records(&records).await?;
    let copied_at = Utc::now();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        writes_waited_ms = copy.writes_waited.as_millis() as u64,
        certificates = copy.counts.certificates,
        "records copied for a backup"
    );
    let keys = read_keys(keys_dir).map_err(ServiceError::internal)?;
    // A backup without the active key's private half would restore a service that cannot
    // start.
    KeyRing::open(
        copy.key_records.clone(),
        &[],
        &Custody::Files(keys_dir.to_owned()),
    )
    .map_err(ServiceError::internal)?;
    let materials = copy
        .materials
        .into_iter()
        .map(|(submission, stored)| {
            (
                format!("{MATERIALS}/{submission}/{}", stored.file),
                files.path(&submission, &stored.file),
                stored.sha256,
            )
        })
        .collect();
    Ok(Snapshot {
        created_at: copied_at,
        writes_waited: copy.writes_waited,
        engine: copy.engine,
        counts: copy.counts,
        records,
        keys,
        materials,
        _hold: hold,
    })
}

/// The private keys in the keys directory (`*.pem`), by file name; none before the first
/// start made one.
fn read_keys(keys_dir: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut keys = Vec::new();
    let entries = match fs::read_dir(keys_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Followed if a link (keys mounted from a secret store often are).
        if name.ends_with(".pem") && fs::metadata(entry.path())?.is_file() {
            keys.push((name, fs::read(entry.path())?));
        }
    }
    keys.sort();
    Ok(keys)
}

impl Snapshot {
    /// How many records of each sort it holds.
    pub fn counts(&self) -> &RecordCounts {
        &self.counts
    }

    /// How long writes waited while the records were copied.
    pub fn writes_waited(&self) -> std::time::Duration {
        self.writes_waited
    }

    /// The backup's file name for a download.
    pub fn file_name(&self) -> String {
        format!(
            "onetrip-backup-{}.tar",
            self.created_at.format("%Y%m%dT%H%M%SZ")
        )
    }

    /// Writes the backup to `out` as a tar (blocking): the records, the keys, the material
    /// files, and last the manifest of what was written. A material file that no longer has
    /// its recorded digest stops the backup: it would not restore what was approved.
    pub fn write_tar(self, out: impl Write) -> io::Result<Manifest> {
        let mut tar = tar::Builder::new(Poisonable {
            inner: out,
            poisoned: false,
        });
        let written = self.write_entries(&mut tar);
        if written.is_err() {
            // The builder ends the archive when dropped; a failed backup must not end as if
            // whole.
            tar.get_mut().poisoned = true;
        }
        written
    }

    fn write_entries(self, tar: &mut tar::Builder<impl Write>) -> io::Result<Manifest> {
        let mtime = u64::try_from(self.created_at.timestamp()).unwrap_or(0);
        let mut files = Vec::with_capacity(1 + self.keys.len() + self.materials.len());
        let records = File::open(&self.records)?;
        let size = records.metadata()?.len();
        files.push(append(tar, RECORDS, size, records, mtime)?);
        for (name, pem) in &self.keys {
            let path = format!("{KEYS}/{name}");
            files.push(append(tar, &path, pem.len() as u64, &pem[..], mtime)?);
        }
        for (path, source, recorded) in &self.materials {
            let file = File::open(source)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
            let size = file.metadata()?.len();
            let entry = append(tar, path, size, file, mtime)?;
            if entry.sha256 != *recorded {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: its SHA-256 is {}, the record says {}",
                        source.display(),
                        entry.sha256.as_str(),
                        recorded.as_str()
                    ),
                ));
            }
            files.push(entry);
        }
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            version: VERSION,
            created_at: self.created_at,
            made_by: format!("onetrip {}", env!("CARGO_PKG_VERSION")),
            engine: self.engine.to_owned(),
            counts: self.counts,
            files,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
        append(tar, MANIFEST, json.len() as u64, &json[..], mtime)?;
        tar.finish()?;
        tar.get_mut().flush()?;
        Ok(manifest)
    }
}

/// A writer that refuses every write once poisoned.
struct Poisonable<W> {
    inner: W,
    poisoned: bool,
}

impl<W: Write> Write for Poisonable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(io::Error::other("the backup failed"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Appends one regular file of `size` bytes, hashing it as it goes.
fn append(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    data: impl Read,
    mtime: u64,
) -> io::Result<FileEntry> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_size(size);
    let mut reader = Hashing::new(data.take(size));
    tar.append_data(&mut header, path, &mut reader)?;
    if reader.count != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{path}: {} of {size} bytes could be read", reader.count),
        ));
    }
    Ok(FileEntry {
        path: path.to_owned(),
        size,
        sha256: reader.digest(),
    })
}

/// A reader (or writer) that hashes and counts what goes through it.
struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    count: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn digest(self) -> Sha256Digest {
        Sha256Digest::from_hasher(self.hasher)
    }
}

impl<T: Read> Read for Hashing<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl<T: Write> Write for Hashing<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Blocks of a tar in flight between the thread that writes it and the one that sends or
/// reads it: memory stays at a few of them whatever the backup's size.
const BLOCK: usize = 256 << 10;
const BLOCKS_IN_FLIGHT: usize = 4;
/// A reader that takes no block for this long has gone: the backup is broken off, so that it
/// does not hold removals (and its scratch copy) for good.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A bounded pipe for a tar: what [`Snapshot::write_tar`] writes into the [`BlockWriter`]
/// comes out of the receiver in blocks (or [`BlockReader`] reads it back as a stream).
pub fn pipe() -> (BlockWriter, mpsc::Receiver<io::Result<Vec<u8>>>) {
    let (sender, receiver) = mpsc::channel(BLOCKS_IN_FLIGHT);
    let writer = BlockWriter {
        block: Vec::with_capacity(BLOCK),
        sender,
        runtime: tokio::runtime::Handle::current(),
    };
    (writer, receiver)
}

/// The writing end of [`pipe`], for a blocking thread: it waits while the reader is slower.
pub struct BlockWriter {
    block: Vec<u8>,
    sender: mpsc::Sender<io::Result<Vec<u8>>>,
    runtime: tokio::runtime::Handle,
}

impl BlockWriter {
    fn send(&mut self, item: io::Result<Vec<u8>>) -> io::Result<()> {
        let sent = self
            .runtime
            .block_on(tokio::time::timeout(SEND_TIMEOUT, self.sender.send(item)));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the reader went away",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the reader took nothing for {} s", SEND_TIMEOUT.as_secs()),
            )),
        }
    }

    /// Ends the stream with `error`, so that the reader sees a failure, not an end.
    pub fn fail(mut self, error: io::Error) {
        let _ = self.send(Err(error));
    }
}

impl Write for BlockWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        self.send(Ok(block))
    }
}

/// Blocks (of [`pipe`], or of a response) read as one stream, on a blocking thread.
pub struct BlockReader {
    receiver: mpsc::Receiver<io::Result<Vec<u8>>>,
    block: Vec<u8>,
    at: usize,
}

impl BlockReader {
    pub fn new(receiver: mpsc::Receiver<io::Result<Vec<u8>>>) -> Self {
        Self {
            receiver,
            block: Vec::new(),
            at: 0,
        }
    }
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            match self.receiver.blocking_recv() {
                Some(block) => {
                    self.block = block?;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads a backup's tar from `from` into `dir` (created; if it exists it must be empty),
/// checking every file against the manifest that ends it. Only regular files at the paths a
/// backup has are taken; anything else (a link, `..`, an absolute path) refuses the backup.
pub fn unpack(from: impl Read, to: &Path) -> anyhow::Result<Manifest> {
    let staging = staging_beside(to)?;
    let dir = staging.path();
    let mut archive = tar::Archive::new(from);
    let mut written = Vec::new();
    let mut manifest = None;
    let cut = "reading the backup (it ends before its manifest.json: cut short, or not a backup)";
    for entry in archive.entries().context(cut)? {
        let mut entry = entry.context(cut)?;
        let path = entry
            .path()
            .context("a file name in the backup")?
            .to_string_lossy()
            .into_owned();
        if manifest.is_some() {
            bail!("the backup goes on after its manifest ({path})");
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            bail!("{path}: not a regular file; a backup holds only files");
        }
        let target = dir.join(backup_path(&path)?);
        if path == MANIFEST {
            let mut json = Vec::new();
            entry
                .by_ref()
                .take(MAX_MANIFEST_BYTES + 1)
                .read_to_end(&mut json)
                .context("reading the manifest")?;
            manifest = Some(parse_manifest(&json)?);
            write_file(&target, &json[..]).context("writing the manifest")?;
            continue;
        }
        let (size, sha256) =
            write_file(&target, &mut entry).with_context(|| format!("{cut}: {path}"))?;
        written.push(FileEntry { path, size, sha256 });
    }
    let manifest =
        manifest.context("the backup ends before its manifest: it was cut short or is not one")?;
    if written != manifest.files {
        bail!(
            "the files of the backup are not those its manifest lists: {}",
            differences(&manifest.files, &written)
        );
    }
    place(staging, to)?;
    Ok(manifest)
}

/// Checks a backup directory: every file its manifest lists is there with its size and
/// digest, and nothing else is.
pub fn check(dir: &Path) -> anyhow::Result<Manifest> {
    let manifest_path = dir.join(MANIFEST);
    let size = fs::metadata(&manifest_path)
        .with_context(|| format!("reading {}: is it a backup?", manifest_path.display()))?
        .len();
    if size > MAX_MANIFEST_BYTES {
        bail!(
            "{} is larger than any backup's manifest",
            manifest_path.display()
        );
    }
    let json =
        fs::read(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = parse_manifest(&json)?;
    let mut found = Vec::with_capacity(manifest.files.len());
    for listed in &manifest.files {
        let path = dir.join(backup_path(&listed.path)?);
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = Hashing::new(file);
        io::copy(&mut reader, &mut io::sink())
            .with_context(|| format!("reading {}", path.display()))?;
        found.push(FileEntry {
            path: listed.path.clone(),
            size: reader.count,
            sha256: reader.digest(),
        });
    }
    if found != manifest.files {
        bail!(
            "{} does not hold what its manifest lists: {}",
            dir.display(),
            differences(&manifest.files, &found)
        );
    }
    let listed: std::collections::HashSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    for extra in files_under(dir)? {
        if extra != MANIFEST && !listed.contains(extra.as_str()) {
            bail!("{extra} is in {} but not in its manifest", dir.display());
        }
    }
    Ok(manifest)
}

/// What a restore made.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub materials: usize,
    pub keys: usize,
}

/// Makes the new data directory `to` (missing or empty) from the backup in `from`: checks the
/// backup, restores the records into a store, and copies the keys and every material file
/// the records name, each against its recorded digest. Nothing is left at `to` unless all
/// of it succeeded.
pub fn restore(from: &Path, to: &Path) -> anyhow::Result<Restored> {
    let manifest = check(from)?;
    let staging = staging_beside(to)?;
    let copy = restore_records(&manifest.engine, &from.join(RECORDS), staging.path())?;
    if copy.counts != manifest.counts {
        bail!(
            "the restored store holds {:?}, the manifest says {:?}",
            copy.counts,
            manifest.counts
        );
    }
    let digests: std::collections::HashMap<&str, &Sha256Digest> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), &f.sha256))
        .collect();
    // Each file is hashed again as it is copied: what was checked is what is restored.
    let copy_checked = |path: &str, expected: &Sha256Digest| -> anyhow::Result<()> {
        let source = File::open(from.join(path)).with_context(|| format!("opening {path}"))?;
        let (_, sha256) = write_file(&staging.path().join(path), source)?;
        if sha256 != *expected {
            bail!("{path} changed while it was restored");
        }
        Ok(())
    };
    let mut keys = 0;
    for file in &manifest.files {
        if file.path.starts_with(&format!("{KEYS}/")) {
            copy_checked(&file.path, &file.sha256)?;
            keys += 1;
        }
    }
    KeyRing::open(
        copy.key_records.clone(),
        &[],
        &Custody::Files(staging.path().join(KEYS)),
    ).context(
        "the backup lacks the private half of the active signing key: a service restored from it could not sign",
    )?;
    for (submission, stored) in &copy.materials {
        let path = format!("{MATERIALS}/{submission}/{}", stored.file);
        match digests.get(path.as_str()) {
            Some(&sha256) if *sha256 == stored.sha256 => copy_checked(&path, sha256)?,
            Some(sha256) => bail!(
                "{path}: the backup's file has SHA-256 {}, the record of {submission} says {}",
                sha256.as_str(),
                stored.sha256.as_str()
            ),
            None => bail!("{path}: a material of {submission} is missing from the backup"),
        }
    }
    place(staging, to)?;
    Ok(Restored {
        manifest,
        materials: copy.materials.len(),
        keys,
    })
}

fn parse_manifest(json: &[u8]) -> anyhow::Result<Manifest> {
    if json.len() as u64 > MAX_MANIFEST_BYTES {
        bail!("the manifest is larger than any backup's");
    }
    let manifest: Manifest =
        serde_json::from_slice(json).context("the manifest is not a backup's manifest")?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        bail!(
            "a manifest of {} version {}; this onetrip reads {FORMAT} version {VERSION}",
            manifest.format,
            manifest.version
        );
    }
    for file in &manifest.files {
        backup_path(&file.path)?;
    }
    Ok(manifest)
}

/// A path a backup may hold, as a relative path: `records`, `manifest.json`,
/// `keys/<name>.pem` or `materials/<submission>/<file>`, plain names only.
fn backup_path(path: &str) -> anyhow::Result<PathBuf> {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    let allowed = plain
        && parts.iter().all(|p| !p.is_empty())
        && match parts[..] {
            [RECORDS] | [MANIFEST] => true,
            [KEYS, name] => name.ends_with(".pem"),
            [MATERIALS, _, _] => true,
            _ => false,
        };
    if !allowed {
        bail!(
            "{}: not a path a backup holds",
            crate::domain::text::quoted(path)
        );
    }
    Ok(PathBuf::from(path))
}

/// Every file under `dir`, as `/`-separated paths relative to it.
fn files_under(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        for entry in fs::read_dir(&here).with_context(|| format!("reading {}", here.display()))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                files.push(path.to_string_lossy().into_owned());
            }
        }
    }
    Ok(files)
}

fn differences(expected: &[FileEntry], found: &[FileEntry]) -> String {
    let found: std::collections::HashMap<&str, &FileEntry> =
        found.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut problems: Vec<String> = expected
        .iter()
        .filter_map(|e| match found.get(e.path.as_str()) {
            None => Some(format!("{} is missing", e.path)),
            Some(f) if f.size != e.size => {
                Some(format!("{} has {} bytes, not {}", e.path, f.size, e.size))
            }
            Some(f) if f.sha256 != e.sha256 => Some(format!(
                "{} has SHA-256 {}, not {}",
                e.path,
                f.sha256.as_str(),
                e.sha256.as_str()
            )),
            Some(_) => None,
        })
        .collect();
    if problems.is_empty() {
        problems.push("files in another order or not listed".to_owned());
    }
    problems.truncate(5);
    problems.join("; ")
}

/// Whether `to` can be made a new directory: it is missing, or an empty directory (not a
/// link to one). A backup or a restore goes nowhere else.
pub fn check_target(to: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", to.display())),
        Ok(meta) if meta.is_dir() => {
            let mut entries =
                fs::read_dir(to).with_context(|| format!("reading {}", to.display()))?;
            if entries.next().is_some() {
                bail!("{} is not empty: give a new directory", to.display());
            }
            Ok(())
        }
        Ok(_) => bail!("{} exists and is not a directory", to.display()),
    }
}

/// A private directory beside `to` (on its file system) to fill and then move into place
/// whole ([`place`]); removed if dropped first.
fn staging_beside(to: &Path) -> anyhow::Result<tempfile::TempDir> {
    check_target(to)?;
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".onetrip-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?;
    fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o700))?;
    Ok(staging)
}

/// Makes every directory under `staging` durable and moves it to `to` (an empty directory
/// there is replaced), then makes the move durable.
fn place(staging: tempfile::TempDir, to: &Path) -> anyhow::Result<()> {
    sync_directories(staging.path())?;
    check_target(to)?;
    fs::rename(staging.path(), to).with_context(|| format!("moving into {}", to.display()))?;
    // Moved: nothing is left for the guard to remove.
    let _ = staging.keep();
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn sync_directories(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_directories(&entry.path())?;
        }
    }
    File::open(dir)?.sync_all()
}

/// Writes `data` into the new private file `path` (creating its directories), makes it
/// durable, and answers its size and digest.
fn write_file(path: &Path, mut data: impl Read) -> anyhow::Result<(u64, Sha256Digest)> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let mut out = Hashing::new(io::BufWriter::new(file));
    io::copy(&mut data, &mut out).with_context(|| format!("writing {}", path.display()))?;
    out.flush()?;
    let size = out.count;
    let Hashing { inner, hasher, .. } = out;
    inner
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((size, Sha256Digest::from_hasher(hasher)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `entries` (path, type, content) with the path written as given: `tar`'s own
    /// setters refuse `..`, as an attacker's tool would not.
    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(0o600);
            header.set_size(content.len() as u64);
            header.set_cksum();
            builder.append(&header, *content).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn manifest_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        serde_json::to_vec(&Manifest {
            format: FORMAT.to_owned(),
            version: VERSION,
            created_at: Utc::now(),
            made_by: "test".to_owned(),
            engine: "sled".to_owned(),
            counts: RecordCounts::default(),
            files: files
                .iter()
                .map(|(path, bytes)| FileEntry {
                    path: (*path).to_owned(),
                    size: bytes.len() as u64,
                    sha256: Sha256Digest::of(bytes),
                })
                .collect(),
        })
        .unwrap()
    }

    fn unpacked(tar: Vec<u8>) -> (tempfile::TempDir, anyhow::Result<Manifest>) {
        let dir = tempfile::tempdir().unwrap();
        let result = unpack(&tar[..], &dir.path().join("backup"));
        (dir, result)
    }

    #[test]
    fn a_whole_backup_unpacks_and_checks() {
        let manifest = manifest_of(&[("records", b"r"), ("keys/a.pem", b"k")]);
        let (dir, result) = unpacked(tar_of(&[
            ("records", tar::EntryType::Regular, b"r"),
            ("keys/a.pem", tar::EntryType::Regular, b"k"),
            (MANIFEST, tar::EntryType::Regular, &manifest),
        ]));
        assert_eq!(result.unwrap().files.len(), 2);
        assert_eq!(check(&dir.path().join("backup")).unwrap().files.len(), 2);
    }

    #[test]
    fn paths_out_of_the_backup_and_links_are_refused() {
        for path in [
            "../escaped",
            "/etc/passwd",
            "keys/../../x.pem",
            "materials/S1/../../x",
        ] {
            let (dir, result) = unpacked(tar_of(&[(path, tar::EntryType::Regular, b"x")]));
            let message = format!("{:#}", result.unwrap_err());
            assert!(
                message.contains("not a path a backup holds"),
                "{path}: {message}"
            );
            assert!(!dir.path().join("escaped").exists());
        }
        let (_, result) = unpacked(tar_of(&[("records", tar::EntryType::Symlink, b"")]));
        assert!(format!("{:#}", result.unwrap_err()).contains("not a regular file"));
    }

    #[test]
    fn a_file_unlike_its_manifest_or_after_it_is_refused() {
        let manifest = manifest_of(&[("records", b"r")]);
        let (_, result) = unpacked(tar_of(&[
            ("records", tar::EntryType::Regular, b"R"),
            (MANIFEST, tar::EntryType::Regular, &manifest),
        ]));
        assert!(format!("{:#}", result.unwrap_err()).contains("records has SHA-256"));
        let (_, result) = unpacked(tar_of(&[
            ("records", tar::EntryType::Regular, b"r"),
            (MANIFEST, tar::EntryType::Regular, &manifest),
            ("keys/late.pem", tar::EntryType::Regular, b"k"),
        ]));
        assert!(format!("{:#}", result.unwrap_err()).contains("after its manifest"));
        let (_, result) = unpacked(tar_of(&[("records", tar::EntryType::Regular, b"r")]));
        assert!(format!("{:#}", result.unwrap_err()).contains("ends before its manifest"));
    }
}
