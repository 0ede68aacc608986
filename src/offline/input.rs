//! What the verifier was handed: a PDF, a photo of the QR code, or the link or token itself.
//! Files come from anyone, so they are decoded only within limits: a decompression bomb is
//! refused from its declared size, before anything is inflated.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use image::GrayImage;

/// The largest file read (a photo from a phone is a few megabytes).
const MAX_FILE: u64 = 32 << 20;
/// The largest image decoded: 8000 pixels a side (a 48-megapixel photo is 8000 × 6000).
const MAX_SIDE: u32 = 8000;
/// Memory the image decoder may allocate for a PNG (or a JPEG that is not YCbCr or grey): a
/// 16-megapixel RGB picture needs 48 MiB, a 64-megapixel grey one 61 MiB.
///
/// The decoding budget of a verification is 200 MiB (peak resident set of the process). The
/// picture is decoded once, to grey (a JPEG straight to grey, its colour never expanded: 16
/// MiB for a 16-megapixel photo), and the QR reader works on that one grey image in place,
/// with copies of at most 4 megapixels (`render::decode_qr_photo`). Measured with
/// `tests/api/verifier_bombs.rs` under a 200 MiB data limit: a 16-megapixel colour JPEG
/// verifies in about 40 MiB, and a 7999² PNG is searched in under 90 MiB.
const MAX_DECODE_ALLOC: u64 = 64 << 20;
/// Memory a progressive JPEG may take to decode: its DCT coefficients are all held until the
/// last scan (2 bytes per sample of each component) besides the grey pixels. A 16-megapixel
/// photo of three full-resolution components needs 112 MB.
const MAX_PROGRESSIVE_BYTES: u64 = 112_000_000;

/// Reads the verification link (or bare token) that `input` carries: a PDF's QR code, a
/// photo's, or the argument itself.
pub fn link_from_input(input: &str) -> anyhow::Result<String> {
    let path = Path::new(input);
    let text = if path.is_file() {
        let bytes = read_bounded(path)?;
        if bytes.starts_with(b"%PDF") {
            crate::render::read_qr_from_pdf(&bytes).context("reading the QR code in the PDF")?
        } else {
            let grey = decode_grey(&bytes).with_context(|| format!("reading {input}"))?;
            drop(bytes);
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

/// The picture in `bytes`, grey: a JPEG of YCbCr or grey samples decoded straight to grey,
/// anything else through [`decode_image`].
fn decode_grey(bytes: &[u8]) -> anyhow::Result<GrayImage> {
    if bytes.starts_with(&[0xFF, 0xD8])
        && let Some(grey) = decode_jpeg_grey(bytes)?
    {
        return Ok(grey);
    }
    // Grey at once; the colour image is freed before the search starts.
    Ok(decode_image(bytes)?.into_luma8())
}

/// A JPEG's luminance alone (zune-jpeg skips the colour conversion and the chroma
/// upsampling), if its samples are YCbCr or grey; refused past [`MAX_SIDE`] and, for a
/// progressive JPEG, [`MAX_PROGRESSIVE_BYTES`], from its header.
fn decode_jpeg_grey(bytes: &[u8]) -> anyhow::Result<Option<GrayImage>> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;

    let unreadable = |e: zune_jpeg::errors::DecodeErrors| {
        anyhow::anyhow!("not a PDF or a readable PNG/JPEG image: {e}")
    };
    // The sides are checked below, with the same message as other pictures.
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX))
        .jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(unreadable)?;
    let (Some(info), Some(colour)) = (decoder.info(), decoder.input_colorspace()) else {
        return Ok(None);
    };
    if !matches!(colour, ColorSpace::YCbCr | ColorSpace::Luma) {
        return Ok(None);
    }
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_sides(width, height)?;
    let pixels = u64::from(width) * u64::from(height);
    let progressive = pixels * (2 * u64::from(info.components) + 1);
    if info.sof.is_progressive() && progressive > MAX_PROGRESSIVE_BYTES {
        bail!(
            "the progressive JPEG ({width} × {height} pixels) needs more than {} MB to decode: refused",
            MAX_PROGRESSIVE_BYTES / 1_000_000
        );
    }
    let grey = decoder.decode().map_err(unreadable)?;
    GrayImage::from_raw(width, height, grey)
        .map(Some)
        .context("the JPEG decoded to fewer pixels than its header declares")
}

fn check_sides(width: u32, height: u32) -> anyhow::Result<()> {
    if width > MAX_SIDE || height > MAX_SIDE {
        bail!(
            "the image declares {width} × {height} pixels, more than {MAX_SIDE} a side: refused before decoding"
        );
    }
    Ok(())
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
    check_sides(width, height)?;
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
