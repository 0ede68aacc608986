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
    // Each image object is searched once, however many pages or names refer to it, and the
    // search stops at a budget: a file that names one image a thousand times, or holds many,
    // costs no more than a certificate's own few.
    let mut seen = std::collections::HashSet::new();
    let mut pixels = 0u64;
    for page in doc.get_pages().into_values().take(MAX_PAGES_SEARCHED) {
        for id in page_image_ids(&doc, page)? {
            if !seen.insert(id) {
                continue;
            }
            if seen.len() > MAX_IMAGES_SEARCHED {
                return Err(too_many_images());
            }
            let Ok(stream) = doc.get_object(id).and_then(lopdf::Object::as_stream) else {
                continue;
            };
            let Some(image) = bounded_gray_image(stream)? else {
                continue;
            };
            pixels += u64::from(image.width()) * u64::from(image.height());
            if pixels > MAX_PIXELS_SEARCHED {
                return Err(too_many_images());
            }
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

/// Pages, images and pixels searched for a QR code in one PDF: a certificate has one page
/// and one or two images.
const MAX_PAGES_SEARCHED: usize = 16;
const MAX_IMAGES_SEARCHED: usize = 8;
const MAX_PIXELS_SEARCHED: u64 = 32 << 20;

fn too_many_images() -> RenderError {
    RenderError::QrUnreadable(format!(
        "the PDF holds more images than a certificate (at most {MAX_IMAGES_SEARCHED}, {} megapixels in all, are searched)",
        MAX_PIXELS_SEARCHED >> 20
    ))
}

/// The image objects a page's resources name (each may be named more than once).
fn page_image_ids(
    doc: &lopdf::Document,
    page: lopdf::ObjectId,
) -> Result<Vec<lopdf::ObjectId>, RenderError> {
    let (own, inherited) = doc
        .get_page_resources(page)
        .map_err(|e| RenderError::Pdf(format!("page resources: {e}")))?;
    let dictionaries = own.into_iter().chain(
        inherited
            .iter()
            .filter_map(|id| doc.get_dictionary(*id).ok()),
    );
    let mut ids = Vec::new();
    for resources in dictionaries {
        let Ok(xobjects) = resources
            .get(b"XObject")
            .and_then(|x| doc.dereference(x))
            .and_then(|(_, x)| x.as_dict())
        else {
            continue;
        };
        ids.extend(
            xobjects
                .iter()
                .filter_map(|(_, reference)| reference.as_reference().ok()),
        );
    }
    Ok(ids)
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

#[cfg(test)]
mod tests {
    use lopdf::{Document, Object, Stream, dictionary};

    use super::*;

    /// A one-page PDF whose page names `names` XObjects: `distinct` grey images of `side`²
    /// pixels, the first of them under every name past `distinct`.
    fn pdf_naming_images(names: usize, distinct: usize, side: i64) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pixels = vec![255u8; (side * side) as usize];
        let images: Vec<_> = (0..distinct)
            .map(|_| {
                let mut stream = Stream::new(
                    dictionary! {
                        "Type" => "XObject", "Subtype" => "Image", "Width" => side,
                        "Height" => side, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
                    },
                    pixels.clone(),
                );
                stream.compress().unwrap();
                doc.add_object(stream)
            })
            .collect();
        let mut xobjects = lopdf::Dictionary::new();
        for i in 0..names {
            xobjects.set(format!("Im{i}"), images[i.min(distinct - 1)]);
        }
        let pages = doc.new_object_id();
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Resources" => dictionary! { "XObject" => xobjects },
        });
        doc.objects.insert(
            pages,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
            }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        doc.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn an_image_named_a_thousand_times_is_searched_once_and_many_images_not_at_all() {
        // One blank 2048² image under 1,000 names: searched once, found to hold no code.
        let once = pdf_naming_images(1000, 1, 2048);
        assert!(once.len() < 100_000, "{} bytes", once.len());
        match read_qr_from_pdf(&once) {
            Err(RenderError::QrUnreadable(why)) => assert!(!why.contains("more images"), "{why}"),
            other => panic!("{other:?}"),
        }
        // More images than a certificate holds: refused before the ninth is decoded.
        let many = pdf_naming_images(20, 20, 64);
        match read_qr_from_pdf(&many) {
            Err(RenderError::QrUnreadable(why)) => assert!(why.contains("more images"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
