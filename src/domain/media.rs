//! What an uploaded file is, judged by its first bytes and never by its name or the type a
//! browser claimed: only a PDF or an image is shown inside a page; anything else is offered
//! as a download, so an uploaded HTML page or script cannot run in a reviewer's browser.

/// How many leading bytes [`sniff`] needs.
pub const SNIFF_BYTES: usize = 12;

/// The media type to show a file as inline, when its content is a PDF or a PNG, JPEG, GIF or
/// WebP image; `None` for anything else.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let kinds: [(&[u8], &str); 5] = [
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"RIFF", "image/webp"),
    ];
    let (_, kind) = kinds.iter().find(|(magic, _)| head.starts_with(magic))?;
    if *kind == "image/webp" && head.get(8..12) != Some(b"WEBP".as_slice()) {
        return None;
    }
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn content_decides_not_the_name() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3"), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b" %PDF-1.7"), None, "a PDF header not at the start");
        assert_eq!(sniff(b""), None);
    }
}
