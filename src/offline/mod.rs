//! `onetrip verify`: checks a certificate without the service's store — from the PDF, a photo
//! of the printed QR code, a link or a bare token — against a published key set.

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::presented::Presented;
use crate::service::verdict::{Verdict, verify_offline};
use crate::signing::KeyRing;

/// Reads the verification link (or bare token) that `input` carries: a PDF's QR code, a
/// photo's, or the argument itself.
pub fn link_from_input(input: &str) -> anyhow::Result<String> {
    let path = Path::new(input);
    let text = if path.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {input}"))?;
        if bytes.starts_with(b"%PDF") {
            crate::render::read_qr_from_pdf(&bytes).context("reading the QR code in the PDF")?
        } else {
            let image = image::load_from_memory(&bytes)
                .with_context(|| format!("{input} is neither a PDF nor an image"))?;
            crate::render::decode_qr_photo(&image.to_luma8())
                .with_context(|| format!("no readable QR code in {input}"))?
        }
    } else {
        input.to_owned()
    };
    Ok(text.trim().to_owned())
}

/// The service a verification link points at, e.g. `http://127.0.0.1:8080`.
fn service_of(link: &str) -> Option<&str> {
    let link = link.trim();
    if !link.starts_with("http://") && !link.starts_with("https://") {
        return None;
    }
    link.rsplit_once("/v/").map(|(base, _)| base)
}

async fn fetch_json(url: &str) -> anyhow::Result<Value> {
    let response = reqwest::Client::new()
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    response
        .json()
        .await
        .with_context(|| format!("reading {url}"))
}

async fn load_jwks(source: &str) -> anyhow::Result<Value> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return fetch_json(source).await;
    }
    let text = std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?;
    serde_json::from_str(&text).with_context(|| format!("{source} is not JSON"))
}

fn date(timestamp: i64) -> String {
    DateTime::from_timestamp(timestamp, 0).map_or_else(|| timestamp.to_string(), |t| t.to_rfc3339())
}

/// Prints the verdict and what the token says; returns whether it is valid.
pub async fn run(input: &str, jwks: Option<&str>) -> anyhow::Result<bool> {
    let link = link_from_input(input)?;
    let Presented::Token(token) = Presented::read(&link) else {
        bail!(
            "{link} is not a verification link or token (a 核验码 / verification code is checked on the issuer's page: <issuer>/c/<code>)"
        );
    };
    let token = token.as_str();
    let service = service_of(&link);
    let jwks_source = match (jwks, service) {
        (Some(source), _) => source.to_owned(),
        (None, Some(base)) => format!("{base}/.well-known/jwks.json"),
        (None, None) => bail!(
            "give --jwks FILE_OR_URL (the service's /.well-known/jwks.json, or `onetrip keys export-jwks`)"
        ),
    };
    let ring = KeyRing::from_jwks(&load_jwks(&jwks_source).await?)?;
    let (finding, claims) = verify_offline(&ring, token, Utc::now());
    println!("{}", finding.message);
    if let Some(c) = &claims {
        println!("  证照标识 identifier: {}", c.sub);
        println!("  持证主体 holder id:  {}", c.hid);
        println!("  签发     issued:     {}", date(c.iat));
        println!("  有效期至 expires:    {}", date(c.exp));
        println!(
            "  签名密钥 key:        {}",
            finding.kid.as_deref().unwrap_or_default()
        );
    }
    if finding.verdict != Verdict::Valid {
        println!("verdict: {}", finding.verdict.as_str());
        return Ok(false);
    }
    let Some(base) = service else {
        println!("已离线核验签名、密钥与有效期；吊销状态与签发记录须向发证机关联网查询。");
        println!(
            "Checked offline: signature, key and expiry. Revocation and the issuer's records need the service."
        );
        println!("verdict: valid (offline)");
        return Ok(true);
    };
    let online = fetch_json(&format!("{base}/v/{token}")).await?;
    let verdict = online["verdict"].as_str().unwrap_or("unknown");
    println!("{base}: {}", online["message"].as_str().unwrap_or_default());
    let certificate = &online["certificate"];
    if let Some(holder) = certificate["holder"].as_str() {
        println!("  持证人   holder:     {holder}");
        println!(
            "  证照名称 title:      {}",
            certificate["title"].as_str().unwrap_or_default()
        );
    }
    println!("verdict: {verdict}");
    Ok(verdict == "valid")
}
