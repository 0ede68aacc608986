//! The one CJK font a certificate is set in, parsed once per process.
//!
//! Parsing the 10 MB Noto Sans SC file costs 12–50 ms, so the service parses it once at start-up
//! and shares the result (`Arc<Fonts>`); each render then only clones cheap handles and lets
//! printpdf embed the subset of glyphs the page actually uses (tens of kilobytes).

use printpdf::ParsedFont;

use super::RenderError;

/// Noto Sans SC Regular 2.004, compiled into the binary so a deployment cannot lose its font
/// and silently fall back to boxes (see `fonts/README.md` for provenance and licence).
static EMBEDDED_FONT: &[u8] = include_bytes!("../../fonts/NotoSansSC-Regular.ttf");

/// The parsed certificate font plus the metrics the layout needs.
///
/// printpdf 0.12 does no shaping for `TextItem::Text`: every `char` is mapped through the cmap
/// to one glyph and advanced by its `hmtx` width. `Fonts::text_width` measures exactly the same
/// way, so centring, right-alignment and wrapping match what ends up on the page.
#[derive(Debug, Clone)]
pub struct Fonts {
    font: ParsedFont,
    units_per_em: f32,
}

impl Fonts {
    /// The font embedded in the binary (`fonts/NotoSansSC-Regular.ttf`).
    pub fn embedded() -> Result<Fonts, RenderError> {
        Fonts::from_bytes(EMBEDDED_FONT)
    }

    /// Parse another TrueType/OpenType font (face 0), e.g. a fuller CJK font chosen at deploy time.
    pub fn from_bytes(bytes: &[u8]) -> Result<Fonts, RenderError> {
        let mut warnings = Vec::new();
        let font = ParsedFont::from_bytes(bytes, 0, &mut warnings)
            .ok_or_else(|| RenderError::Font(format!("font could not be parsed: {warnings:?}")))?;
        let units_per_em = f32::from(font.font_metrics.units_per_em.max(1));
        if font.lookup_glyph_index(u32::from('证')).is_none() {
            return Err(RenderError::Font(
                "font has no glyph for 证: not a Chinese font".to_string(),
            ));
        }
        Ok(Fonts { font, units_per_em })
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
            if !c.is_whitespace() && self.glyph(c).is_none() && !missing.contains(&c) {
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
        let units = self
            .glyph(c)
            .map_or(0, |g| self.font.get_horizontal_advance(g));
        f32::from(units) * size_pt / self.units_per_em
    }

    /// The parsed font, for `PdfFont::new` (its clone shares the font bytes through an `Arc`).
    pub(crate) fn parsed(&self) -> &ParsedFont {
        &self.font
    }

    fn glyph(&self, c: char) -> Option<u16> {
        // Glyph 0 is .notdef — the empty box — so it counts as missing.
        self.font
            .lookup_glyph_index(u32::from(c))
            .filter(|&g| g != 0)
    }
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
