//! "Check the rendering" before a certificate is signed and stored: read the finished PDF
//! back the way a verifier or a text extractor would, instead of trusting the renderer.

use std::cell::RefCell;
use std::collections::HashSet;

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

/// The text of the QR code a certificate PDF carries (for verifying a PDF, offline or on the
/// server).
///
/// The PDF may come from anyone, so its decoding is budgeted as a whole, and a bomb is refused
/// ([`RenderError::TooComplex`]) before it is expanded: the file is loaded within
/// [`load_bounded`]'s limits; then the images the first 16 pages name are listed, each object
/// once however many names or pages refer to it, and refused together, from their declared
/// sizes, if they are more than 8 or 32 megapixels in all (a certificate has one or two of
/// ~360² pixels). Only then is each inflated, once, and only up to the bytes its size needs.
/// The page's DeviceGray images are read as one of our crisp codes, and otherwise by the
/// general detector ([`super::decode_qr_photo`]).
pub fn read_qr_from_pdf(pdf: &[u8]) -> Result<String, RenderError> {
    let doc = load_bounded(pdf)?;
    let mut last = no_image();
    for stream in images_within_budget(&doc)? {
        let Some(image) = bounded_gray_image(stream)? else {
            continue;
        };
        match qr::decode_aligned(&image) {
            Ok(text) => return Ok(text),
            Err(e) => last = e,
        }
        if let Some(text) = super::decode_qr_photo(&image) {
            return Ok(text);
        }
    }
    Err(last)
}

/// Pages, images and pixels searched for a QR code in one PDF: a certificate has one page
/// and one or two images.
const MAX_PAGES_SEARCHED: usize = 16;
const MAX_IMAGES_SEARCHED: usize = 8;
const MAX_PIXELS_SEARCHED: u64 = 32 << 20;

/// The image streams the first [`MAX_PAGES_SEARCHED`] pages name, each once, in page order;
/// refused if, by their declared sizes, they are more or larger than the search's budget.
fn images_within_budget(doc: &lopdf::Document) -> Result<Vec<&lopdf::Stream>, RenderError> {
    let mut seen = HashSet::new();
    let mut images = Vec::new();
    let (mut pixels, mut largest) = (0u64, (0u64, 0u64));
    for page in doc.get_pages().into_values().take(MAX_PAGES_SEARCHED) {
        for id in page_image_ids(doc, page)? {
            if !seen.insert(id) {
                continue;
            }
            let Ok(stream) = doc.get_object(id).and_then(lopdf::Object::as_stream) else {
                continue;
            };
            let dict = &stream.dict;
            if dict.get(b"Subtype").and_then(|s| s.as_name()).ok() != Some(b"Image".as_slice()) {
                continue;
            }
            let side = |key: &[u8]| {
                dict.get(key)
                    .and_then(|v| v.as_i64())
                    .map_or(0, |v| u64::try_from(v).unwrap_or(u64::MAX))
            };
            let (width, height) = (side(b"Width"), side(b"Height"));
            pixels = pixels.saturating_add(width.saturating_mul(height));
            if width.saturating_mul(height) > largest.0.saturating_mul(largest.1) {
                largest = (width, height);
            }
            images.push(stream);
        }
    }
    if images.len() > MAX_IMAGES_SEARCHED || pixels > MAX_PIXELS_SEARCHED {
        return Err(RenderError::TooComplex(format!(
            "the PDF's {} images declare {} megapixels (the largest {} × {} pixels), more than a certificate holds (at most {MAX_IMAGES_SEARCHED} images, {} megapixels in all, are read)",
            images.len(),
            pixels >> 20,
            largest.0,
            largest.1,
            MAX_PIXELS_SEARCHED >> 20
        )));
    }
    Ok(images)
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

/// The largest PDF whose structure is parsed: a certificate is under 100 KB. Parsing expands
/// a PDF's dictionaries and arrays about 64 times in memory (`[0 0 0 …]` is 2 bytes an
/// element in the file, a 128-byte `lopdf::Object` in memory), so this bounds that to about
/// 32 MiB, however many objects the budget below lets through.
const MAX_PDF_PARSED: usize = 512 << 10;
/// Bytes any object or cross-reference stream may inflate to while loading (a certificate's
/// object stream holds a few kilobytes of dictionaries). A cross-reference stream this size
/// lists at most 131,072 objects (one byte each), a few MiB once read.
const MAX_PDF_STREAM: usize = 128 << 10;
/// Cross-reference sections read after the last one (`/Prev`, one per incremental update): a
/// certificate has none. lopdf reads every section of the chain, and all the objects they
/// list, before anything else can look at them: 400 sections of 60,000 entries each fit in
/// 170 KB and take over a gigabyte.
const MAX_PREVIOUS_SECTIONS: usize = 8;
/// Objects (every dictionary, array, number, name… inside one counts) and stream bytes a
/// loaded PDF may hold, counted as lopdf loads them: a certificate, under 100 KB in all,
/// holds far fewer. A cross-reference table that lists one object a hundred
/// thousand times, or one object stream that each of them inflates again, runs out of this
/// budget, not of memory.
const MAX_LOADED_OBJECTS: usize = 100_000;
const MAX_LOADED_STREAM_BYTES: usize = 2 << 20;

/// What the PDF being loaded on this thread has cost so far: lopdf's object filter is a plain
/// `fn`, so the count it keeps lives here, set up and taken back by [`load_bounded`].
#[derive(Default)]
struct LoadBudget {
    objects: usize,
    stream_bytes: usize,
    exceeded: bool,
}

thread_local! {
    static LOADING: RefCell<LoadBudget> = RefCell::default();
}

/// Loads an untrusted PDF within [`MAX_PDF_PARSED`], [`MAX_PDF_STREAM`] and the budget of
/// objects and stream bytes; past any of them it is refused as too complex.
fn load_bounded(pdf: &[u8]) -> Result<lopdf::Document, RenderError> {
    if pdf.len() > MAX_PDF_PARSED {
        return Err(RenderError::TooComplex(format!(
            "the PDF is {} KiB, larger than any certificate (at most {} KiB are read)",
            pdf.len() >> 10,
            MAX_PDF_PARSED >> 10
        )));
    }
    let previous = names_spelling(pdf, b"Prev");
    if previous > MAX_PREVIOUS_SECTIONS {
        return Err(RenderError::TooComplex(format!(
            "the PDF names {previous} earlier cross-reference sections (a certificate none; at most {MAX_PREVIOUS_SECTIONS} are read)"
        )));
    }
    LOADING.with(|budget| budget.replace(LoadBudget::default()));
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_PDF_STREAM),
        filter: Some(count_loaded),
        ..Default::default()
    };
    let loaded = lopdf::Document::load_mem_with_options(pdf, options);
    if LOADING.with(|budget| budget.take()).exceeded {
        return Err(RenderError::TooComplex(format!(
            "the PDF holds more than a certificate ({MAX_LOADED_OBJECTS} objects, {} MiB of streams): not loaded",
            MAX_LOADED_STREAM_BYTES >> 20
        )));
    }
    loaded.map_err(|e| RenderError::Pdf(format!("cannot read the PDF: {e}")))
}

/// How many names in `pdf` spell `expected`, decoded as lopdf decodes names (`/P#72ev` is
/// `/Prev`). The dictionaries that link cross-reference sections are never compressed, so
/// every `/Prev` lopdf can follow is counted here (and any in strings or streams besides).
fn names_spelling(pdf: &[u8], expected: &[u8]) -> usize {
    let regular = |c: u8| !b" \t\n\r\0\x0C()<>[]{}/%".contains(&c);
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut count = 0;
    for (at, _) in pdf.iter().enumerate().filter(|(_, b)| **b == b'/') {
        let (mut i, mut matched) = (at + 1, 0);
        loop {
            let (byte, width) = match pdf.get(i..) {
                Some([b'#', h, l, ..]) => match (hex(*h), hex(*l)) {
                    (Some(h), Some(l)) => (h * 16 + l, 3),
                    _ => break,
                },
                Some([c, ..]) if regular(*c) => (u32::from(*c), 1),
                _ => break,
            };
            if expected.get(matched).map(|&e| u32::from(e)) != Some(byte) {
                matched = usize::MAX;
                break;
            }
            matched += 1;
            i += width;
        }
        count += usize::from(matched == expected.len());
    }
    count
}

/// lopdf's filter, called with each object it has parsed (and, before inflating it, each
/// object stream): counted against the budget, and dropped once the budget is spent (an
/// object stream dropped is not inflated). lopdf keeps what the filter returns for objects
/// inside object streams, and the object it passed for the others, so the object is cloned.
fn count_loaded(
    id: lopdf::ObjectId,
    object: &mut lopdf::Object,
) -> Option<(lopdf::ObjectId, lopdf::Object)> {
    LOADING.with(|budget| {
        let mut budget = budget.borrow_mut();
        if !budget.exceeded {
            let (objects, stream_bytes) = weight(object);
            budget.objects = budget.objects.saturating_add(objects);
            budget.stream_bytes = budget.stream_bytes.saturating_add(stream_bytes);
            budget.exceeded = budget.objects > MAX_LOADED_OBJECTS
                || budget.stream_bytes > MAX_LOADED_STREAM_BYTES;
        }
        (!budget.exceeded).then(|| (id, object.clone()))
    })
}

/// The objects `object` is made of (itself included) and its stream bytes, walked without
/// recursion.
fn weight(object: &lopdf::Object) -> (usize, usize) {
    let (mut objects, mut bytes) = (0usize, 0usize);
    let mut pending = vec![object];
    while let Some(object) = pending.pop() {
        objects += 1;
        match object {
            lopdf::Object::Array(items) => pending.extend(items),
            lopdf::Object::Dictionary(dict) => pending.extend(dict.iter().map(|(_, v)| v)),
            lopdf::Object::Stream(stream) => {
                bytes += stream.content.len();
                pending.extend(stream.dict.iter().map(|(_, v)| v));
            }
            _ => {}
        }
    }
    (objects, bytes)
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
        return Err(RenderError::TooComplex(format!(
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
        assert!(matches!(
            read_qr_from_pdf(&once),
            Err(RenderError::QrUnreadable(_))
        ));
        // More images than a certificate holds: refused, none decoded.
        let many = pdf_naming_images(20, 20, 64);
        match read_qr_from_pdf(&many) {
            Err(RenderError::TooComplex(why)) => assert!(why.contains("20 images"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    /// A PDF of `objects` (numbered from 1, the first the catalog) with a plain
    /// cross-reference table; `repeat` more entries list the offset of the last object again.
    fn pdf_of_objects(objects: &[Vec<u8>], repeat: usize) -> Vec<u8> {
        let mut pdf = b"%PDF-1.5\n".to_vec();
        let mut offsets = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            pdf.extend_from_slice(object);
            pdf.extend_from_slice(b"\nendobj\n");
        }
        let last = offsets[offsets.len() - 1];
        offsets.extend(std::iter::repeat_n(last, repeat));
        let xref = pdf.len();
        pdf.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes(),
        );
        for offset in &offsets {
            pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        pdf.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                offsets.len() + 1
            )
            .as_bytes(),
        );
        pdf
    }

    const CATALOG: &[u8] = b"<< /Type /Catalog /Pages 2 0 R >>";
    const NO_PAGES: &[u8] = b"<< /Type /Pages /Kids [] /Count 0 >>";

    #[test]
    fn loading_a_pdf_is_budgeted_as_a_whole() {
        let too_complex = |pdf: &[u8]| match read_qr_from_pdf(pdf) {
            Err(RenderError::TooComplex(why)) => why,
            other => panic!("{other:?}"),
        };
        // An array of 200,000 zeros (400 KB, 25 MB once parsed): over the object budget.
        let array = [b"[".as_slice(), &b"0 ".repeat(200_000), b"]"].concat();
        let why = too_complex(&pdf_of_objects(
            &[CATALOG.into(), NO_PAGES.into(), array],
            0,
        ));
        assert!(why.contains("objects"), "{why}");
        // Larger than any certificate: not parsed at all.
        let padded = [b"(".as_slice(), &vec![b'x'; 1 << 20], b")"].concat();
        let why = too_complex(&pdf_of_objects(
            &[CATALOG.into(), NO_PAGES.into(), padded],
            0,
        ));
        assert!(why.contains("larger than any certificate"), "{why}");
        // A 16 KB object stream that inflates to 16 MiB of array: cut at 128 KiB, and not
        // loaded (the page tree it would hold is missing).
        let mut inner = b"3 0 [".to_vec();
        inner.extend_from_slice(&b"0 ".repeat(8 << 20));
        let mut stream = Stream::new(dictionary! {}, inner);
        stream.compress().unwrap();
        let mut object_stream = Vec::new();
        let dict = format!(
            "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            stream.content.len()
        );
        object_stream.extend_from_slice(dict.as_bytes());
        object_stream.extend_from_slice(&stream.content);
        object_stream.extend_from_slice(b"\nendstream");
        assert!(object_stream.len() < 32 << 10);
        let pdf = pdf_of_objects(&[CATALOG.into(), NO_PAGES.into(), object_stream.clone()], 0);
        assert!(matches!(
            read_qr_from_pdf(&pdf),
            Err(RenderError::QrUnreadable(_))
        ));
        // That object stream listed under 1,000 numbers: inflated until the budget is spent,
        // not a thousand times.
        let pdf = pdf_of_objects(&[CATALOG.into(), NO_PAGES.into(), object_stream], 1000);
        assert!(matches!(
            read_qr_from_pdf(&pdf),
            Err(RenderError::TooComplex(_))
        ));
        // A 100 KB stream listed under 20,000 numbers (2 GB if each copy were kept).
        let data = vec![b'x'; 100_000];
        let mut stream = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
        stream.extend_from_slice(&data);
        stream.extend_from_slice(b"\nendstream");
        let pdf = pdf_of_objects(&[CATALOG.into(), NO_PAGES.into(), stream], 20_000);
        let why = too_complex(&pdf);
        assert!(why.contains("MiB of streams"), "{why}");
        // Ten cross-reference sections, each naming the one before (once spelt with an
        // escape): refused before lopdf reads the chain.
        let mut pdf = pdf_of_objects(&[CATALOG.into(), NO_PAGES.into()], 0);
        let mut previous = pdf.windows(5).position(|w| w == b"xref\n").unwrap();
        for i in 0..10 {
            let xref = pdf.len();
            let name = if i == 3 { "/P#72ev" } else { "/Prev" };
            let section = format!(
                "xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 3 /Root 1 0 R {name} {previous} >>\nstartxref\n{xref}\n%%EOF\n"
            );
            pdf.extend_from_slice(section.as_bytes());
            previous = xref;
        }
        let why = too_complex(&pdf);
        assert!(why.contains("10 earlier cross-reference sections"), "{why}");
        assert_eq!(
            names_spelling(b"/Prev /P#72ev /Pr#65v# /Prevx /Pre /P#7", b"Prev"),
            3
        );
    }
}
