//! The certificate page: layout on A4 and a deterministic PDF.
//!
//! printpdf 0.12 is a list of drawing operations, so the layout is done here by hand: every
//! string is measured with the font's own advances (`Fonts::text_width`) and wrapped by
//! characters (Chinese breaks anywhere; the identifier and the URL have no spaces), and the
//! body shrinks in steps until it fits, or rendering fails with [`RenderError::DoesNotFit`] —
//! text is never allowed to run off the page.

use std::collections::BTreeMap;

use image::GrayImage;
use lopdf::{Dictionary, Object};
use printpdf::{
    DictItem, ExternalStream, ExternalXObject, Op, PdfDocument, PdfPage, PdfSaveOptions, Px,
    XObject, XObjectId, XObjectTransform,
};

use super::RenderError;
use super::canvas::{Canvas, Drawn, Mm, PAGE_H, PAGE_W};
use super::fonts::Fonts;
use super::layout;
use super::qr;
use super::view::CertificateView;

/// Pixels per QR module in the embedded image: 4 px make a 340–370 px image (215–235 dpi at
/// 40 mm), so viewers and printers mostly scale it down rather than blur it up. Stored one bit
/// per pixel, it deflates to about 1 KB. The image is drawn with `/Interpolate false`.
const QR_MODULE_PX: u32 = 4;
/// Printed side of the QR code, quiet zone included (30–40 mm is what phones scan easily).
pub(crate) const QR_SIZE: Mm = 40.0;

/// Densest QR code we print (version 17): 0.43 mm modules at 40 mm, quiet zone included. Every
/// link the service makes fits (checked at start-up, see `issuance::check_link_capacity`).
const MAX_QR_MODULES: u32 = 85;

/// Render the certificate as a one-page A4 PDF.
///
/// Fails with [`RenderError::MissingGlyphs`] if any text holds a character the font cannot
/// draw, and with [`RenderError::DoesNotFit`] if the content cannot fit on the page (or the
/// URL is too long for a scannable QR code).
pub fn render_pdf(fonts: &Fonts, view: &CertificateView) -> Result<Vec<u8>, RenderError> {
    check_glyphs(fonts, view)?;
    let qr = qr::qr_image(&view.verify_url, QR_MODULE_PX)?;
    let modules = qr.width() / QR_MODULE_PX - 2 * qr::QUIET_ZONE as u32;
    if modules > MAX_QR_MODULES {
        return Err(RenderError::DoesNotFit(format!(
            "verification URL of {} bytes needs a {modules}-module QR code; at most \
             {MAX_QR_MODULES} modules stay scannable in {QR_SIZE} mm",
            view.verify_url.len()
        )));
    }

    // Fixed resource names keep the output reproducible (printpdf's own come from a
    // process-wide counter).
    let qr_id = XObjectId("QR".to_string());

    let mut canvas = Canvas::new(fonts);
    layout::draw(&mut canvas, view, QR_SIZE)?;
    let qr_at = canvas.qr_position();
    let photo_at = canvas.photo_position();
    let Drawn {
        mut ops,
        body,
        code,
    } = canvas.finish();
    let photo_id = XObjectId("Photo".to_string());
    let photo = match (&view.photo, photo_at) {
        (Some(jpeg), Some(at)) => {
            ops.push(Op::UseXobject {
                id: photo_id.clone(),
                transform: XObjectTransform {
                    translate_x: Some(at.0),
                    translate_y: Some(at.1),
                    dpi: Some(super::PHOTO_WIDTH_PX as f32 * 25.4 / layout::PHOTO_W),
                    ..Default::default()
                },
            });
            Some(jpeg_image(jpeg))
        }
        _ => None,
    };
    ops.push(Op::UseXobject {
        id: qr_id.clone(),
        transform: XObjectTransform {
            translate_x: Some(qr_at.0),
            translate_y: Some(qr_at.1),
            // The image is placed at its size at this resolution: width px / QR_SIZE inches.
            dpi: Some(qr.width() as f32 * 25.4 / QR_SIZE),
            ..Default::default()
        },
    });

    let mut doc = PdfDocument::new(&view.title);
    doc.resources.xobjects.map.insert(qr_id, one_bit_image(&qr));
    if let Some(photo) = photo {
        doc.resources.xobjects.map.insert(photo_id, photo);
    }
    let info = &mut doc.metadata.info;
    let when = printpdf::OffsetDateTime::from_unix_timestamp(view.issued_at.timestamp())
        .map_err(|e| RenderError::Pdf(format!("issued_at: {e}")))?;
    info.creation_date = when;
    info.modification_date = when;
    info.metadata_date = when;
    info.producer = "onetrip".to_string();
    info.creator = "onetrip".to_string();
    info.subject = view.identifier.clone();
    doc.with_pages(vec![PdfPage::new(
        printpdf::Mm(PAGE_W),
        printpdf::Mm(PAGE_H),
        ops,
    )]);

    let mut lo = to_lopdf(&doc);
    // The subset tags (`ABCDEF+NotoSansSC-Regular`) are derived from the document id, so the
    // same view gives the same bytes.
    let mut fonts = Dictionary::new();
    for (font, tag) in [
        (body, subset_tag(&view.document_id)),
        (code, subset_tag(&format!("{}/code", view.document_id))),
    ] {
        let resource = font.resource();
        if let Some(id) = font.write(&mut lo, &tag)? {
            fonts.set(resource, Object::Reference(id));
        }
    }
    add_fonts(&mut lo, fonts)?;
    save(lo, &view.document_id)
}

/// printpdf's document as lopdf objects, the fonts left out (see `embed.rs`).
fn to_lopdf(doc: &PdfDocument) -> lopdf::Document {
    let opts = PdfSaveOptions {
        optimize: true,
        subset_fonts: false,
        // The text operations are written out by `embed.rs` (`Op::Unknown`), which printpdf
        // drops in its secure mode.
        secure: false,
        // The QR code is already lossless (see `one_bit_image`) and the photo a JPEG.
        image_optimization: None,
    };
    let mut warnings = Vec::new();
    doc.to_lopdf_document(&opts, &mut warnings)
}

/// Name `fonts` in the page's resources: in the font dictionary printpdf refers to there
/// (empty, no font having been given to it), or as that dictionary if there is none.
fn add_fonts(lo: &mut lopdf::Document, fonts: Dictionary) -> Result<(), RenderError> {
    let pdf_error = |e: lopdf::Error| RenderError::Pdf(format!("page fonts: {e}"));
    let page = lo
        .get_pages()
        .into_values()
        .next()
        .ok_or_else(|| RenderError::Pdf("the document has no page".into()))?;
    let resources = match lo.get_dictionary(page).and_then(|p| p.get(b"Resources")) {
        Ok(Object::Reference(id)) => *id,
        _ => {
            return Err(RenderError::Pdf(
                "the page's resources are not an object".into(),
            ));
        }
    };
    let named = lo
        .get_dictionary(resources)
        .and_then(|r| r.get(b"Font"))
        .and_then(Object::as_reference);
    match named {
        Ok(id) => lo.get_dictionary_mut(id).map_err(pdf_error)?.extend(&fonts),
        Err(_) => lo
            .get_dictionary_mut(resources)
            .map_err(pdf_error)?
            .set("Font", fonts),
    }
    Ok(())
}

/// Replace the trailer `/ID` (which printpdf fills from its counter) with the caller's stable
/// document id, and write a PDF 1.5 file whose dictionaries sit in a deflated object stream
/// with a cross-reference stream (about 2 KB less than plain objects and an xref table; every
/// reader since 2003 opens it).
fn save(mut lo: lopdf::Document, document_id: &str) -> Result<Vec<u8>, RenderError> {
    compress(&mut lo)?;
    let ids = lo
        .trailer
        .get_mut(b"ID")
        .and_then(|id| id.as_array_mut())
        .map_err(|e| RenderError::Pdf(format!("trailer /ID: {e}")))?;
    for id in ids.iter_mut() {
        let bytes = id
            .as_str_mut()
            .map_err(|e| RenderError::Pdf(format!("trailer /ID: {e}")))?;
        *bytes = document_id.as_bytes().to_vec();
    }
    // printpdf writes every Info key, empty ones included; an empty /GTS_PDFXVersion makes
    // readers report the file as PDF/X, which it is not.
    let info = lo.trailer.get(b"Info").and_then(|info| info.as_reference());
    if let Ok(info) = info
        .and_then(|id| lo.get_object_mut(id))
        .and_then(|o| o.as_dict_mut())
    {
        let empty: Vec<Vec<u8>> = info
            .iter()
            .filter(|(_, value)| value.as_str().is_ok_and(|s| s.is_empty()))
            .map(|(key, _)| key.clone())
            .collect();
        for key in empty {
            info.remove(&key);
        }
    }
    let mut out = Vec::new();
    lo.save_modern(&mut out)
        .map_err(|e| RenderError::Pdf(e.to_string()))?;
    Ok(out)
}

/// Deflate every stream not yet filtered (the page's content, the QR image, the `/ToUnicode`
/// maps) at level 6, where lopdf's `compress` uses 9: as small within 1 %, in half the time.
fn compress(lo: &mut lopdf::Document) -> Result<(), RenderError> {
    for object in lo.objects.values_mut() {
        if let Object::Stream(stream) = object
            && stream.allows_compression
            && stream.dict.get(b"Filter").is_err()
        {
            let deflated = super::embed::deflate(&stream.content)?;
            if deflated.len() < stream.content.len() {
                stream
                    .dict
                    .set("Filter", Object::Name(b"FlateDecode".to_vec()));
                stream.set_content(deflated);
            }
        }
    }
    Ok(())
}

/// Refuse any text the font cannot draw, naming the part of the certificate it is in.
fn check_glyphs(fonts: &Fonts, view: &CertificateView) -> Result<(), RenderError> {
    let mut texts: Vec<(String, &str)> = vec![
        ("title".into(), &view.title),
        ("holder_label".into(), &view.holder_label),
        ("holder_name".into(), &view.holder_name),
        ("holder_id_label".into(), &view.holder_id_label),
        ("holder_id".into(), &view.holder_id),
        ("items_label".into(), &view.items_label),
        ("identifier".into(), &view.identifier),
        ("issuer".into(), &view.issuer),
        ("code_url".into(), &view.code_url),
    ];
    if let Some(subtitle) = &view.subtitle {
        texts.push(("subtitle".into(), subtitle));
    }
    for (label, value) in &view.fields {
        texts.push((format!("field label {label}"), label));
        texts.push((format!("field {label}"), value));
    }
    for (i, item) in view.items.iter().enumerate() {
        texts.push((format!("item {}", i + 1), item));
    }
    for (field, text) in texts {
        let chars = fonts.missing_chars(text);
        if !chars.is_empty() {
            return Err(RenderError::MissingGlyphs { field, chars });
        }
    }
    let chars = fonts.mono_missing_chars(&view.code);
    if !chars.is_empty() {
        return Err(RenderError::MissingGlyphs {
            field: "code".into(),
            chars,
        });
    }
    Ok(())
}

/// The QR code as a one-bit DeviceGray image XObject (0 black, 1 white), deflated when the
/// document is saved. printpdf's own images are 8-bit; one bit makes the stream an eighth of
/// the size, which saves 3–4 KB per certificate and most of the time spent deflating it.
fn one_bit_image(qr: &GrayImage) -> XObject {
    let dict = BTreeMap::from([
        ("Type".to_string(), DictItem::Name(b"XObject".to_vec())),
        ("Subtype".to_string(), DictItem::Name(b"Image".to_vec())),
        ("Width".to_string(), DictItem::Int(i64::from(qr.width()))),
        ("Height".to_string(), DictItem::Int(i64::from(qr.height()))),
        (
            "ColorSpace".to_string(),
            DictItem::Name(b"DeviceGray".to_vec()),
        ),
        ("BitsPerComponent".to_string(), DictItem::Int(1)),
        ("Interpolate".to_string(), DictItem::Bool(false)),
    ]);
    XObject::External(ExternalXObject {
        stream: ExternalStream {
            dict,
            content: super::qr::one_bit_rows(qr),
            compress: true,
        },
        width: Some(Px(qr.width() as usize)),
        height: Some(Px(qr.height() as usize)),
        dpi: None,
    })
}

/// The holder's photo, a baseline JPEG from [`printed_photo`](super::printed_photo), as an
/// RGB image XObject that keeps its DCT stream as it is (no second compression).
fn jpeg_image(jpeg: &[u8]) -> XObject {
    let (w, h) = (super::PHOTO_WIDTH_PX, super::PHOTO_HEIGHT_PX);
    let dict = BTreeMap::from([
        ("Type".to_string(), DictItem::Name(b"XObject".to_vec())),
        ("Subtype".to_string(), DictItem::Name(b"Image".to_vec())),
        ("Width".to_string(), DictItem::Int(i64::from(w))),
        ("Height".to_string(), DictItem::Int(i64::from(h))),
        (
            "ColorSpace".to_string(),
            DictItem::Name(b"DeviceRGB".to_vec()),
        ),
        ("BitsPerComponent".to_string(), DictItem::Int(8)),
        ("Filter".to_string(), DictItem::Name(b"DCTDecode".to_vec())),
    ]);
    XObject::External(ExternalXObject {
        stream: ExternalStream {
            dict,
            content: jpeg.to_vec(),
            compress: false,
        },
        width: Some(Px(w as usize)),
        height: Some(Px(h as usize)),
        dpi: None,
    })
}

/// Six upper-case letters derived from the document id (FNV-1a), as PDF subset tags must be.
fn subset_tag(document_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in document_id.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..6)
        .map(|i| char::from(b'A' + ((hash >> (i * 8)) % 26) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_tags_are_six_capitals_from_the_document_id() {
        let tag = subset_tag("abc");
        assert_eq!(tag.len(), 6);
        assert!(tag.chars().all(|c| c.is_ascii_uppercase()));
        assert_eq!(tag, subset_tag("abc"));
        assert_ne!(tag, subset_tag("abd"));
    }
}
