//! What the verifier was handed: a PDF, a photo of the QR code, or the link or token itself.
//! Files come from anyone, so they are decoded only within limits: a decompression bomb is
//! refused from its declared size, before anything is inflated.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

/// The largest file read (a photo from a phone is a few megabytes).
const MAX_FILE: u64 = 32 << 20;
/// The largest image decoded: 8000 pixels a side (a 48-megapixel photo is 8000 × 6000).
const MAX_SIDE: u32 = 8000;
/// Memory the image decoder may allocate: a 16-megapixel RGB photo needs 48 MiB.
///
/// The decoding budget of a verification is 200 MiB (peak resident set of the process). The
/// picture is decoded once, turned grey at once (the colour image is dropped: 16 MiB left of
/// a 16-megapixel photo), and the QR reader works on that one grey image in place, with
/// copies of at most 4 megapixels (`render::decode_qr_photo`). Measured with
/// `tests/api/qr_reading.rs`: `onetrip verify` on a 16-megapixel colour JPEG peaks at about
/// 75 MiB, whether the code is found at once or every attempt fails.
const MAX_DECODE_ALLOC: u64 = 64 << 20;

/// Reads the verification link (or bare token) that `input` carries: a PDF's QR code, a
/// photo's, or the argument itself.
pub fn link_from_input(input: &str) -> anyhow::Result<String> {
    let path = Path::new(input);
    let text = if path.is_file() {
        let bytes = read_bounded(path)?;
        if bytes.starts_with(b"%PDF") {
            crate::render::read_qr_from_pdf(&bytes).context("reading the QR code in the PDF")?
        } else {
            let image = decode_image(&bytes).with_context(|| format!("reading {input}"))?;
            drop(bytes);
            // Grey at once; the colour image is freed before the search starts.
            let grey = image.into_luma8();
            crate::render::decode_qr_photo(&grey)
                .with_context(|| format!("no readable QR code in {input}"))?
        }
    } else {
        input.to_owned()
    };
    Ok(text.trim().to_owned())
}

fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE {
        bail!(
            "{} is larger than {} MiB: not a certificate or a photo of one",
            path.display(),
            MAX_FILE >> 20
        );
    }
    Ok(bytes)
}

/// Decodes a PNG or JPEG whose header declares at most [`MAX_SIDE`] pixels a side, with the
/// decoder's allocations capped.
fn decode_image(bytes: &[u8]) -> anyhow::Result<image::DynamicImage> {
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .context("not a PDF or an image")
    };
    let (width, height) = reader()?
        .into_dimensions()
        .context("not a PDF or a readable PNG/JPEG image")?;
    if width > MAX_SIDE || height > MAX_SIDE {
        bail!(
            "the image declares {width} × {height} pixels, more than {MAX_SIDE} a side: refused before decoding"
        );
    }
    let mut reader = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => anyhow::anyhow!(
            "the image ({width} × {height} pixels) needs more than {} MiB to decode: refused",
            MAX_DECODE_ALLOC >> 20
        ),
        other => anyhow::Error::new(other).context("not a PDF or a readable PNG/JPEG image"),
    })
}
