//! "Check the rendering" before a certificate is signed and stored: read the finished PDF
//! back the way a verifier or a text extractor would, instead of trusting the renderer.

use image::GrayImage;
use printpdf::{DictItem, Op, PdfDocument, PdfParseOptions, XObject};

use super::RenderError;
use super::qr;

/// Check a rendered certificate PDF (the exact bytes that will be signed and stored).
///
/// What passing proves, reading only `pdf`:
/// - **QR**: the PDF parses, its page draws a grayscale image XObject, and that image —
///   inflated from the PDF's own stream, not the bitmap the renderer kept in memory — is a clean
///   QR symbol (square modules of whole pixels, each pure black or white, white 4-module quiet
///   zone) whose modules are, one for one, the standard encoding of `expected_url` at level M
///   (re-encoded here from the URL alone; see `qr::is_symbol_of`). Every drawn image must be
///   that symbol.
/// - **Text**: every string in `expected_texts` occurs in the page's text as a text extractor
///   sees it: each glyph code in the content stream mapped back through the embedded font's
///   `/ToUnicode` CMap, in drawing order. A character drawn as an empty box, or text that is
///   only painted and not extractable, fails. Whitespace is ignored on both sides, because
///   wrapping a long value across lines removes the spaces at the break.
///
/// It does not prove what a human or a camera sees: nothing is rasterised, so glyph outlines,
/// positions, overlaps and the printed size of the QR code are not checked (the layout code
/// owns those; a 150-dpi `pdftoppm` render of the page scans with `zbarimg`). It costs one
/// parse of the PDF with printpdf, a pass over the QR pixels and one encoding of the URL: about
/// 2 ms in release.
pub fn check_rendering<S: AsRef<str>>(
    pdf: &[u8],
    expected_url: &str,
    expected_texts: &[S],
) -> Result<(), RenderError> {
    let mut warnings = Vec::new();
    let doc = PdfDocument::parse(pdf, &PdfParseOptions::default(), &mut warnings)
        .map_err(|e| RenderError::Pdf(format!("cannot re-read the PDF: {e}")))?;

    check_qr(&doc, expected_url)?;

    let text: String = doc
        .extract_text()
        .into_iter()
        .flatten()
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    for expected in expected_texts {
        let expected = expected.as_ref();
        let needle: String = expected.chars().filter(|c| !c.is_whitespace()).collect();
        if !text.contains(&needle) {
            return Err(RenderError::TextMissing(expected.to_string()));
        }
    }
    Ok(())
}

/// Read every image the page draws; there must be at least one, and every one must be the QR
/// symbol of the expected URL.
fn check_qr(doc: &PdfDocument, expected_url: &str) -> Result<(), RenderError> {
    let images = drawn_gray_images(doc);
    if images.is_empty() {
        return Err(no_image());
    }
    for image in &images {
        let (size, modules) = qr::read_modules(image)?;
        if !qr::is_symbol_of(expected_url, size, &modules)? {
            return Err(RenderError::QrMismatch {
                expected: expected_url.to_string(),
                // Only now, on the failure path, is the code decoded to say what it holds.
                found: qr::decode_aligned(image).unwrap_or_else(|e| e.to_string()),
            });
        }
    }
    Ok(())
}

/// Pixels of the largest image [`read_qr_from_pdf`] decodes (a 4096-pixel square): our QR
/// images are ~360 pixels wide; a larger one is not ours and is refused before inflating.
const MAX_PDF_IMAGE_PIXELS: u64 = 4096 * 4096;
/// Bytes any stream the PDF reader inflates while loading (object and xref streams) may reach.
const MAX_PDF_STREAM: usize = 16 << 20;

/// The text of the QR code a certificate PDF carries (for verifying a PDF offline).
///
/// The PDF may come from anyone, so nothing is inflated past a limit: object and
/// cross-reference streams stop at 16 MiB, and an image is decoded only if its declared size
/// is at most 4096 × 4096 pixels, and then only up to the bytes that size needs. A
/// decompression bomb is refused, never expanded. The page's DeviceGray images are read as
/// one of our crisp codes, and otherwise by the general detector ([`super::decode_qr_photo`]).
pub fn read_qr_from_pdf(pdf: &[u8]) -> Result<String, RenderError> {
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_PDF_STREAM),
        ..Default::default()
    };
    let doc = lopdf::Document::load_mem_with_options(pdf, options)
        .map_err(|e| RenderError::Pdf(format!("cannot read the PDF: {e}")))?;
    let mut last = no_image();
    for page in doc.get_pages().into_values() {
        for image in page_images(&doc, page)? {
            match qr::decode_aligned(&image) {
                Ok(text) => return Ok(text),
                Err(e) => last = e,
            }
            if let Some(text) = super::decode_qr_photo(&image) {
                return Ok(text);
            }
        }
    }
    Err(last)
}

/// The DeviceGray images (1 or 8 bits) in a page's resources, each checked against
/// [`MAX_PDF_IMAGE_PIXELS`] before its stream is inflated.
fn page_images(
    doc: &lopdf::Document,
    page: lopdf::ObjectId,
) -> Result<Vec<GrayImage>, RenderError> {
    let (own, inherited) = doc
        .get_page_resources(page)
        .map_err(|e| RenderError::Pdf(format!("page resources: {e}")))?;
    let dictionaries = own.into_iter().chain(
        inherited
            .iter()
            .filter_map(|id| doc.get_dictionary(*id).ok()),
    );
    let mut images = Vec::new();
    for resources in dictionaries {
        let Ok(xobjects) = resources
            .get(b"XObject")
            .and_then(|x| doc.dereference(x))
            .and_then(|(_, x)| x.as_dict())
        else {
            continue;
        };
        for (_, reference) in xobjects.iter() {
            let Ok((_, object)) = doc.dereference(reference) else {
                continue;
            };
            let Ok(stream) = object.as_stream() else {
                continue;
            };
            if let Some(image) = bounded_gray_image(stream)? {
                images.push(image);
            }
        }
    }
    Ok(images)
}

/// A DeviceGray image stream's pixels, or `None` for another kind of XObject. Refused if its
/// declared size is too large; inflated only up to the bytes that size needs.
fn bounded_gray_image(stream: &lopdf::Stream) -> Result<Option<GrayImage>, RenderError> {
    let dict = &stream.dict;
    let name = |key: &[u8]| dict.get(key).and_then(|v| v.as_name()).ok();
    let int = |key: &[u8]| dict.get(key).and_then(|v| v.as_i64()).ok();
    if name(b"Subtype") != Some(b"Image".as_slice())
        || name(b"ColorSpace") != Some(b"DeviceGray".as_slice())
    {
        return Ok(None);
    }
    let (Some(width), Some(height), Some(bits)) =
        (int(b"Width"), int(b"Height"), int(b"BitsPerComponent"))
    else {
        return Ok(None);
    };
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Ok(None);
    };
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PDF_IMAGE_PIXELS {
        return Err(RenderError::QrUnreadable(format!(
            "an image of {width} × {height} pixels is far larger than any certificate's QR code; not decoded"
        )));
    }
    let needed = match bits {
        1 => (width as usize).div_ceil(8) * height as usize,
        8 => pixels as usize,
        _ => return Ok(None),
    };
    // A little slack: some writers pad a stream beyond its pixels.
    let data = stream
        .decompressed_content_with_limit(needed + 4096)
        .map_err(|e| RenderError::QrUnreadable(format!("image stream: {e}")))?;
    Ok(match bits {
        1 => qr::from_one_bit_rows(width, height, &data),
        _ => data
            .get(..needed)
            .and_then(|pixels| GrayImage::from_raw(width, height, pixels.to_vec())),
    })
}

fn no_image() -> RenderError {
    RenderError::QrUnreadable("the page draws no grayscale image".to_string())
}

/// The QR images the pages draw (images merely present in the file are ignored).
fn drawn_gray_images(doc: &PdfDocument) -> Vec<GrayImage> {
    doc.pages
        .iter()
        .flat_map(|p| &p.ops)
        .filter_map(|op| match op {
            Op::UseXobject { id, .. } => doc.resources.xobjects.map.get(id),
            _ => None,
        })
        .filter_map(gray_image)
        .collect()
}

/// The pixels of a one-bit DeviceGray image XObject (what the renderer draws), from the
/// bytes in the PDF. printpdf's parser keeps image streams verbatim (still Flate-compressed)
/// as `XObject::External`.
fn gray_image(xobject: &XObject) -> Option<GrayImage> {
    let XObject::External(ext) = xobject else {
        return None;
    };
    let dict = &ext.stream.dict;
    let int = |key: &str| match dict.get(key) {
        Some(DictItem::Int(v)) => u32::try_from(*v).ok(),
        _ => None,
    };
    let is = |key: &str, name: &[u8]| match dict.get(key) {
        Some(DictItem::Name(n)) => n.as_slice() == name,
        _ => false,
    };
    if !is("Subtype", b"Image") || !is("ColorSpace", b"DeviceGray") || int("BitsPerComponent")? != 1
    {
        return None;
    }
    // A stream that failed to inflate comes back compressed, i.e. too short: refused below.
    qr::from_one_bit_rows(
        int("Width")?,
        int("Height")?,
        &ext.stream.decompressed_content(),
    )
}
