//! HTTP for the offline verifier: HTTPS with rustls and the web's root certificates (plus any
//! the user adds), connect and read timeouts, and bounded response bodies. It only ever talks
//! to issuers the user trusts.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;

/// The largest response read: a status list of 10^5 revoked certificates is ~22 MB.
const MAX_BODY: usize = 64 << 20;

/// Why a fetch failed: the issuer could not be reached (offline verdicts apply), or it
/// answered something unusable.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Body { url: String, reason: String },
}

pub struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    /// A client that gives up on a server that does not connect or answer within `timeout`.
    /// `ca_cert` adds a PEM root certificate (a private or test CA) to the web's roots.
    pub fn new(timeout: Duration, ca_cert: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .timeout(timeout * 3)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("onetrip-verify/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(Self {
            client: builder.build().context("building the HTTP client")?,
        })
    }

    /// The body of `url` as text, at most [`MAX_BODY`] bytes.
    pub async fn text(&self, url: &str, accept: &str) -> Result<String, FetchError> {
        let request = self.client.get(url).header("Accept", accept);
        let (status, body) = self.send(url, request).await?;
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status,
            });
        }
        Ok(body)
    }

    /// A verdict as JSON, whatever its status (a verdict of 404 or 422 is still an answer):
    /// `GET url` when `pdf` is `None`, else the PDF posted to it.
    pub async fn verdict(
        &self,
        url: &str,
        pdf: Option<&[u8]>,
    ) -> Result<serde_json::Value, FetchError> {
        let request = match pdf {
            None => self.client.get(url),
            Some(pdf) => self
                .client
                .post(url)
                .header("Content-Type", "application/pdf")
                .body(pdf.to_vec()),
        };
        let (status, text) = self
            .send(url, request.header("Accept", "application/json"))
            .await?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| FetchError::Status {
                url: url.to_owned(),
                status,
            })?;
        if value["verdict"].is_string() {
            Ok(value)
        } else {
            Err(FetchError::Status {
                url: url.to_owned(),
                status,
            })
        }
    }

    /// Sends `request`; its status and body as text, at most [`MAX_BODY`] bytes.
    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, String), FetchError> {
        let unreachable = |e: reqwest::Error| FetchError::Unreachable {
            url: url.to_owned(),
            reason: describe(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.map_err(unreachable)?);
            if body.len() > MAX_BODY {
                return Err(FetchError::Body {
                    url: url.to_owned(),
                    reason: format!("the answer is larger than {MAX_BODY} bytes"),
                });
            }
        }
        let text = String::from_utf8(body).map_err(|_| FetchError::Body {
            url: url.to_owned(),
            reason: "the answer is not UTF-8 text".to_owned(),
        })?;
        Ok((status, text))
    }

    pub async fn json(&self, url: &str) -> Result<serde_json::Value, FetchError> {
        let text = self.text(url, "application/json").await?;
        serde_json::from_str(&text).map_err(|e| FetchError::Body {
            url: url.to_owned(),
            reason: format!("not JSON: {e}"),
        })
    }
}

/// The error with its causes, e.g. "error sending request: operation timed out".
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if e.is_timeout() {
        text.push_str(" (timed out)");
    }
    text
}
