//! The certificate's fonts as the PDF carries them: each face embedded as a subset holding only
//! the glyphs the page draws, as a Type 0 font with Identity-H codes (ISO 32000-1, 9.7).
//!
//! Why not printpdf's own embedding: for every certificate it rebuilt the subset font's cmap
//! from all 30,898 glyphs of the CJK face (allsorts) and deflated the program at the highest
//! level, two thirds of the time a certificate took to render. Here the glyphs are numbered in
//! the order the page first draws them (a `GlyphRemapper`), the content stream carries those
//! numbers, and typst's `subsetter` copies just those outlines; the page's text stays
//! extractable through a `/ToUnicode` CMap built from the same numbering.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat};
use printpdf::cmap::ToUnicodeCMap;
use printpdf::{DictItem, Op};
use subsetter::GlyphRemapper;

use super::RenderError;
use super::fonts::Face;

/// The deflate level of every stream of a certificate: level 6 makes the font programs 1–2 %
/// larger than 9 in a quarter of the time.
const DEFLATE_LEVEL: u32 = 6;

/// One face as one page uses it: the glyphs drawn so far, numbered from 1 in order of first
/// use (0 is .notdef), and the character each stands for.
pub(crate) struct Embedding<'a> {
    face: &'a Face,
    /// The font's name in the page's resources (`/F1`).
    resource: &'static str,
    glyphs: GlyphRemapper,
    chars: BTreeMap<u16, char>,
}

impl<'a> Embedding<'a> {
    pub(crate) fn new(face: &'a Face, resource: &'static str) -> Self {
        Embedding {
            face,
            resource,
            glyphs: GlyphRemapper::new(),
            chars: BTreeMap::new(),
        }
    }

    /// The operation selecting this font at `size` points (`/F1 12 Tf`).
    pub(crate) fn select(&self, size: f32) -> Op {
        Op::Unknown {
            key: "Tf".into(),
            value: vec![
                DictItem::Name(self.resource.as_bytes().to_vec()),
                DictItem::Real(size),
            ],
        }
    }

    /// The operation showing `text` (`<0001 0002> Tj`): two bytes per character, the number
    /// of its glyph in the subset. A character the face lacks is drawn as .notdef, which the
    /// check after rendering finds missing from the text layer (callers refuse such text
    /// before drawing: `Fonts::missing_chars`).
    pub(crate) fn show(&mut self, text: &str) -> Op {
        let mut codes = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            let code = match self.face.glyph(c) {
                Some(glyph) => {
                    let code = self.glyphs.remap(glyph);
                    self.chars.entry(code).or_insert(c);
                    code
                }
                None => 0,
            };
            codes.extend_from_slice(&code.to_be_bytes());
        }
        Op::Unknown {
            key: "Tj".into(),
            value: vec![DictItem::String {
                data: codes,
                literal: false,
            }],
        }
    }

    /// The text a string of codes written by [`Embedding::show`] stands for.
    #[cfg(test)]
    pub(crate) fn text_of(&self, codes: &[u8]) -> String {
        codes
            .chunks(2)
            .filter_map(|pair| match pair {
                [high, low] => self.chars.get(&u16::from_be_bytes([*high, *low])),
                _ => None,
            })
            .collect()
    }

    /// The resource name this font is selected by.
    pub(crate) fn resource(&self) -> &'static str {
        self.resource
    }

    /// Write the font (Type 0 font, CID font, descriptor, subset program, `/ToUnicode`) into
    /// `doc` and answer the Type 0 font's object, or `None` when the page drew nothing in it.
    /// `tag` is the six capitals of the subset's name (`ABCDEF+NotoSansSC-Regular`).
    pub(crate) fn write(
        self,
        doc: &mut Document,
        tag: &str,
    ) -> Result<Option<ObjectId>, RenderError> {
        if self.chars.is_empty() {
            return Ok(None);
        }
        let program = subsetter::subset(self.face.bytes(), 0, &self.glyphs)
            .map_err(|e| RenderError::Font(format!("subsetting: {e:?}")))?;
        let parsed = self.face.parsed();
        let name = format!(
            "{tag}+{}",
            parsed
                .font_name
                .as_deref()
                .unwrap_or(self.resource)
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "")
        );
        let metrics = &parsed.pdf_font_metrics;
        let per_mille =
            |units: f32| (units * 1000.0 / f32::from(metrics.units_per_em.max(1))).round() as i64;

        let widths: Vec<Object> = self
            .glyphs
            .remapped_gids()
            .map(|glyph| Object::Integer((self.face.advance(glyph) * 1000.0).round() as i64))
            .collect();
        let unicode = ToUnicodeCMap {
            mappings: self
                .chars
                .iter()
                .map(|(&code, &c)| (u32::from(code), vec![u32::from(c)]))
                .collect(),
        };
        let to_unicode = doc.add_object(Stream::new(
            Dictionary::new(),
            unicode.to_cmap_string(tag).into_bytes(),
        ));

        let mut file = Dictionary::new();
        file.set("Length1", Object::Integer(program.len() as i64));
        file.set("Filter", Object::Name(b"FlateDecode".to_vec()));
        let file = doc.add_object(Stream::new(file, deflate(&program)?));

        let ascent = per_mille(f32::from(metrics.ascender));
        let descriptor = doc.add_object(Dictionary::from_iter([
            ("Type", Object::Name(b"FontDescriptor".to_vec())),
            ("FontName", Object::Name(name.clone().into_bytes())),
            // Symbolic: the glyphs are addressed by number, not through a standard encoding.
            ("Flags", Object::Integer(4)),
            (
                "FontBBox",
                Object::Array(
                    [metrics.x_min, metrics.y_min, metrics.x_max, metrics.y_max]
                        .into_iter()
                        .map(|v| Object::Integer(per_mille(f32::from(v))))
                        .collect(),
                ),
            ),
            ("ItalicAngle", Object::Integer(0)),
            ("Ascent", Object::Integer(ascent)),
            (
                "Descent",
                Object::Integer(per_mille(f32::from(metrics.descender))),
            ),
            (
                "CapHeight",
                Object::Integer(parsed.font_metrics.cap_height.map_or(ascent, per_mille)),
            ),
            // No table carries the stem width; this is the usual estimate from the weight.
            (
                "StemV",
                Object::Integer(
                    50 + (f32::from(metrics.us_weight_class) / 65.0).powi(2).round() as i64,
                ),
            ),
            ("FontFile2", Object::Reference(file)),
        ]));
        let cid_font = Dictionary::from_iter([
            ("Type", Object::Name(b"Font".to_vec())),
            ("Subtype", Object::Name(b"CIDFontType2".to_vec())),
            ("BaseFont", Object::Name(name.clone().into_bytes())),
            (
                "CIDSystemInfo",
                Object::Dictionary(Dictionary::from_iter([
                    (
                        "Registry",
                        Object::String(b"Adobe".to_vec(), StringFormat::Literal),
                    ),
                    (
                        "Ordering",
                        Object::String(b"Identity".to_vec(), StringFormat::Literal),
                    ),
                    ("Supplement", Object::Integer(0)),
                ])),
            ),
            ("FontDescriptor", Object::Reference(descriptor)),
            (
                "W",
                Object::Array(vec![Object::Integer(0), Object::Array(widths)]),
            ),
            ("CIDToGIDMap", Object::Name(b"Identity".to_vec())),
        ]);
        let font = doc.add_object(Dictionary::from_iter([
            ("Type", Object::Name(b"Font".to_vec())),
            ("Subtype", Object::Name(b"Type0".to_vec())),
            ("BaseFont", Object::Name(name.into_bytes())),
            ("Encoding", Object::Name(b"Identity-H".to_vec())),
            (
                "DescendantFonts",
                Object::Array(vec![Object::Dictionary(cid_font)]),
            ),
            ("ToUnicode", Object::Reference(to_unicode)),
        ]));
        Ok(Some(font))
    }
}

/// `bytes` deflated in a zlib wrapper, as a PDF's `/FlateDecode` filter reads them.
pub(crate) fn deflate(bytes: &[u8]) -> Result<Vec<u8>, RenderError> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(DEFLATE_LEVEL));
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| RenderError::Pdf(format!("deflating a stream: {e}")))
}
