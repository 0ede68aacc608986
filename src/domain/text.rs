//! Human-entered text that ends up printed on a certificate: normalised once, when it is
//! accepted, so that what is stored, signed, printed and extracted from the PDF is the same
//! sequence of characters.
//!
//! Look-alike code points are the trap: `⼀` (U+2F00 KANGXI RADICAL ONE) and `一` (U+4E00)
//! share one glyph in the certificate font, so the PDF's text layer can give back only one of
//! them, and a name typed with the radical would not be found in its own certificate. So:
//! - Unicode NFC, which maps the CJK compatibility ideographs (`豈` U+F900 → U+8C48);
//! - the Kangxi radicals and the CJK radicals supplement to their compatibility (NFKC) form,
//!   where they have one (`⼀` → `一`);
//! - full-width Latin letters and digits to ASCII (`Ａ１` → `A1`). Full-width punctuation
//!   (`（`, `）`, `·`) stays: it is how registered Chinese names are written.
//!
//! Whatever look-alike remains after this is refused against the font (see
//! `render::Fonts::unprintable`), naming the character to use instead.
//!
//! Text that would not print as one line of what was typed is refused, naming the character
//! and its position (counted in characters after normalisation, from 1): control characters,
//! line and paragraph separators (U+2028, U+2029), invisible format characters (Unicode
//! category Cf: zero-width spaces and joiners, bidirectional overrides, the soft hyphen, the
//! byte order mark), and more than [`MAX_COMBINING_MARKS`] combining marks on one character,
//! which stack above and below the line into the neighbouring text.

use std::borrow::Cow;

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization;

use super::ParseError;

/// The most characters of a refused value that an error repeats: enough to recognise it,
/// never so many that an error (kept with a batch's results, logged, sent back) grows with
/// the input. A submission id of 16 MiB was once copied twice into its line's error.
pub const QUOTED_MAX_CHARS: usize = 64;

/// `input` as an error quotes it: whole when short, else its first [`QUOTED_MAX_CHARS`]
/// characters and `…`.
pub fn quoted(input: &str) -> Cow<'_, str> {
    quoted_within(input, QUOTED_MAX_CHARS)
}

/// `input` cut to its first `max_chars` characters and `…`, when it is longer, with each
/// control character written out (`\u{0}`): a quoted NUL would otherwise make the error
/// itself unstorable (PostgreSQL's JSON and text hold no NUL) and unreadable in a log.
pub fn quoted_within(input: &str, max_chars: usize) -> Cow<'_, str> {
    let (cut, more) = match input.char_indices().nth(max_chars) {
        None => (input, false),
        Some((end, _)) => (&input[..end], true),
    };
    if !more && !cut.chars().any(char::is_control) {
        return Cow::Borrowed(input);
    }
    let mut shown = String::with_capacity(cut.len() + 3);
    for c in cut.chars() {
        if c.is_control() {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    if more {
        shown.push('…');
    }
    Cow::Owned(shown)
}

/// The most characters of a parser's complaint (serde's) that an error repeats.
pub const PARSER_MESSAGE_MAX_CHARS: usize = 160;

/// A parser's complaint as an error repeats it: each value it quotes between backticks (an
/// unknown field or variant) cut like [`quoted`], the whole to [`PARSER_MESSAGE_MAX_CHARS`].
pub fn quoted_parser_message(message: &str) -> String {
    let message = message
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                quoted(part)
            } else {
                part.into()
            }
        })
        .collect::<Vec<_>>()
        .join("`");
    quoted_within(&message, PARSER_MESSAGE_MAX_CHARS).into_owned()
}

/// Longest holder name (enterprise or person). Registered enterprise names run 10–40
/// characters; a branch appends its parent's full name (`…有限公司…分公司`), which reaches
/// 50. Sixty leaves room and still sets on at most three lines of the certificate.
pub const HOLDER_NAME_MAX_CHARS: usize = 60;

/// Longest item name (a product category or a service item). The 19 provincial product
/// categories are 2–14 characters (`食品用塑料包装容器工具等制品`), the longest national one 20
/// (`食品相关产品（食品用纸包装、容器等制品）`). At 20, a full licence of all 19 categories in
/// two columns still sets each category on one line.
pub const ITEM_NAME_MAX_CHARS: usize = 20;

/// Longest template field value unless the template says otherwise. Addresses of 50+
/// characters are common (`…交叉口东北角3号厂房二楼`).
pub const FIELD_MAX_CHARS_DEFAULT: usize = 100;

/// The most combining marks one character may carry after NFC. Chinese needs none; Latin
/// names (Vietnamese `Nguyễn` is precomposed by NFC) need at most two; Zalgo text needs more.
pub const MAX_COMBINING_MARKS: usize = 2;

/// The normal form of printed text (see the module documentation), trimmed of spaces. The
/// Unicode line breaks (U+0085, U+2028, U+2029) are left in place, to be refused.
pub fn normalize(input: &str) -> String {
    let mut text = String::with_capacity(input.len());
    let trimmed = input.trim_matches(|c: char| {
        c.is_whitespace() && !matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
    });
    for c in trimmed.nfc() {
        match fold(c) {
            Some(folded) => text.push_str(&folded),
            None => text.push(c),
        }
    }
    text
}

/// The replacement of one look-alike character, if it has one.
fn fold(c: char) -> Option<String> {
    match u32::from(c) {
        // Kangxi radicals, CJK radicals supplement: NFKC where Unicode defines it.
        0x2E80..=0x2FDF => {
            let folded: String = c.to_string().nfkc().collect();
            (folded != c.to_string()).then_some(folded)
        }
        // Full-width digits and Latin letters.
        0xFF10..=0xFF19 | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => {
            char::from_u32(u32::from(c) - 0xFEE0).map(String::from)
        }
        _ => None,
    }
}

/// Normalises and checks short printed text: not blank, no control characters, at most
/// `max_chars` characters after normalisation.
pub fn printed_text(input: &str, max_chars: usize, what: &str) -> Result<String, ParseError> {
    let text = normalize(input);
    check_text(&text, max_chars, what)?;
    Ok(text)
}

/// Shared rule for short human-entered text: not blank, no control characters, bounded.
pub(super) fn check_text(input: &str, max_chars: usize, what: &str) -> Result<(), ParseError> {
    if input.trim().is_empty() {
        return Err(ParseError::new(
            "empty",
            format!("不能为空 / {what} must not be empty"),
        ));
    }
    if input.chars().any(char::is_control) {
        return Err(ParseError::new(
            "control_character",
            format!("含有控制字符 / {what} contains a control character"),
        ));
    }
    // Before the length: 58 accents on one letter are refused as what they are.
    check_layout_characters(input, what)?;
    let chars = input.chars().count();
    if chars > max_chars {
        return Err(ParseError::new(
            "too_long",
            format!(
                "有 {chars} 个字符，至多 {max_chars} 个 / {what} has {chars} characters; at most {max_chars} are allowed"
            ),
        ));
    }
    Ok(())
}

/// Refuses what would break a printed line or vanish from it, and stacked combining marks
/// (see the module documentation); the message names the character's position.
fn check_layout_characters(input: &str, what: &str) -> Result<(), ParseError> {
    let hex = |c: char| format!("U+{:04X}", u32::from(c));
    // The run of combining marks since the last base character: (its position, marks).
    let mut base = 1;
    let mut marks = 0;
    for (i, c) in input.chars().enumerate() {
        let position = i + 1;
        match get_general_category(c) {
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                return Err(ParseError::new(
                    "line_separator",
                    format!(
                        "第{position}个字符（{}）是换行符 / {what}: character {position} ({}) is a line or paragraph separator",
                        hex(c),
                        hex(c)
                    ),
                ));
            }
            GeneralCategory::Format => {
                return Err(ParseError::new(
                    "format_character",
                    format!(
                        "第{position}个字符（{}）是不可见的格式字符 / {what}: character {position} ({}) is an invisible format character",
                        hex(c),
                        hex(c)
                    ),
                ));
            }
            GeneralCategory::NonspacingMark
            | GeneralCategory::SpacingMark
            | GeneralCategory::EnclosingMark => {
                marks += 1;
                if marks > MAX_COMBINING_MARKS {
                    return Err(ParseError::new(
                        "combining_marks",
                        format!(
                            "第{base}个字符上叠加了{MAX_COMBINING_MARKS}个以上的组合符号 / {what}: character {base} carries more than {MAX_COMBINING_MARKS} combining marks"
                        ),
                    ));
                }
            }
            _ => {
                base = position;
                marks = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_quotes_a_short_prefix_of_what_it_refuses() {
        assert_eq!(quoted("S0000"), "S0000");
        let exact = "字".repeat(QUOTED_MAX_CHARS);
        assert_eq!(quoted(&exact), exact.as_str());
        let long = "字".repeat(1 << 20);
        let shown = quoted(&long);
        assert_eq!(shown.chars().count(), QUOTED_MAX_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(quoted_within("abcdef", 3), "abc…");
        assert_eq!(quoted("S\u{0}\u{7}\t办件"), "S\\u{0}\\u{7}\\u{9}办件");
        assert_eq!(quoted_within("\u{0}bcdef", 3), "\\u{0}bc…");
        let variant = format!(
            "unknown variant `{}`, expected `a` or `b`",
            "v".repeat(1 << 20)
        );
        let shown = quoted_parser_message(&variant);
        assert!(shown.ends_with("…`, expected `a` or `b`"), "{shown}");
        assert!(shown.chars().count() <= PARSER_MESSAGE_MAX_CHARS + 1);
    }

    #[test]
    fn look_alikes_become_the_ideograph_they_show() {
        assert_eq!(normalize("一\u{2F00}号公司"), "一一号公司");
        assert_eq!(normalize("\u{F900}\u{F900}公司"), "\u{8C48}\u{8C48}公司");
        assert_eq!(
            normalize(" ＡＢＣ１２３科技（杭州）有限公司 "),
            "ABC123科技（杭州）有限公司"
        );
        // ⻌ (U+2EEA, a radical variant with no compatibility form) is left for the font check.
        assert_eq!(normalize("\u{2EEA}"), "\u{2EEA}");
        // Decomposed and precomposed Latin meet in NFC.
        assert_eq!(normalize("Cafe\u{301}"), "Café");
    }

    #[test]
    fn printed_text_is_counted_after_normalisation() {
        assert_eq!(
            printed_text(&"\u{2F00}".repeat(60), 60, "a name").unwrap(),
            "一".repeat(60)
        );
        assert_eq!(
            printed_text(&"名".repeat(61), 60, "a name")
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(printed_text("  ", 60, "a name").unwrap_err().code, "empty");
        assert_eq!(
            printed_text("a\u{7}b", 60, "a name").unwrap_err().code,
            "control_character"
        );
    }

    #[test]
    fn stacked_combining_marks_are_refused_naming_the_character() {
        // Two marks on one character are a name (after NFC, `ệ` is one character).
        assert_eq!(
            printed_text("Nguye\u{323}\u{302}n", 60, "a name").unwrap(),
            "Nguyện"
        );
        assert!(printed_text("a\u{301}\u{308}\u{30C}", 60, "a name").is_ok());
        let zalgo = format!("张三Z{}", "\u{301}".repeat(58));
        let error = printed_text(&zalgo, 100, "a name").unwrap_err();
        assert_eq!(error.code, "combining_marks");
        assert!(error.message.contains("character 3 "), "{}", error.message);
        assert!(error.message.contains("第3个字符"), "{}", error.message);
        // Three marks that NFC cannot fold into the character count as three.
        let error = printed_text("ab\u{301}\u{308}\u{30C}", 60, "a name").unwrap_err();
        assert!(error.message.contains("character 2 "), "{}", error.message);
        // Marks with no character before them are counted too.
        assert_eq!(
            printed_text("\u{301}\u{301}\u{301}张", 60, "a name")
                .unwrap_err()
                .code,
            "combining_marks"
        );
    }

    #[test]
    fn line_separators_and_invisible_format_characters_are_refused() {
        for (text, code, position) in [
            ("张\u{2028}三", "line_separator", 2),
            ("张三\u{2029}", "line_separator", 3),
            ("\u{200B}张三", "format_character", 1),
            ("张\u{200D}三", "format_character", 2),
            ("张三\u{202E}公司", "format_character", 3),
            ("张\u{AD}三", "format_character", 2),
            ("张\u{FEFF}三", "format_character", 2),
            ("张\u{2066}三", "format_character", 2),
        ] {
            let error = printed_text(text, 60, "a name").unwrap_err();
            assert_eq!(error.code, code, "{text:?}");
            assert!(
                error.message.contains(&format!("character {position} ")),
                "{text:?}: {}",
                error.message
            );
        }
        // Spaces and full-width punctuation stay.
        assert!(printed_text("李 四（杭州）·有限公司", 60, "a name").is_ok());
    }
}
