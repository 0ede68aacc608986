//! Drawing primitives in page millimetres over printpdf's operation list.
//!
//! Coordinates are millimetres from the top-left corner (how one designs a form); the canvas
//! converts them to PDF points from the bottom-left and measures and wraps text with the
//! font's own advances, so what is measured is what is drawn.

use printpdf::{Color, Line, LinePoint, Op, PaintMode, Point, Pt, Rect, TextMatrix};

use super::embed::Embedding;
use super::fonts::Fonts;

/// Millimetres.
pub(crate) type Mm = f32;
pub(crate) const PAGE_W: Mm = 210.0;
pub(crate) const PAGE_H: Mm = 297.0;
pub(crate) const PT_PER_MM: f32 = 72.0 / 25.4;

pub(crate) fn mm_to_pt(mm: Mm) -> Pt {
    Pt(mm * PT_PER_MM)
}

/// Collects printpdf operations for one page, and the glyphs its text uses in each face.
pub(crate) struct Canvas<'a> {
    fonts: &'a Fonts,
    body: Embedding<'a>,
    /// The monospace face of the verification code.
    code: Embedding<'a>,
    ops: Vec<Op>,
    qr_at: (Pt, Pt),
    photo_at: Option<(Pt, Pt)>,
}

/// What a finished canvas holds: the page's operations and the two faces as it uses them.
pub(crate) struct Drawn<'a> {
    pub(crate) ops: Vec<Op>,
    pub(crate) body: Embedding<'a>,
    pub(crate) code: Embedding<'a>,
}

/// Which face a text is set in.
#[derive(Clone, Copy)]
enum Face {
    Body,
    Code,
}

impl<'a> Canvas<'a> {
    pub(crate) fn new(fonts: &'a Fonts) -> Self {
        Canvas {
            fonts,
            body: Embedding::new(fonts.body(), "F1"),
            code: Embedding::new(fonts.code(), "F2"),
            ops: Vec::with_capacity(512),
            qr_at: (Pt(0.0), Pt(0.0)),
            photo_at: None,
        }
    }
    pub(crate) fn finish(self) -> Drawn<'a> {
        Drawn {
            ops: self.ops,
            body: self.body,
            code: self.code,
        }
    }
    /// Bottom-left corner of the QR code, in PDF points.
    pub(crate) fn qr_position(&self) -> (Pt, Pt) {
        self.qr_at
    }
    /// Bottom-left corner of the holder's photo, in PDF points, if the page has one.
    pub(crate) fn photo_position(&self) -> Option<(Pt, Pt)> {
        self.photo_at
    }
    /// Remember where the photo goes: its bottom-left corner, in page millimetres.
    pub(crate) fn set_photo_position(&mut self, x: Mm, bottom: Mm) {
        self.photo_at = Some((mm_to_pt(x), mm_to_pt(PAGE_H - bottom)));
    }
    pub(crate) fn push(&mut self, op: Op) {
        self.ops.push(op);
    }
    /// Remember where the QR image goes: its bottom-left corner, in page millimetres.
    pub(crate) fn set_qr_position(&mut self, x: Mm, bottom: Mm) {
        self.qr_at = (mm_to_pt(x), mm_to_pt(PAGE_H - bottom));
    }
    /// A horizontal rule at `y` from `x1` to `x2`.
    pub(crate) fn rule(&mut self, x1: Mm, x2: Mm, y: Mm) {
        let point = |x: Mm| LinePoint {
            p: Point {
                x: mm_to_pt(x),
                y: mm_to_pt(PAGE_H - y),
            },
            bezier: false,
        };
        let line = Line {
            points: vec![point(x1), point(x2)],
            is_closed: false,
        };
        self.ops.push(Op::DrawLine { line });
    }
    pub(crate) fn width(&self, text: &str, size: f32) -> Mm {
        self.fonts.text_width(text, size) / PT_PER_MM
    }
    /// Width of `text` set in the monospace face.
    pub(crate) fn code_width(&self, text: &str, size: f32) -> Mm {
        self.fonts.mono_width(text, size) / PT_PER_MM
    }
    pub(crate) fn color(&mut self, col: Color) {
        self.ops.push(Op::SetFillColor { col: col.clone() });
        self.ops.push(Op::SetOutlineColor { col });
    }

    /// Draw `text` with its baseline starting at (`x`, `baseline`), turned counter-clockwise by
    /// the angle whose (sine, cosine) is `rotation` — given as numbers rather than degrees so the
    /// bytes do not depend on the platform's `sin`. Whitespace is drawn as plain spaces.
    pub(crate) fn text_at(
        &mut self,
        x: Mm,
        baseline: Mm,
        size: f32,
        rotation: (f32, f32),
        text: &str,
    ) {
        if text.is_empty() {
            return;
        }
        let text: String = text
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        self.show(Face::Body, x, baseline, size, rotation, &text);
    }

    /// Draw `text` in the monospace face (the verification code), baseline at (`x`, `baseline`).
    pub(crate) fn code(&mut self, x: Mm, baseline: Mm, size: f32, text: &str) {
        self.show(Face::Code, x, baseline, size, (0.0, 1.0), text);
    }

    fn show(
        &mut self,
        face: Face,
        x: Mm,
        baseline: Mm,
        size: f32,
        rotation: (f32, f32),
        text: &str,
    ) {
        let (x, y) = (mm_to_pt(x), mm_to_pt(PAGE_H - baseline));
        let (sin, cos) = rotation;
        let font = match face {
            Face::Body => &mut self.body,
            Face::Code => &mut self.code,
        };
        let (select, show) = (font.select(size), font.show(text));
        self.ops.push(Op::StartTextSection);
        self.ops.push(select);
        self.ops.push(Op::SetTextMatrix {
            matrix: TextMatrix::Raw([cos, sin, -sin, cos, x.0, y.0]),
        });
        self.ops.push(show);
        self.ops.push(Op::EndTextSection);
    }
    pub(crate) fn text(&mut self, x: Mm, baseline: Mm, size: f32, text: &str) {
        self.text_at(x, baseline, size, (0.0, 1.0), text);
    }
    pub(crate) fn text_centered(&mut self, baseline: Mm, size: f32, text: &str) {
        let x = (PAGE_W - self.width(text, size)) / 2.0;
        self.text(x, baseline, size, text);
    }
    pub(crate) fn text_right(&mut self, right: Mm, baseline: Mm, size: f32, text: &str) {
        let x = right - self.width(text, size);
        self.text(x, baseline, size, text);
    }

    /// Stroke a rectangle given by its top-left corner and size.
    pub(crate) fn frame(&mut self, x: Mm, top: Mm, w: Mm, h: Mm, line_pt: f32) {
        self.ops.push(Op::SetOutlineThickness { pt: Pt(line_pt) });
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: mm_to_pt(x),
                y: mm_to_pt(PAGE_H - top - h),
                width: mm_to_pt(w),
                height: mm_to_pt(h),
                mode: Some(PaintMode::Stroke),
                winding_order: None,
            },
        });
    }

    /// Break `text` into lines no wider than `width`, between any two characters (Chinese
    /// has no spaces to break at, nor do the identifier and the URL). Closing punctuation
    /// stays with the character before it; `\n` forces a break.
    pub(crate) fn wrap(&self, text: &str, size: f32, width: Mm) -> Vec<String> {
        let limit = width * PT_PER_MM;
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let first = lines.len();
            let mut line = String::new();
            let mut used = 0.0;
            for c in paragraph.chars() {
                let w = self.fonts.char_width(c, size);
                if used + w > limit && !line.is_empty() && !is_closing(c) {
                    lines.push(line.trim_end().to_string());
                    line.clear();
                    used = 0.0;
                    if c.is_whitespace() {
                        continue;
                    }
                }
                line.push(c);
                used += w;
            }
            lines.push(line.trim_end().to_string());
            no_orphan(&mut lines[first..]);
        }
        lines
    }
}

/// Closing punctuation stays with the character before it: no line starts with one.
fn is_closing(c: char) -> bool {
    "，。、；：）》」』！？,.;:)!?".contains(c)
}

/// A Chinese paragraph never ends on a line holding one character (有限公/司): the last
/// line takes the character before it too (and a closing mark's character with it). The
/// shorter line above still fits; the last line holds two or three narrow characters.
fn no_orphan(lines: &mut [String]) {
    let [.., above, last] = lines else {
        return;
    };
    let single = last.chars().count() == 1 && last.chars().all(|c| !c.is_ascii());
    if !single || above.chars().count() < 3 || above.ends_with(char::is_whitespace) {
        return;
    }
    let mut moved = String::new();
    while let Some(c) = above.pop() {
        moved.insert(0, c);
        if !is_closing(c) || above.chars().count() <= 1 {
            break;
        }
    }
    last.insert_str(0, &moved);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_every_character_and_every_line_fits() {
        let fonts = Fonts::embedded().unwrap();
        let c = Canvas::new(&fonts);
        let url = "https://zwfw.example.gov.cn/v/eyJhbGciOiJFZERTQSJ9.".repeat(8);
        let lines = c.wrap(&url, 6.5, 100.0);
        assert!(lines.len() > 2);
        assert_eq!(lines.concat(), url);
        assert!(lines.iter().all(|l| c.width(l, 6.5) <= 100.0));
        // Chinese breaks anywhere, but a closing comma stays with the character before it.
        let lines = c.wrap(
            "浙江省杭州市余杭区仓前街道，文一西路",
            12.0,
            12.0 * 13.0 / PT_PER_MM,
        );
        assert_eq!(lines[0], "浙江省杭州市余杭区仓前街道，");
        assert_eq!(
            c.wrap("第一行\n第二行", 12.0, 100.0),
            vec!["第一行", "第二行"]
        );
    }

    #[test]
    fn no_line_ends_a_paragraph_with_one_character() {
        let fonts = Fonts::embedded().unwrap();
        let c = Canvas::new(&fonts);
        // Eight characters in a column seven wide: 有限公/司 without the rule.
        let width = c.width("浙江钢铁有限公", 12.0) + 0.1;
        let lines = c.wrap("浙江钢铁有限公司", 12.0, width);
        assert_eq!(lines, vec!["浙江钢铁有限", "公司"]);
        let lines = c.wrap(
            "食品用纸包装容器等制品",
            12.0,
            c.width("食品用纸包装容器等制", 12.0) + 0.1,
        );
        assert_eq!(lines, vec!["食品用纸包装容器等", "制品"]);
        for width in [20.0, 25.0, 31.0, 40.0, 47.0] {
            let text = "浙江省杭州市萧山区临浦镇建筑用钢筋加工有限责任公司（分公司）";
            let lines = c.wrap(text, 11.0, width);
            assert_eq!(lines.concat(), text);
            assert!(lines.iter().all(|l| c.width(l, 11.0) <= width));
            assert!(lines.iter().all(|l| l.chars().count() > 1), "{lines:?}");
        }
    }
}
