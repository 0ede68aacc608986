//! A copy of every tree, made between two writes, and a new store written from one.
//!
//! The copy is a file of frames: a header line, then for each entry of each tree (the
//! default tree included; in no particular order) `1`, the tree's name (u16 length), the key
//! and the value (u32 lengths, big-endian), and at the end `0` and the number of entries
//! (u64), so that a truncated copy is told from a whole one. Values are copied as stored (a schema version
//! and JSON, see `codec`), so a restore holds exactly what the store held, indexes included.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::decode;
use super::{SledStore, Trees};
use crate::domain::submission::Submission;
use crate::store::{RecordCounts, RecordsCopy, StoreError};

const HEADER: &[u8] = b"onetrip sled records 1\n";
const ENTRY: u8 = 1;
const END: u8 = 0;
/// The largest key or value a copy may hold (a certificate's PDF is far smaller): a damaged
/// length cannot make a restore allocate more.
const MAX_LENGTH: u32 = 256 << 20;

fn io_error(e: io::Error) -> StoreError {
    StoreError::Engine(Box::new(e))
}

impl Trees {
    /// Copies every tree into `into`, as of one instant between two writes, and answers what
    /// the copy holds. A certificate's PDF and photo, the bulk of a store, are stored with it
    /// and never changed: they are copied first while writes go on, and then, while writes
    /// wait, the rest, with the PDFs and photos of the certificates stored meanwhile (looked
    /// up by the certificates' keys, so that this part costs what changed, not the store).
    pub(super) async fn copy_records(
        self: Arc<Self>,
        into: &Path,
    ) -> Result<RecordsCopy, StoreError> {
        let into = into.to_owned();
        let trees = Arc::clone(&self);
        let (mut out, copied) = tokio::task::spawn_blocking(move || {
            let file = File::create(&into).map_err(io_error)?;
            let mut out = Frames::new(BufWriter::with_capacity(1 << 20, file))?;
            let mut copied = [HashSet::new(), HashSet::new()];
            for (tree, keys) in trees.attached().into_iter().zip(&mut copied) {
                let name = tree.name();
                for entry in tree.iter() {
                    let (key, value) = entry?;
                    out.entry(&name, &key, &value)?;
                    keys.insert(key);
                }
            }
            Ok::<_, StoreError>((out, copied))
        })
        .await
        .map_err(|e| StoreError::Engine(Box::new(e)))??;
        let _gate = Arc::clone(&self.gate).lock_owned().await;
        let paused = Instant::now();
        tokio::task::spawn_blocking(move || {
            let attached = self.attached();
            let attached_names = attached.map(|t| t.name());
            let certificates = self.certificates.name();
            for name in self.db.tree_names() {
                if attached_names.contains(&name) {
                    continue;
                }
                let tree = self.db.open_tree(&name)?;
                for entry in tree.iter() {
                    let (key, value) = entry?;
                    out.entry(&name, &key, &value)?;
                    if name != certificates {
                        continue;
                    }
                    for ((tree, tree_name), keys) in
                        attached.iter().zip(&attached_names).zip(&copied)
                    {
                        if !keys.contains(&key) {
                            if let Some(value) = tree.get(&key)? {
                                out.entry(tree_name, &key, &value)?;
                            }
                        }
                    }
                }
            }
            out.finish()?;
            let mut copy = self.inventory()?;
            copy.writes_waited = paused.elapsed();
            Ok(copy)
        })
        .await
        .map_err(|e| StoreError::Engine(Box::new(e)))?
    }

    /// The trees keyed by certificate whose entries are stored with the certificate and never
    /// changed or removed: its PDF and its photo.
    fn attached(&self) -> [&sled::Tree; 2] {
        [&self.pdfs, &self.photos]
    }

    /// How many records of each sort the trees hold, and the material files named.
    fn inventory(&self) -> Result<RecordsCopy, StoreError> {
        let mut materials = Vec::new();
        for entry in self.submissions.iter() {
            let (key, value) = entry?;
            let submission: Submission = decode(&key, &value)?;
            for material in submission.materials {
                if let Some(upload) = material.upload {
                    materials.push((submission.id.clone(), upload));
                }
            }
        }
        let count = |tree: &sled::Tree| tree.len() as u64;
        Ok(RecordsCopy {
            engine: SledStore::ENGINE,
            counts: RecordCounts {
                submissions: count(&self.submissions),
                events: count(&self.events),
                certificates: count(&self.certificates),
                tokens: count(&self.tokens),
                signing_keys: count(&self.keys),
                service_items: count(&self.services),
                calendars: count(&self.calendars),
            },
            materials,
            key_records: self.key_records()?,
            writes_waited: Duration::ZERO,
        })
    }
}

fn too_long(what: &str) -> StoreError {
    StoreError::Encode(format!("a {what} too long to copy"))
}

/// The copy's frames, as they are written.
struct Frames {
    out: BufWriter<File>,
    entries: u64,
}

impl Frames {
    fn new(mut out: BufWriter<File>) -> Result<Self, StoreError> {
        out.write_all(HEADER).map_err(io_error)?;
        Ok(Self { out, entries: 0 })
    }

    fn entry(&mut self, tree: &[u8], key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let name_length = u16::try_from(tree.len()).map_err(|_| too_long("tree name"))?;
        self.out.write_all(&[ENTRY]).map_err(io_error)?;
        self.out
            .write_all(&name_length.to_be_bytes())
            .map_err(io_error)?;
        self.out.write_all(tree).map_err(io_error)?;
        for bytes in [key, value] {
            let length = u32::try_from(bytes.len()).map_err(|_| too_long("value"))?;
            self.out
                .write_all(&length.to_be_bytes())
                .map_err(io_error)?;
            self.out.write_all(bytes).map_err(io_error)?;
        }
        self.entries += 1;
        Ok(())
    }

    /// Ends the copy with its number of entries. (It is read back by the process that wrote
    /// it, so it is not made durable: writes would wait for that.)
    fn finish(mut self) -> Result<(), StoreError> {
        self.out.write_all(&[END]).map_err(io_error)?;
        self.out
            .write_all(&self.entries.to_be_bytes())
            .map_err(io_error)?;
        self.out.flush().map_err(io_error)
    }
}

impl SledStore {
    /// The name of this engine's copies ([`crate::store::RecordsCopy::engine`]).
    pub const ENGINE: &'static str = "sled";

    /// Writes the copy in `from` into a new store in `to` (missing or empty), then opens it
    /// as the service would and answers what it holds.
    pub fn restore(from: &Path, to: &Path) -> Result<RecordsCopy, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            key: from.display().to_string(),
            reason: reason.to_owned(),
        };
        let mut input = BufReader::with_capacity(1 << 20, File::open(from).map_err(io_error)?);
        let mut header = vec![0; HEADER.len()];
        input
            .read_exact(&mut header)
            .map_err(|_| corrupt("not a copy of sled records"))?;
        if header != HEADER {
            return Err(corrupt("not a copy of sled records"));
        }
        let db = sled::Config::new().path(to).open()?;
        let mut trees: HashMap<Vec<u8>, sled::Tree> = HashMap::new();
        let mut entries: u64 = 0;
        let truncated = |_| corrupt("the copy ends before its last entry");
        loop {
            let mut tag = [0u8; 1];
            input.read_exact(&mut tag).map_err(truncated)?;
            match tag[0] {
                ENTRY => {
                    let mut length = [0u8; 2];
                    input.read_exact(&mut length).map_err(truncated)?;
                    let mut name = vec![0; usize::from(u16::from_be_bytes(length))];
                    input.read_exact(&mut name).map_err(truncated)?;
                    let key = read_bytes(&mut input).map_err(truncated)?;
                    let value = read_bytes(&mut input).map_err(truncated)?;
                    let tree = match trees.get(&name) {
                        Some(tree) => tree.clone(),
                        None => {
                            let tree = db.open_tree(&name)?;
                            trees.insert(name, tree.clone());
                            tree
                        }
                    };
                    tree.insert(key, value)?;
                    entries += 1;
                }
                END => {
                    let mut count = [0u8; 8];
                    input.read_exact(&mut count).map_err(truncated)?;
                    if u64::from_be_bytes(count) != entries {
                        return Err(corrupt("the copy holds another number of entries"));
                    }
                    break;
                }
                _ => return Err(corrupt("a damaged entry")),
            }
        }
        db.flush()?;
        drop(trees);
        // Opened as the service would open it (the same database: a second open of the
        // directory in this process could find it still locked).
        Trees::over(db)?.inventory()
    }
}

/// A length-prefixed key or value.
fn read_bytes(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    input.read_exact(&mut length)?;
    let length = u32::from_be_bytes(length);
    if length > MAX_LENGTH {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "length"));
    }
    let mut bytes = vec![0; length as usize];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}
