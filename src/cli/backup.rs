//! `onetrip backup` and `onetrip restore`: a backup written into a directory, from a running
//! service (`GET /api/v1/backup`) or a stopped store, and a new data directory made of one.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{failure, open_store};
use crate::config::Settings;
use crate::domain::actor::Actor;
use crate::service::backup::{self, BlockReader, Manifest};
use crate::store::MaterialFiles;

/// Writes a backup into `to`: asked of the service at `server` with the admin token in
/// `ONETRIP_TOKEN`, or read from the stopped store of `settings`. It is written beside `to`
/// and moved there whole, durable, once every file is checked: a backup that fails leaves
/// nothing.
pub async fn back_up(settings: &Settings, to: &Path, server: Option<&str>) -> anyhow::Result<()> {
    backup::check_target(to)?;
    let written = match server {
        Some(url) => from_server(url, to).await,
        None => from_stopped_store(settings, to).await,
    };
    let manifest = written.context(match server {
        Some(_) => "no backup was kept (if the service broke it off, its log says why)",
        None => "no backup was kept",
    })?;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    let c = &manifest.counts;
    println!(
        "backup of {} in {}: {} files, {bytes} bytes; {} certificates, {} submissions, {} signing keys, {} tokens",
        manifest.created_at.to_rfc3339(),
        to.display(),
        manifest.files.len() + 1,
        c.certificates,
        c.submissions,
        c.signing_keys,
        c.tokens
    );
    Ok(())
}

/// Makes the data directory `to` from the backup in `from`.
pub async fn restore(from: PathBuf, to: PathBuf) -> anyhow::Result<()> {
    let target = to.clone();
    let restored = tokio::task::spawn_blocking(move || backup::restore(&from, &to))
        .await
        .context("the restore stopped")??;
    let c = &restored.manifest.counts;
    println!(
        "restored the backup of {} into {}: {} certificates, {} submissions, {} material files, {} signing keys",
        restored.manifest.created_at.to_rfc3339(),
        target.display(),
        c.certificates,
        c.submissions,
        restored.materials,
        restored.keys
    );
    println!("start it with: onetrip serve --data {}", target.display());
    Ok(())
}

async fn from_stopped_store(settings: &Settings, to: &Path) -> anyhow::Result<Manifest> {
    // A mistyped --data must not make a new, empty store and back that up.
    if !settings.data.is_dir() {
        bail!(
            "no data directory at {} (--data, ONETRIP_DATA or `data` in the config)",
            settings.data.display()
        );
    }
    let store = open_store(settings).await?;
    let files = MaterialFiles::open(&settings.materials_dir())
        .with_context(|| format!("opening the material files in {}", settings.data.display()))?;
    let snapshot = backup::take(&*store, &files, &settings.keys_dir(), &Actor::operator())
        .await
        .map_err(failure)?;
    if snapshot.counts().signing_keys == 0 {
        bail!(
            "the store in {} has never been served (it has no signing key): is --data right?",
            settings.data.display()
        );
    }
    let to = to.to_owned();
    let (mut writer, receiver) = backup::pipe();
    let writing = tokio::task::spawn_blocking(move || match snapshot.write_tar(&mut writer) {
        Ok(_) => Ok(()),
        Err(e) => {
            let message = e.to_string();
            writer.fail(e);
            Err(anyhow::anyhow!("reading the store: {message}"))
        }
    });
    let unpacked =
        tokio::task::spawn_blocking(move || backup::unpack(BlockReader::new(receiver), &to));
    let written = writing.await.context("the backup stopped")?;
    let unpacked = unpacked.await.context("the backup stopped")?;
    written?;
    unpacked
}

async fn from_server(url: &str, to: &Path) -> anyhow::Result<Manifest> {
    let token = std::env::var("ONETRIP_TOKEN")
        .context("ONETRIP_TOKEN: an admin token of the service is needed to ask it for a backup")?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // The answer starts once the records are copied, which writes wait for: seconds for
        // a large store.
        .read_timeout(Duration::from_secs(300))
        .build()?;
    let address = format!("{}/api/v1/backup", url.trim_end_matches('/'));
    let response = client
        .get(&address)
        .bearer_auth(token.trim())
        .send()
        .await
        .with_context(|| format!("asking {address}"))?;
    let status = response.status();
    if !status.is_success() {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        bail!("{address} answered {status}: {message}");
    }
    let (sender, receiver) = mpsc::channel(4);
    let target = to.to_owned();
    let unpacking =
        tokio::task::spawn_blocking(move || backup::unpack(BlockReader::new(receiver), &target));
    let mut blocks = response.bytes_stream();
    while let Some(block) = blocks.next().await {
        let block = block
            .map(|b| b.to_vec())
            .map_err(|e| io::Error::other(format!("{address}: {e}")));
        let broken = block.is_err();
        if sender.send(block).await.is_err() || broken {
            break;
        }
    }
    drop(sender);
    unpacking.await.context("the backup stopped")?
}
