//! The one CJK font a certificate is set in, parsed once per process.
//!
//! Parsing the 10 MB Noto Sans SC file costs 12–50 ms, so the service parses it once at start-up
//! and shares the result (`Arc<Fonts>`); each render then embeds only the glyphs the page
//! actually uses (see `embed.rs`), a few tens of kilobytes.

use std::collections::HashMap;
use std::sync::Arc;

use printpdf::ParsedFont;

use super::RenderError;

/// Noto Sans SC Regular 2.004, compiled into the binary so a deployment cannot lose its font
/// and silently fall back to boxes (see `fonts/README.md` for provenance and licence).
static EMBEDDED_FONT: &[u8] = include_bytes!("../../fonts/NotoSansSC-Regular.ttf");

/// JetBrains Mono Medium, for the verification code alone: a monospace face whose `0`, `O`,
/// `1`, `I` and `L` cannot be mistaken for one another.
static EMBEDDED_MONO: &[u8] = include_bytes!("../../fonts/JetBrainsMono-Medium.ttf");

/// The code points searched for glyphs shared by several characters: the BMP and the
/// supplementary ideographic planes.
const SCANNED: std::ops::RangeInclusive<u32> = 0x20..=0x3_FFFF;

/// The parsed certificate font plus the metrics the layout needs.
///
/// No shaping is done: every `char` is mapped through the cmap to one glyph and advanced by its
/// `hmtx` width, when the page is drawn (`embed.rs`) and when it is measured
/// (`Fonts::text_width`), so centring, right-alignment and wrapping match what is on the page.
#[derive(Debug, Clone)]
pub struct Fonts {
    font: Face,
    mono: Face,
    /// Characters drawn with the same glyph as another, preferred character (`⼀` and `一`):
    /// the PDF's text layer can give back only one character per glyph, so the other could
    /// never be found in its own certificate.
    look_alikes: HashMap<char, char>,
}

/// Why a character cannot be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unprintable {
    /// The font has no glyph for it: it would print as an empty box.
    Missing(char),
    /// It shares its glyph with `of`, the character to use instead.
    LookAlike { found: char, of: char },
    /// It is wider than an ideograph (`⸻`, the three-em dash): the page's limits are
    /// measured in characters one em wide.
    TooWide(char),
}

/// The widest advance a printed character may have, in em: an ideograph is 1.0, and a few
/// Cyrillic capitals reach 1.014 in Noto Sans SC.
const MAX_ADVANCE_EM: f32 = 1.02;

impl Fonts {
    /// The font embedded in the binary (`fonts/NotoSansSC-Regular.ttf`).
    pub fn embedded() -> Result<Fonts, RenderError> {
        Fonts::from_bytes(EMBEDDED_FONT)
    }

    /// Parse another TrueType/OpenType font (face 0), e.g. a fuller CJK font chosen at deploy
    /// time; the verification code stays in the embedded monospace face.
    pub fn from_bytes(bytes: &[u8]) -> Result<Fonts, RenderError> {
        let font = Face::parse(bytes)?;
        if font.glyph('证').is_none() {
            return Err(RenderError::Font(
                "font has no glyph for 证: not a Chinese font".to_string(),
            ));
        }
        let mono = Face::parse(EMBEDDED_MONO)?;
        Ok(Fonts {
            look_alikes: look_alikes(&font),
            font,
            mono,
        })
    }

    /// The first character of `text` that cannot be printed as itself, if any.
    pub fn unprintable(&self, text: &str) -> Option<Unprintable> {
        text.chars().find_map(|c| {
            if c.is_whitespace() {
                None
            } else if self.font.glyph(c).is_none() {
                Some(Unprintable::Missing(c))
            } else if self.char_width(c, 1.0) > MAX_ADVANCE_EM {
                Some(Unprintable::TooWide(c))
            } else {
                self.look_alikes
                    .get(&c)
                    .map(|&of| Unprintable::LookAlike { found: c, of })
            }
        })
    }

    /// Characters of `text` the font cannot draw, each reported once, in order of appearance.
    ///
    /// A missing glyph would be printed as an empty box and silently dropped from the text
    /// layer, so a certificate must refuse such text (e.g. a holder named with 𠮷 U+20BB7)
    /// rather than print it. Whitespace is always fine: the renderer draws it as a space or
    /// a line break, never as a glyph of its own.
    pub fn missing_chars(&self, text: &str) -> Vec<char> {
        let mut missing: Vec<char> = Vec::new();
        for c in text.chars() {
            if !c.is_whitespace() && self.font.glyph(c).is_none() && !missing.contains(&c) {
                missing.push(c);
            }
        }
        missing
    }

    /// Width of `text` set at `size_pt`, in points; whitespace counts as a space.
    pub(crate) fn text_width(&self, text: &str, size_pt: f32) -> f32 {
        text.chars().map(|c| self.char_width(c, size_pt)).sum()
    }

    /// Advance of one character at `size_pt`, in points; whitespace counts as a space.
    pub(crate) fn char_width(&self, c: char, size_pt: f32) -> f32 {
        let c = if c.is_whitespace() { ' ' } else { c };
        self.font.glyph(c).map_or(0.0, |g| self.font.advance(g)) * size_pt
    }

    /// The widest character the font draws among those `accept` lets through: what the
    /// largest-certificate tests fill every value with.
    pub fn widest_char(&self, accept: impl Fn(char) -> bool) -> Option<char> {
        SCANNED
            .filter_map(char::from_u32)
            .filter(|&c| !c.is_whitespace() && self.font.glyph(c).is_some() && accept(c))
            .max_by(|&a, &b| self.char_width(a, 1.0).total_cmp(&self.char_width(b, 1.0)))
    }

    /// Width of `text` in the monospace face at `size_pt`, in points.
    pub(crate) fn mono_width(&self, text: &str, size_pt: f32) -> f32 {
        let units: u32 = text
            .chars()
            .filter_map(|c| self.mono.glyph(c))
            .map(|g| u32::from(self.mono.parsed.get_horizontal_advance(g)))
            .sum();
        units as f32 * size_pt / self.mono.units_per_em
    }

    /// Characters of `text` the monospace face cannot draw.
    pub(crate) fn mono_missing_chars(&self, text: &str) -> Vec<char> {
        text.chars()
            .filter(|&c| self.mono.glyph(c).is_none())
            .collect()
    }

    /// The face everything but the verification code is set in.
    pub(crate) fn body(&self) -> &Face {
        &self.font
    }

    /// The monospace face of the verification code.
    pub(crate) fn code(&self) -> &Face {
        &self.mono
    }
}

/// One TrueType face: parsed for its metrics, and its file kept for subsetting.
#[derive(Debug, Clone)]
pub(crate) struct Face {
    parsed: ParsedFont,
    /// The font file, shared by every clone of [`Fonts`].
    bytes: Arc<[u8]>,
    units_per_em: f32,
}

impl Face {
    fn parse(bytes: &[u8]) -> Result<Face, RenderError> {
        // The subsetter keeps outlines as they are: TrueType outlines are embedded as a
        // CIDFontType2 (`embed.rs`); a CFF face would need another font dictionary.
        if !bytes.starts_with(&[0, 1, 0, 0]) && !bytes.starts_with(b"true") {
            return Err(RenderError::Font(
                "only TrueType fonts (glyf outlines, one face per file) can be embedded".into(),
            ));
        }
        let mut warnings = Vec::new();
        let parsed = ParsedFont::from_bytes(bytes, 0, &mut warnings)
            .ok_or_else(|| RenderError::Font(format!("font could not be parsed: {warnings:?}")))?;
        Ok(Face {
            units_per_em: f32::from(parsed.font_metrics.units_per_em.max(1)),
            parsed,
            bytes: Arc::from(bytes),
        })
    }

    /// The glyph drawing `c`; glyph 0 is .notdef — the empty box — so it counts as missing.
    pub(crate) fn glyph(&self, c: char) -> Option<u16> {
        self.parsed
            .lookup_glyph_index(u32::from(c))
            .filter(|&g| g != 0)
    }

    /// The advance of glyph `g`, in em.
    pub(crate) fn advance(&self, g: u16) -> f32 {
        f32::from(self.parsed.get_horizontal_advance(g)) / self.units_per_em
    }

    /// The parsed font: its names and metrics.
    pub(crate) fn parsed(&self) -> &ParsedFont {
        &self.parsed
    }

    /// The font file.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Every character whose glyph another character also uses, mapped to the one of them to
/// use: an ASCII character or a unified ideograph if there is one, else the lowest code point.
fn look_alikes(font: &Face) -> HashMap<char, char> {
    let mut by_glyph: HashMap<u16, Vec<char>> = HashMap::new();
    for c in SCANNED.filter_map(char::from_u32) {
        if let Some(g) = font.glyph(c) {
            by_glyph.entry(g).or_default().push(c);
        }
    }
    let preferred = |c: &char| {
        let unified =
            matches!(u32::from(*c), 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x2_0000..=0x3_FFFF);
        (!(c.is_ascii() || unified), *c)
    };
    let mut look_alikes = HashMap::new();
    for chars in by_glyph.into_values().filter(|chars| chars.len() > 1) {
        if let Some(&of) = chars.iter().min_by_key(|c| preferred(c)) {
            look_alikes.extend(chars.into_iter().filter(|&c| c != of).map(|c| (c, of)));
        }
    }
    look_alikes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_chars_finds_extension_b_but_not_common_hanzi() {
        let fonts = Fonts::embedded().unwrap();
        assert_eq!(fonts.missing_chars("张三"), Vec::<char>::new());
        assert_eq!(fonts.missing_chars("吉\u{20BB7}祥 \n\t"), vec!['\u{20BB7}']);
        // Reported once even when repeated; Latin, digits and full-width punctuation are drawn.
        assert_eq!(fonts.missing_chars("𠮷𠮷"), vec!['𠮷']);
        assert!(fonts.missing_chars("ABC-123（一企一证）：，。").is_empty());
    }

    #[test]
    fn look_alikes_name_the_character_to_use() {
        let fonts = Fonts::embedded().unwrap();
        assert_eq!(fonts.unprintable("一号公司"), None);
        assert_eq!(
            fonts.unprintable("一\u{2F00}号"),
            Some(Unprintable::LookAlike {
                found: '\u{2F00}',
                of: '一'
            })
        );
        assert_eq!(
            fonts.unprintable("\u{F900}"),
            Some(Unprintable::LookAlike {
                found: '\u{F900}',
                of: '\u{8C48}'
            })
        );
        assert_eq!(
            fonts.unprintable("张\u{20BB7}"),
            Some(Unprintable::Missing('\u{20BB7}'))
        );
        assert_eq!(fonts.unprintable("A⸻B"), Some(Unprintable::TooWide('⸻')));
        // Every character of the realistic corpus but 𠮷 prints as itself.
        assert_eq!(
            fonts.unprintable("阿依古丽·买买提（杭州）刘䶮李堃陈喆"),
            None
        );
    }

    #[test]
    fn the_code_face_is_monospace_and_has_the_alphabet() {
        let fonts = Fonts::embedded().unwrap();
        assert!(
            fonts
                .mono_missing_chars("0123456789ABCDEFGHJKMNPQRSTVWXYZ-")
                .is_empty()
        );
        assert_eq!(fonts.mono_width("W", 10.0), fonts.mono_width("1", 10.0));
        assert_eq!(
            fonts.mono_width("XK7M-2QPD", 10.0),
            9.0 * fonts.mono_width("-", 10.0)
        );
    }

    #[test]
    fn fonts_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Fonts>();
        shareable::<std::sync::Arc<Fonts>>();
    }

    #[test]
    fn widths_follow_the_font() {
        let fonts = Fonts::embedded().unwrap();
        // CJK ideographs are one em wide in Noto Sans SC; Latin is narrower.
        let cjk = fonts.text_width("证", 10.0);
        assert!((cjk - 10.0).abs() < 0.01, "{cjk}");
        assert!(fonts.text_width("i", 10.0) < 5.0);
        assert_eq!(fonts.text_width("", 10.0), 0.0);
    }
}
