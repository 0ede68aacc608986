//! QR code for the verification URL: one encoder for the PDF and the `qr.png` route, and the
//! decoder the post-render check uses.
//!
//! Error correction is level M (recovers ~15 % of damaged codewords). The URL carries a compact
//! JWS of bounded size (API.md, "The QR token"): 400–460 bytes, version 16 or 17 at M (81–85
//! modules), i.e. 0.43–0.45 mm modules in a 40 mm square (quiet zone included), which a phone
//! resolves easily from a printed page; a 150-dpi render of the page still scans with zbarimg.
//! Level Q would need version 20–21 (97–101 modules) for the same URLs, shrinking every module
//! by a sixth, to protect against damage a certificate on paper rarely suffers (no logo is
//! drawn over the code). Blur and low resolution — what a phone photo actually suffers — are
//! survived by larger modules, so M buys more real-world robustness than Q or H.

use image::{GrayImage, ImageFormat};
use qrcode::{Color, EcLevel, QrCode};

use super::RenderError;

/// Error-correction level for every code we print (see the module documentation).
pub(crate) const EC_LEVEL: EcLevel = EcLevel::M;

/// Pixels per module in the PNG served by the `qr.png` route: large enough to stay sharp on a
/// high-density screen without scaling.
const PNG_MODULE_PX: u32 = 8;

/// Width of the quiet zone the QR standard requires around the symbol, in modules.
pub(crate) const QUIET_ZONE: usize = 4;

/// Render `url` as a grayscale image: black modules on white, `module_px` pixels per module,
/// with the 4-module quiet zone, every pixel pure 0 or 255 (no smoothing).
///
/// Built row by row rather than with qrcode's generic renderer, which sets pixels one at a
/// time and costs ~20 ms for a 700-pixel image.
pub(crate) fn qr_image(url: &str, module_px: u32) -> Result<GrayImage, RenderError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EC_LEVEL)?;
    let modules = code.width();
    let colors = code.to_colors();
    let px = module_px.max(1) as usize;
    let side = (modules + 2 * QUIET_ZONE) * px;
    let mut pixels = Vec::with_capacity(side * side);
    pixels.resize(QUIET_ZONE * px * side, 255u8);
    for row in colors.chunks(modules) {
        let start = pixels.len();
        pixels.resize(start + QUIET_ZONE * px, 255);
        for &color in row {
            let value = if color == Color::Dark { 0 } else { 255 };
            pixels.resize(pixels.len() + px, value);
        }
        pixels.resize(start + side, 255);
        for _ in 1..px {
            pixels.extend_from_within(start..start + side);
        }
    }
    pixels.resize(side * side, 255);
    let side = u32::try_from(side).map_err(|_| RenderError::QrUnreadable("too large".into()))?;
    GrayImage::from_raw(side, side, pixels)
        .ok_or_else(|| RenderError::QrUnreadable("image buffer size mismatch".to_string()))
}

/// The QR version (1–40) that `url` needs at our error-correction level.
pub fn qr_version(url: &str) -> Result<i16, RenderError> {
    match QrCode::with_error_correction_level(url.as_bytes(), EC_LEVEL)?.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => Ok(v),
    }
}

/// PNG bytes of the QR code for `url` alone (for a `GET …/qr.png` route).
pub fn qr_png(url: &str) -> Result<Vec<u8>, RenderError> {
    let image = qr_image(url, PNG_MODULE_PX)?;
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, ImageFormat::Png)?;
    Ok(png.into_inner())
}

/// Decode a QR image of the kind [`qr_image`] makes, reading every module.
///
/// The general rqrr detector ([`decode_qr_photo`]: finder-pattern search, perspective fit)
/// costs ~18 ms in release and 50–100 ms in debug on a dense code, so this reads an
/// axis-aligned code directly: the module size is taken from the
/// quiet zone, every pixel must be pure black or white and equal to the rest of its module
/// (crisp, no smoothing), the quiet zone must be white, and the module grid is then decoded by
/// rqrr (format bits, unmasking, Reed–Solomon correction, payload).
pub(crate) fn decode_aligned(image: &GrayImage) -> Result<String, RenderError> {
    let bad = |why: &str| RenderError::QrUnreadable(why.to_string());
    let (w, h) = (image.width() as usize, image.height() as usize);
    let raw = image.as_raw();
    let first_dark = raw
        .iter()
        .position(|&p| p == 0)
        .ok_or_else(|| bad("no dark pixel"))?;
    let (x0, y0) = (first_dark % w, first_dark / w);
    // The top-left finder pattern's corner is the first dark pixel: QUIET_ZONE modules in.
    if w != h || x0 != y0 || x0 == 0 || x0 % QUIET_ZONE != 0 {
        return Err(bad("not a square code with a 4-module quiet zone"));
    }
    let px = x0 / QUIET_ZONE;
    let size = (w / px).saturating_sub(2 * QUIET_ZONE);
    if w % px != 0 || size < 21 || (size - 17) % 4 != 0 {
        return Err(bad("image size is not a whole QR symbol"));
    }
    // Row by row: every pixel row of a module row must equal its first, and within that row
    // every module's pixels must be one pure value. Then the modules are read.
    let mut bits = vec![false; size * size];
    let rows: Vec<&[u8]> = raw.chunks_exact(w).collect();
    for (my, band) in rows.chunks_exact(px).enumerate() {
        let Some((first, rest)) = band.split_first() else {
            return Err(bad("empty module row"));
        };
        if rest.iter().any(|row| row != first) {
            return Err(bad("modules are not crisp"));
        }
        for (mx, cell) in first.chunks_exact(px).enumerate() {
            let p = cell.first().copied().unwrap_or(128);
            if (p != 0 && p != 255) || cell.iter().any(|&q| q != p) {
                return Err(bad("modules are not crisp"));
            }
            let module = mx
                .checked_sub(QUIET_ZONE)
                .zip(my.checked_sub(QUIET_ZONE))
                .filter(|&(x, y)| x < size && y < size);
            match (module, p == 0) {
                (Some((x, y)), dark) => {
                    if let Some(bit) = bits.get_mut(y * size + x) {
                        *bit = dark;
                    }
                }
                (None, true) => return Err(bad("dark pixel in the quiet zone")),
                (None, false) => {}
            }
        }
    }
    let grid = rqrr::SimpleGrid::from_func(size, |x, y| {
        bits.get(y * size + x).copied().unwrap_or(false)
    });
    let (_meta, text) = rqrr::Grid::new(grid)
        .decode()
        .map_err(|e| RenderError::QrUnreadable(e.to_string()))?;
    Ok(text)
}

/// Find and decode a QR code anywhere in a photo or scan, with rqrr's general detector.
///
/// Returns the text of the first code that decodes. rqrr needs about 3 px per module and a
/// fairly sharp image: a phone photo of the whole A4 page (≈ 5 px per module for the 35 mm
/// code) or a 300-dpi scan works; a 150-dpi scan does not, and rqrr gives up on blur that
/// zbar still reads. So the image is tried as is, then sharpened (unsharp mask), then at half
/// size (averages away noise). Costs 0.1–0.5 s for a 12-megapixel photo: for offline tools,
/// not for request handlers.
pub fn decode_qr_photo(image: &GrayImage) -> Option<String> {
    if let Some(text) = detect_and_decode(image) {
        return Some(text);
    }
    if let Some(text) = detect_and_decode(&image::imageops::unsharpen(image, 3.0, 0)) {
        return Some(text);
    }
    if image.width().min(image.height()) >= 1000 {
        let half = image::imageops::resize(
            image,
            image.width() / 2,
            image.height() / 2,
            image::imageops::FilterType::Triangle,
        );
        return detect_and_decode(&half);
    }
    None
}

fn detect_and_decode(image: &GrayImage) -> Option<String> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    prepared
        .detect_grids()
        .iter()
        .find_map(|grid| grid.decode().ok().map(|(_meta, text)| text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    const URL: &str = "https://verify.example.gov.cn/v/eyJhbGciOiJFZERTQSIsImtpZCI6IkFCQyJ9.\
                       eyJzZXJpYWwiOiJaSi0yMDI2LTAwMDAxIiwia2luZCI6InByb2R1Y3Rpb24ifQ.\
                       c2lnbmF0dXJlLWJ5dGVzLWdvLWhlcmUtYW5kLWFyZS1sb25nLWVub3VnaC10by1tYXR0ZXI";

    #[test]
    fn png_decodes_to_the_url() {
        let png = qr_png(URL).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let image = image::load_from_memory(&png).unwrap().to_luma8();
        assert_eq!(decode_qr_photo(&image).unwrap(), URL);
    }

    #[test]
    fn modules_are_crisp_and_quiet_zone_is_white() {
        let image = qr_image(URL, 4).unwrap();
        assert!(image.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
        // 4 modules × 4 px of white around the symbol.
        assert!((0..16).all(|i| image.get_pixel(i, i).0[0] == 255));
        assert_eq!(image.width() % 4, 0);
    }

    #[test]
    fn aligned_decoder_reads_every_module_size_and_rejects_damage() {
        for px in [1, 2, 4, 8] {
            let image = qr_image(URL, px).unwrap();
            assert_eq!(decode_aligned(&image).unwrap(), URL, "{px} px per module");
        }
        let blank = GrayImage::from_pixel(100, 100, Luma([255]));
        assert_eq!(decode_qr_photo(&blank), None);
        assert!(matches!(
            decode_aligned(&blank),
            Err(RenderError::QrUnreadable(_))
        ));
        // A smoothed (grey) pixel, or a dark speck in the quiet zone, is refused.
        let mut grey = qr_image(URL, 4).unwrap();
        grey.put_pixel(40, 41, Luma([128]));
        assert!(decode_aligned(&grey).is_err());
        let mut speck = qr_image(URL, 4).unwrap();
        let last = speck.width() - 2;
        speck.put_pixel(last, last, Luma([0]));
        assert!(decode_aligned(&speck).is_err());
    }

    #[test]
    fn photo_decoder_finds_a_small_blurred_code_on_a_page() {
        // The code at 4 px per module, somewhere on a larger white "page", slightly blurred.
        let code = qr_image(URL, 4).unwrap();
        let mut page = GrayImage::from_pixel(1400, 1100, Luma([250]));
        image::imageops::overlay(&mut page, &code, 170, 610);
        let photo = image::imageops::blur(&page, 0.8);
        assert_eq!(decode_qr_photo(&photo).as_deref(), Some(URL));
    }
}
