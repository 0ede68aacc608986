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
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{Color, EcLevel};

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
    let (modules, dark) = qr_modules(url)?;
    let px = module_px.max(1) as usize;
    let side = (modules + 2 * QUIET_ZONE) * px;
    let mut pixels = Vec::with_capacity(side * side);
    pixels.resize(QUIET_ZONE * px * side, 255u8);
    for row in dark.chunks(modules) {
        let start = pixels.len();
        pixels.resize(start + QUIET_ZONE * px, 255);
        for &is_dark in row {
            let value = if is_dark { 0 } else { 255 };
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

/// The symbol of `url` at our error-correction level: its side in modules and its modules row
/// by row (dark = true), exactly as `qrcode::QrCode` draws it.
///
/// qrcode picks the mask with the lowest ISO/IEC 18004 penalty, but scores each of the eight
/// candidates with a boxed closure per module and costs ~4 ms for a version-16 code, a fifth
/// of a certificate's rendering. This builds the same unmasked symbol with qrcode's own parts
/// and scores the masks with [`penalty`], qrcode's rules over a plain grid: the same symbol
/// (a test compares them) in ~0.5 ms.
pub fn qr_modules(url: &str) -> Result<(usize, Vec<bool>), RenderError> {
    let (size, unmasked) = unmasked(url)?;
    let dark = MASKS
        .iter()
        .map(|&mask| masked(&unmasked, mask))
        .min_by_key(|dark| penalty(size, dark))
        .unwrap_or_default();
    Ok((size, dark))
}

/// The symbol of `url` before masking: codewords with their Reed–Solomon blocks placed
/// around the function patterns.
fn unmasked(url: &str) -> Result<(usize, Canvas), RenderError> {
    let bits = qrcode::bits::encode_auto(url.as_bytes(), EC_LEVEL)?;
    let version = bits.version();
    let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), version, EC_LEVEL)?;
    let mut canvas = Canvas::new(version, EC_LEVEL);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    let size = usize::try_from(version.width())
        .map_err(|_| RenderError::QrUnreadable("negative symbol width".to_string()))?;
    Ok((size, canvas))
}

fn masked(unmasked: &Canvas, mask: MaskPattern) -> Vec<bool> {
    let mut canvas = unmasked.clone();
    canvas.apply_mask(mask);
    canvas
        .into_colors()
        .into_iter()
        .map(|color| color == Color::Dark)
        .collect()
}

/// The mask penalty of a symbol, computed as qrcode 0.14 computes it (ISO/IEC 18004 §7.8.3:
/// runs of five or more, 2×2 blocks, finder-like 1:1:3:1:1 runs without four light modules on
/// one side, dark/light balance), so that [`qr_modules`] picks the mask qrcode would.
fn penalty(size: usize, dark: &[bool]) -> u32 {
    let mut columns = vec![false; dark.len()];
    for (y, row) in dark.chunks_exact(size).enumerate() {
        for (x, &module) in row.iter().enumerate() {
            columns[x * size + y] = module;
        }
    }
    let mut score = 0u32;
    for line in dark.chunks_exact(size).chain(columns.chunks_exact(size)) {
        // Runs of one colour: 3 for five, one more for each module beyond.
        for run in line.chunk_by(|a, b| a == b) {
            if run.len() >= 5 {
                score += run.len() as u32 - 2;
            }
        }
        // Dark-light-dark×3-light-dark with only light (or the edge) on one side: 40. Tested
        // module by module, so that most positions are left at their first module (a slice
        // comparison per position was most of the time a symbol took).
        for j in 0..size.saturating_sub(6) {
            let finder = line[j]
                && !line[j + 1]
                && line[j + 2]
                && line[j + 3]
                && line[j + 4]
                && !line[j + 5]
                && line[j + 6];
            if finder {
                let dark_before = line[j.saturating_sub(4)..j].contains(&true);
                let dark_after = line[j + 7..(j + 11).min(size)].contains(&true);
                if !dark_before || !dark_after {
                    score += 40;
                }
            }
        }
    }
    for (upper, lower) in dark.chunks_exact(size).zip(dark.chunks_exact(size).skip(1)) {
        for x in 0..size - 1 {
            let this = upper[x];
            if upper[x + 1] == this && lower[x] == this && lower[x + 1] == this {
                score += 3;
            }
        }
    }
    let ratio = dark.iter().filter(|&&d| d).count() * 200 / dark.len().max(1);
    // qrcode subtracts the 360 that the three finder patterns always score; the constant does
    // not change which mask wins, so it is left out here.
    score + ratio.abs_diff(100) as u32
}

/// The QR version (1–40) that `url` needs at our error-correction level.
pub fn qr_version(url: &str) -> Result<i16, RenderError> {
    match qrcode::bits::encode_auto(url.as_bytes(), EC_LEVEL)?.version() {
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

/// The QR code of `url` as SVG, for posters and counters: one path of its dark modules inside
/// a white quiet zone of 4 modules, scalable to any size without blur.
pub fn qr_svg(url: &str) -> Result<String, RenderError> {
    let (size, dark) = qr_modules(url)?;
    let side = size + 8;
    let mut path = String::with_capacity(dark.len() * 4);
    for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
        let (x, y) = (i % size + 4, i / size + 4);
        path.push_str(&format!("M{x} {y}h1v1h-1z"));
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n"
    ))
}

/// The image packed one bit per pixel, rows padded to whole bytes, 0 = black and 1 = white
/// (a PDF `DeviceGray` image with `BitsPerComponent 1`): an eighth of the 8-bit image, so the
/// PDF is smaller and deflating it costs almost nothing.
pub(crate) fn one_bit_rows(image: &GrayImage) -> Vec<u8> {
    let width = image.width() as usize;
    image
        .as_raw()
        .chunks_exact(width.max(1))
        .flat_map(|row| {
            row.chunks(8).map(|pixels| {
                pixels
                    .iter()
                    .enumerate()
                    .fold(0u8, |byte, (i, &p)| byte | (u8::from(p >= 128) << (7 - i)))
            })
        })
        .collect()
}

/// The 8-bit image of one-bit rows as [`one_bit_rows`] packs them; `None` if `packed` is too
/// short for `width` × `height`.
pub(crate) fn from_one_bit_rows(width: u32, height: u32, packed: &[u8]) -> Option<GrayImage> {
    let row_bytes = (width as usize).div_ceil(8);
    let rows = packed.get(..row_bytes.checked_mul(height as usize)?)?;
    let pixels = rows
        .chunks_exact(row_bytes.max(1))
        .flat_map(|row| {
            (0..width as usize).map(move |x| {
                if row[x / 8] & (0x80 >> (x % 8)) == 0 {
                    0
                } else {
                    255
                }
            })
        })
        .collect();
    GrayImage::from_raw(width, height, pixels)
}

/// The modules of a QR symbol as [`qr_image`] draws them (side, then row by row, dark = true),
/// read from the image.
///
/// The module size is taken from the quiet zone; every pixel must be pure black or white and
/// equal to the rest of its module (crisp, no smoothing), and the quiet zone must be white.
pub(crate) fn read_modules(image: &GrayImage) -> Result<(usize, Vec<bool>), RenderError> {
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
    let mut dark = vec![false; size * size];
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
                (Some((x, y)), is_dark) => {
                    if let Some(bit) = dark.get_mut(y * size + x) {
                        *bit = is_dark;
                    }
                }
                (None, true) => return Err(bad("dark pixel in the quiet zone")),
                (None, false) => {}
            }
        }
    }
    Ok((size, dark))
}

/// Whether `modules` (as [`read_modules`] gives them) are exactly the symbol of `url` at our
/// error-correction level: the standard encoding of its bytes (mode segments, codewords,
/// Reed–Solomon blocks, placement) under one of the eight masks.
///
/// This is how the post-render check reads the code: comparing against the encoding is exact
/// and costs ~0.3 ms, where error-correcting decoding with rqrr costs ~3 ms per certificate.
/// That the encoder's symbols decode to their text is tested with rqrr and zbar.
pub(crate) fn is_symbol_of(url: &str, size: usize, modules: &[bool]) -> Result<bool, RenderError> {
    let (width, unmasked) = unmasked(url)?;
    Ok(width == size && MASKS.iter().any(|&mask| masked(&unmasked, mask) == modules))
}

/// The eight mask patterns of a (non-micro) QR symbol.
const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// Decode a QR image of the kind [`qr_image`] makes, reading every module.
///
/// The general detector ([`super::decode_qr_photo`]: finder-pattern search, perspective fit)
/// costs ~18 ms in release and 50–100 ms in debug on a dense code, so this reads an
/// axis-aligned code directly ([`read_modules`]) and hands the module grid to rqrr (format
/// bits, unmasking, Reed–Solomon correction, payload).
pub(crate) fn decode_aligned(image: &GrayImage) -> Result<String, RenderError> {
    let (size, dark) = read_modules(image)?;
    let grid = rqrr::SimpleGrid::from_func(size, |x, y| {
        dark.get(y * size + x).copied().unwrap_or(false)
    });
    let (_meta, text) = rqrr::Grid::new(grid)
        .decode()
        .map_err(|e| RenderError::QrUnreadable(e.to_string()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::decode_qr_photo;
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
    fn modules_read_back_are_the_symbol_of_their_url_and_of_no_other() {
        let (size, modules) = read_modules(&qr_image(URL, 4).unwrap()).unwrap();
        assert!(is_symbol_of(URL, size, &modules).unwrap());
        // One character more, one module flipped: not the symbol any more.
        assert!(!is_symbol_of(&format!("{URL}x"), size, &modules).unwrap());
        assert!(!is_symbol_of(&URL.replace("verify", "verifx"), size, &modules).unwrap());
        let mut flipped = modules.clone();
        flipped[size * 10 + 12] = !flipped[size * 10 + 12];
        assert!(!is_symbol_of(URL, size, &flipped).unwrap());
        // Every mask the encoder may choose is accepted: the symbols of many URLs match.
        for i in 0..40 {
            let url = format!("{URL}{i}");
            let (size, modules) = read_modules(&qr_image(&url, 1).unwrap()).unwrap();
            assert!(is_symbol_of(&url, size, &modules).unwrap(), "{url}");
        }
    }

    #[test]
    fn symbols_are_the_ones_qrcode_draws() {
        // URLs of every length a certificate link can have, and short ones of other versions.
        for i in 0..120 {
            let url = format!(
                "{}{}",
                &URL[..20 + i * 2 % (URL.len() - 20)],
                "x".repeat(i * 3)
            );
            let expected =
                qrcode::QrCode::with_error_correction_level(url.as_bytes(), EC_LEVEL).unwrap();
            let (size, dark) = qr_modules(&url).unwrap();
            assert_eq!(size, expected.width(), "{url}");
            let colors: Vec<bool> = expected
                .to_colors()
                .iter()
                .map(|&c| c == Color::Dark)
                .collect();
            assert!(dark == colors, "mask differs for {url}");
        }
    }

    #[test]
    fn one_bit_rows_round_trip() {
        for px in [1, 3, 4] {
            let image = qr_image(URL, px).unwrap();
            let packed = one_bit_rows(&image);
            assert_eq!(
                packed.len(),
                (image.width() as usize).div_ceil(8) * image.height() as usize
            );
            let back = from_one_bit_rows(image.width(), image.height(), &packed).unwrap();
            assert_eq!(back, image);
            assert!(from_one_bit_rows(image.width(), image.height(), &packed[1..]).is_none());
        }
    }
}
