//! "Check the rendering" before a certificate is signed and stored: read the finished PDF
//! back the way a verifier or a text extractor would, instead of trusting the renderer.

use image::GrayImage;
use printpdf::{DictItem, Op, PdfDocument, PdfParseOptions, RawImageData, RawImageFormat, XObject};

use super::RenderError;
use super::qr;

/// Check a rendered certificate PDF (the exact bytes that will be signed and stored).
///
/// What passing proves, reading only `pdf`:
/// - **QR**: the PDF parses, its page draws an 8-bit grayscale image XObject, and that image —
///   inflated from the PDF's own stream, not the bitmap the renderer kept in memory — is a clean
///   QR symbol (square modules of whole pixels, each pure black or white, white 4-module quiet
///   zone) whose every module, read and error-corrected by rqrr, decodes to exactly
///   `expected_url`. Every drawn image must decode, and to that URL.
/// - **Text**: every string in `expected_texts` occurs in the page's text as a text extractor
///   sees it: each glyph code in the content stream mapped back through the embedded font's
///   `/ToUnicode` CMap, in drawing order. A character drawn as an empty box, or text that is
///   only painted and not extractable, fails. Whitespace is ignored on both sides, because
///   wrapping a long value across lines removes the spaces at the break.
///
/// It does not prove what a human or a camera sees: nothing is rasterised, so glyph outlines,
/// positions, overlaps and the printed size of the QR code are not checked (the layout code
/// owns those; a 150-dpi `pdftoppm` render of the page scans with `zbarimg`). It costs one
/// parse of the PDF with printpdf plus a pass over the QR pixels: a few milliseconds.
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

/// Decode every image the page draws; there must be at least one, and every one must decode
/// to exactly the expected URL.
fn check_qr(doc: &PdfDocument, expected_url: &str) -> Result<(), RenderError> {
    let images = drawn_gray_images(doc);
    if images.is_empty() {
        return Err(no_image());
    }
    for image in &images {
        let text = qr::decode_aligned(image)?;
        if text != expected_url {
            return Err(RenderError::QrMismatch {
                expected: expected_url.to_string(),
                found: text,
            });
        }
    }
    Ok(())
}

/// The text of the QR code a certificate PDF carries (for verifying a PDF offline).
///
/// Reads the image XObjects the page draws, as [`check_rendering`] does; an image that is not
/// one of our crisp, axis-aligned codes is handed to rqrr's general detector instead.
pub fn read_qr_from_pdf(pdf: &[u8]) -> Result<String, RenderError> {
    let mut warnings = Vec::new();
    let doc = PdfDocument::parse(pdf, &PdfParseOptions::default(), &mut warnings)
        .map_err(|e| RenderError::Pdf(format!("cannot read the PDF: {e}")))?;
    let images = drawn_gray_images(&doc);
    let mut last = no_image();
    for image in &images {
        match qr::decode_aligned(image) {
            Ok(text) => return Ok(text),
            Err(e) => last = e,
        }
        if let Some(text) = qr::decode_qr_photo(image) {
            return Ok(text);
        }
    }
    Err(last)
}

fn no_image() -> RenderError {
    RenderError::QrUnreadable("the page draws no grayscale image".to_string())
}

/// The 8-bit grayscale images the pages draw (images merely present in the file are ignored).
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

/// The pixels of an 8-bit DeviceGray image XObject, from the bytes in the PDF.
///
/// Without printpdf's `images` feature the parser keeps image streams verbatim (still
/// Flate-compressed) as `XObject::External`; with it, as a decoded `XObject::Image`.
fn gray_image(xobject: &XObject) -> Option<GrayImage> {
    match xobject {
        XObject::Image(raw) => match (&raw.pixels, raw.data_format) {
            (RawImageData::U8(pixels), RawImageFormat::R8) => {
                GrayImage::from_raw(raw.width as u32, raw.height as u32, pixels.clone())
            }
            _ => None,
        },
        XObject::External(ext) => {
            let dict = &ext.stream.dict;
            let int = |key: &str| match dict.get(key) {
                Some(DictItem::Int(v)) => u32::try_from(*v).ok(),
                _ => None,
            };
            let is = |key: &str, name: &[u8]| match dict.get(key) {
                Some(DictItem::Name(n)) => n.as_slice() == name,
                _ => false,
            };
            if !is("Subtype", b"Image")
                || !is("ColorSpace", b"DeviceGray")
                || int("BitsPerComponent") != Some(8)
            {
                return None;
            }
            let (width, height) = (int("Width")?, int("Height")?);
            let mut pixels = ext.stream.decompressed_content();
            // A stream that failed to inflate comes back compressed, i.e. too short.
            pixels.truncate(width as usize * height as usize);
            GrayImage::from_raw(width, height, pixels)
        }
        _ => None,
    }
}
