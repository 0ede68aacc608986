//! Where everything goes on the A4 page.
//!
//! Coordinates are millimetres measured from the top-left corner (how a designer thinks
//! about a form); [`Canvas`] converts them to PDF points from the bottom-left. The page has
//! three zones: the heading (fixed), the footer (QR code, URL, note, issuing authority —
//! anchored to the bottom edge, its height following the URL's length) and the body between
//! them, which shrinks its type in steps until it fits.

use printpdf::{Op, Pt, TextRenderingMode};

use super::RenderError;
use super::canvas::{Canvas, Mm, PAGE_H, PAGE_W, PT_PER_MM};
use super::view::{CertificateView, black, chinese_date, rgb};

/// Text column edges (inside the double border at 12/14 mm).
const LEFT: Mm = 26.0;
const RIGHT: Mm = 184.0;
/// Values start here; labels wrap within the space before.
const VALUE_X: Mm = 64.0;
/// Top of the body zone (below the title block) and the smallest gap between body rows.
const BODY_TOP: Mm = 70.0;
/// Type sizes (pt) at scale 1.0; the body is tried at decreasing scales until it fits.
const LABEL_PT: f32 = 11.0;
const VALUE_PT: f32 = 12.0;
const NAME_PT: f32 = 14.0;
const ITEM_PT: f32 = 11.0;
const SCALES: [f32; 7] = [1.0, 0.93, 0.86, 0.8, 0.74, 0.68, 0.62];
/// The holder's photo (a 1-inch portrait), at the top right of the body.
pub(crate) const PHOTO_W: Mm = 25.0;
pub(crate) const PHOTO_H: Mm = 35.0;
/// Values beside the photo stop this far before it.
const PHOTO_GAP: Mm = 4.0;
/// Lists longer than this are set in two columns.
const ONE_COLUMN_MAX: usize = 5;

/// Line pitch for type of `size` pt, in mm.
fn leading(size: f32) -> Mm {
    size * 1.5 / PT_PER_MM
}
/// Distance from the top of a line box to its baseline, in mm.
fn ascent(size: f32) -> Mm {
    size * 1.1 / PT_PER_MM
}

/// One body row: a label on the left, lines of value text on the right.
struct Row {
    label: Vec<String>,
    label_pt: f32,
    value_pt: f32,
    /// (x offset from `VALUE_X`, line index, text)
    lines: Vec<(Mm, usize, String)>,
    /// Set at full width, so it starts below the photo.
    below_photo: bool,
}

impl Row {
    fn height(&self) -> Mm {
        let value_lines = self.lines.iter().map(|l| l.1 + 1).max().unwrap_or(1);
        let label = self.label.len() as f32 * leading(self.label_pt);
        label.max(value_lines as f32 * leading(self.value_pt))
    }
}

/// Draw the whole page; `qr_size` is reserved bottom-left for the QR image.
pub(crate) fn draw(c: &mut Canvas, view: &CertificateView, qr_size: Mm) -> Result<(), RenderError> {
    let frame_color = rgb(0.60, 0.12, 0.10);
    if view.specimen {
        // Under everything else, in a tint light enough to read the text through it.
        c.color(rgb(0.97, 0.82, 0.80));
        let text = "样本  SPECIMEN";
        // 33°, as (sin, cos).
        let (size, (sin, cos)) = (60.0, (0.544_639, 0.838_671));
        let half = c.width(text, size) / 2.0;
        // Rotate about the page centre; y grows downwards here.
        let cx = PAGE_W / 2.0 - half * cos + 8.0 * sin;
        let cy = PAGE_H / 2.0 + half * sin + 8.0 * cos;
        c.text_at(cx, cy, size, (sin, cos), text);
    }

    // Thin double border.
    c.color(frame_color.clone());
    c.frame(12.0, 12.0, PAGE_W - 24.0, PAGE_H - 24.0, 1.2);
    c.frame(14.0, 14.0, PAGE_W - 28.0, PAGE_H - 28.0, 0.4);

    if view.specimen {
        c.color(rgb(0.80, 0.08, 0.08));
        c.text_centered(
            22.5,
            9.0,
            "样本 SPECIMEN · 仅供演示，不是有效证照 / Not a valid certificate",
        );
    }

    // Heading: the title in a heavier stroke with letter spacing, as on printed licences.
    let title_pt = fit_size(c, &view.title, 26.0, RIGHT - LEFT, 16.0);
    let subtitle_pt = fit_size(
        c,
        view.subtitle.as_deref().unwrap_or(""),
        13.0,
        RIGHT - LEFT,
        9.0,
    );
    if c.width(&view.title, title_pt) > RIGHT - LEFT
        || c.width(view.subtitle.as_deref().unwrap_or(""), subtitle_pt) > RIGHT - LEFT
    {
        return Err(RenderError::DoesNotFit(
            "title or subtitle too long for one line".to_string(),
        ));
    }
    let spacing = if view.title.chars().count() <= 12 {
        4.0
    } else {
        0.0
    };
    let n = view.title.chars().count().saturating_sub(1) as f32;
    let width = c.width(&view.title, title_pt) + spacing * n / PT_PER_MM;
    c.color(black());
    c.push(Op::SetCharacterSpacing {
        multiplier: spacing,
    });
    c.push(Op::SetTextRenderingMode {
        mode: TextRenderingMode::FillStroke,
    });
    c.push(Op::SetOutlineThickness { pt: Pt(0.5) });
    c.text((PAGE_W - width) / 2.0, 42.0, title_pt, &view.title);
    c.push(Op::SetTextRenderingMode {
        mode: TextRenderingMode::Fill,
    });
    c.push(Op::SetCharacterSpacing { multiplier: 0.0 });
    if let Some(subtitle) = &view.subtitle {
        c.text_centered(52.0, subtitle_pt, subtitle);
    }
    c.color(frame_color);
    c.push(Op::SetOutlineThickness { pt: Pt(0.6) });
    c.rule(LEFT, RIGHT, 58.5);

    let footer_top = draw_footer(c, view, qr_size);
    draw_body(c, view, footer_top - 8.0)
}

/// The largest size ≤ `max` at which `text` fits in `width` on one line, but at least `min`
/// (or `max`, if that is smaller); text that still does not fit is wrapped by the caller.
fn fit_size(c: &Canvas, text: &str, max: f32, width: Mm, min: f32) -> f32 {
    let at_one = c.width(text, 1.0);
    if at_one <= 0.0 {
        return max;
    }
    // A hair under the exact fit, so that rounding in `wrap` never breaks the line.
    (width / at_one * 0.98).min(max).max(min.min(max))
}

/// Footer, from the bottom edge up: the note, the short link, the QR code; beside the QR code
/// the verification code, and the issuing authority at the right. Returns the top of the
/// footer.
fn draw_footer(c: &mut Canvas, view: &CertificateView, qr_size: Mm) -> Mm {
    const URL_PT: f32 = 8.0;
    const CODE_PT: f32 = 15.0;
    let note_baseline = PAGE_H - 19.0;
    c.color(rgb(0.30, 0.30, 0.30));
    c.text(
        LEFT,
        note_baseline,
        8.0,
        "扫描二维码，或访问上方网址、输入核验码核验真伪 / Scan the QR code, or open the link above, to verify",
    );
    let url_lines = c.wrap(&view.code_url, URL_PT, RIGHT - LEFT);
    let pitch = URL_PT * 1.35 / PT_PER_MM;
    let last = note_baseline - 5.0;
    let first = last - pitch * (url_lines.len().saturating_sub(1)) as f32;
    c.color(black());
    for (i, line) in url_lines.iter().enumerate() {
        c.text(LEFT, first + pitch * i as f32, URL_PT, line);
    }
    let qr_bottom = first - ascent(URL_PT) - 1.0;
    let qr_top = qr_bottom - qr_size;
    // The image's own quiet zone (4 modules) is white, so it may start at the text column.
    let qr_left = LEFT - 1.5;
    c.set_qr_position(qr_left, qr_bottom);

    // The verification code, large enough to read aloud, vertically centred on the QR code.
    let code_x = qr_left + qr_size + 2.0;
    let mut code_right = code_x;
    if !view.code.is_empty() {
        let middle = qr_top + qr_size / 2.0;
        c.color(rgb(0.33, 0.33, 0.33));
        c.text(code_x, middle - 4.0, 9.0, "核验码 Verification code");
        c.color(black());
        c.code(code_x, middle + 3.5, CODE_PT, &view.code);
        code_right = code_x
            + c.code_width(&view.code, CODE_PT)
                .max(c.width("核验码 Verification code", 9.0));
    }

    let issuer_w = RIGHT - code_right - 6.0;
    let issuer_pt = fit_size(c, &view.issuer, 15.0, issuer_w, 9.0);
    let issuer_lines = c.wrap(&view.issuer, issuer_pt, issuer_w);
    let mut y = qr_bottom - 6.0 - leading(issuer_pt) * (issuer_lines.len() - 1) as f32;
    c.color(rgb(0.33, 0.33, 0.33));
    c.text_right(RIGHT, y - leading(issuer_pt) - 1.0, 10.0, "发证机关");
    c.color(black());
    for line in &issuer_lines {
        c.text_right(RIGHT, y, issuer_pt, line);
        y += leading(issuer_pt);
    }
    qr_top.min(qr_bottom - 6.0 - leading(issuer_pt) * issuer_lines.len() as f32 - 2.0)
}

/// Body rows between the heading and `bottom`, at the largest scale that fits; the photo, if
/// any, at the top right, with the rows beside it kept clear of it.
fn draw_body(c: &mut Canvas, view: &CertificateView, bottom: Mm) -> Result<(), RenderError> {
    if view.photo.is_some() {
        c.set_photo_position(RIGHT - PHOTO_W, BODY_TOP + PHOTO_H);
    }
    let available = bottom - BODY_TOP;
    for scale in SCALES {
        let rows = body_rows(c, view, scale);
        let heights: f32 = rows.iter().map(Row::height).sum();
        let gaps = rows.len().saturating_sub(1).max(1) as f32;
        let min_gap = 2.5 * scale;
        if heights + min_gap * gaps > available {
            continue;
        }
        let gap = ((available - heights) / gaps).min(6.0);
        let mut top = BODY_TOP;
        for row in &rows {
            if view.photo.is_some() && row.below_photo {
                top = top.max(BODY_TOP + PHOTO_H + 2.0);
            }
            let baseline = top + ascent(row.value_pt);
            c.color(rgb(0.33, 0.33, 0.33));
            for (i, line) in row.label.iter().enumerate() {
                c.text(
                    LEFT,
                    baseline + i as f32 * leading(row.label_pt),
                    row.label_pt,
                    line,
                );
            }
            c.color(black());
            for (dx, i, line) in &row.lines {
                c.text(
                    VALUE_X + dx,
                    baseline + *i as f32 * leading(row.value_pt),
                    row.value_pt,
                    line,
                );
            }
            top += row.height() + gap;
        }
        return Ok(());
    }
    Err(RenderError::DoesNotFit(format!(
        "{} fields and {} items need more than {available:.0} mm",
        view.fields.len() + view.notes.len(),
        view.items.len()
    )))
}

fn body_rows(c: &Canvas, view: &CertificateView, scale: f32) -> Vec<Row> {
    let value_w = RIGHT - VALUE_X;
    // The holder's rows, its fields and items run beside the photo; the identifier and the
    // dates come below it.
    let beside_photo = match view.photo {
        Some(_) => value_w - PHOTO_W - PHOTO_GAP,
        None => value_w,
    };
    let label_w = VALUE_X - LEFT - 3.0;
    let label_pt = LABEL_PT * scale;
    let row_in = |width: Mm, label: &str, value: &str, value_pt: f32| Row {
        label: c.wrap(label, label_pt, label_w),
        label_pt,
        value_pt,
        lines: c
            .wrap(value, value_pt, width)
            .into_iter()
            .enumerate()
            .map(|(i, l)| (0.0, i, l))
            .collect(),
        below_photo: width >= value_w,
    };
    let row = |label: &str, value: &str, value_pt: f32| row_in(value_w, label, value, value_pt);
    let beside =
        |label: &str, value: &str, value_pt: f32| row_in(beside_photo, label, value, value_pt);

    let mut rows = vec![
        beside(&view.holder_label, &view.holder_name, NAME_PT * scale),
        beside(&view.holder_id_label, &view.holder_id, VALUE_PT * scale),
    ];
    for (label, value) in &view.fields {
        rows.push(beside(label, value, VALUE_PT * scale));
    }
    if !view.items.is_empty() {
        rows.push(items_row(
            c,
            view,
            label_w,
            label_pt,
            ITEM_PT * scale,
            beside_photo,
        ));
    }
    // The identifier is set on one line when it fits at 6.5 pt or more, so that it can be
    // copied from the PDF in one piece.
    let id_pt = fit_size(c, &view.identifier, 9.5 * scale, value_w, 6.5);
    rows.push(row("电子证照标识", &view.identifier, id_pt));
    rows.push(row(
        "发证日期",
        &chinese_date(view.issue_date),
        VALUE_PT * scale,
    ));
    rows.push(row(
        "有效期至",
        &chinese_date(view.expiry_date),
        VALUE_PT * scale,
    ));
    for (label, value) in &view.notes {
        rows.push(row(label, value, VALUE_PT * scale));
    }
    rows
}

/// The item list: numbered, with hanging indent, in two columns when it is long.
fn items_row(
    c: &Canvas,
    view: &CertificateView,
    label_w: Mm,
    label_pt: f32,
    size: f32,
    width: Mm,
) -> Row {
    let columns = if view.items.len() > ONE_COLUMN_MAX {
        2
    } else {
        1
    };
    let col_gap = 5.0;
    let col_w = (width - col_gap * (columns - 1) as f32) / columns as f32;
    let number_w = c.width(&format!("{}. ", view.items.len().max(1)), size);
    let per_column = view.items.len().div_ceil(columns);
    let mut lines = Vec::new();
    let mut line_in_col = 0;
    for (i, item) in view.items.iter().enumerate() {
        let col = i / per_column.max(1);
        if i % per_column.max(1) == 0 {
            line_in_col = 0;
        }
        let dx = col as f32 * (col_w + col_gap);
        lines.push((dx, line_in_col, format!("{}.", i + 1)));
        for wrapped in c.wrap(item, size, col_w - number_w) {
            lines.push((dx + number_w, line_in_col, wrapped));
            line_in_col += 1;
        }
    }
    Row {
        label: c.wrap(&view.items_label, label_pt, label_w),
        label_pt,
        value_pt: size,
        lines,
        below_photo: false,
    }
}
