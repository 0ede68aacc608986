//! Reading a QR code from a picture: a phone photo of the printed licence, a scan, a
//! screenshot of `qr.png`, the page rendered from the PDF.
//!
//! The detector is rxing's (a port of ZXing, Apache-2.0): it finds the finder patterns at any
//! angle, fits the perspective through the alignment pattern, and thresholds each region of
//! the picture against its own neighbourhood, so turns, tilts and uneven light are its
//! ordinary case. rqrr, which read pictures here before, misses our licence's code in a page
//! rendered at 150–300 dpi and in some 90°-turned screenshots that zbar reads; it is kept as
//! the last attempt.
//!
//! What does not work at first is tried again, cheapest first, on the one image handed in or
//! a bounded copy of it: a global threshold instead of the local one; the picture shrunk to at
//! most [`WORK_PIXELS`] (a block average: it smooths the noise of a large photo) or, when it
//! is small already, enlarged twice (fine modules, as in a 150-dpi page, get whole pixels);
//! then sharpened (blur); then rqrr. The full-size image is never copied: rxing reads its
//! pixels in place, and each copy holds at most 4 × [`WORK_PIXELS`] bytes (a small picture
//! enlarged), a few MiB for a large photo shrunk. For a 16-megapixel photo, decoded grey (16
//! MiB), the whole process peaks at 35–45 MiB whether or not a code is found
//! (`tests/api/qr_reading.rs` and `tests/api/verifier_bombs.rs` measure it).

use std::collections::HashSet;

use image::GrayImage;
use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};
use rxing::{
    BarcodeFormat, Binarizer, BinaryBitmap, DecodeHints, Luma8Source, MultiFormatReader, Reader,
};

/// The largest picture the retries work on (4 megapixels): a larger one is shrunk to this
/// first, a smaller one may be enlarged to four times this.
const WORK_PIXELS: u64 = 4_000_000;

/// Find and decode a QR code anywhere in a photo, scan or screenshot; the text of the first
/// code that decodes.
///
/// Costs 20–100 ms for a picture rxing reads at once, up to about a second (release build)
/// for a 16-megapixel photo in which no attempt finds a code: for offline tools, not for
/// request handlers.
pub fn decode_qr_photo(image: &GrayImage) -> Option<String> {
    if image.width() == 0 || image.height() == 0 {
        return None;
    }
    if let Some(text) = zxing(image, Threshold::Local).or_else(|| zxing(image, Threshold::Global)) {
        return Some(text);
    }
    let pixels = u64::from(image.width()) * u64::from(image.height());
    let smaller = (pixels > WORK_PIXELS).then(|| {
        // The smallest whole factor that brings the picture within WORK_PIXELS.
        let factor = (pixels as f64 / WORK_PIXELS as f64).sqrt().ceil() as u32;
        shrink(image, factor)
    });
    let text = match &smaller {
        Some(small) => zxing(small, Threshold::Local),
        None => zxing(&enlarge2(image), Threshold::Local),
    };
    if text.is_some() {
        return text;
    }
    let work = smaller.as_ref().unwrap_or(image);
    for radius in [1, 2, 3] {
        if let Some(text) = zxing(&sharpen(work, radius), Threshold::Local) {
            return Some(text);
        }
    }
    rqrr::PreparedImage::prepare(work.clone())
        .detect_grids()
        .iter()
        .find_map(|grid| grid.decode().ok().map(|(_meta, text)| text))
}

/// How rxing tells dark from light.
enum Threshold {
    /// Against the mean of the 40-pixel neighbourhood (ZXing's `HybridBinarizer`): survives
    /// uneven light.
    Local,
    /// One level for the whole picture, from its histogram (`GlobalHistogramBinarizer`):
    /// survives a code so large or blurred that a neighbourhood holds one colour only.
    Global,
}

/// Reads `image` with rxing's QR readers (its port of zxing-cpp's detector, then ZXing's),
/// borrowing the pixels.
fn zxing(image: &GrayImage, threshold: Threshold) -> Option<String> {
    let source = Luma8Source::new_with_slice(image.as_raw(), image.width(), image.height()).ok()?;
    match threshold {
        Threshold::Local => read(BinaryBitmap::new(HybridBinarizer::new(source))),
        Threshold::Global => read(BinaryBitmap::new(GlobalHistogramBinarizer::new(source))),
    }
}

fn read<B: Binarizer>(mut bitmap: BinaryBitmap<B>) -> Option<String> {
    let hints = DecodeHints {
        PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
        TryHarder: Some(true),
        ..DecodeHints::default()
    };
    MultiFormatReader::default()
        .decode_with_hints(&mut bitmap, &hints)
        .ok()
        .map(|result| result.getText().to_owned())
}

/// `image` reduced `factor` times in each direction, each pixel the mean of its block (the
/// last partial row and column of blocks are dropped). Unlike `imageops::resize`, which works
/// through a 16-byte-per-pixel intermediate, this needs nothing but its output.
pub(crate) fn shrink(image: &GrayImage, factor: u32) -> GrayImage {
    let f = factor.max(1) as usize;
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (out_w, out_h) = ((w / f).max(1), (h / f).max(1));
    let mut out = Vec::with_capacity(out_w * out_h);
    let mut sums = vec![0u32; out_w];
    for band in image.as_raw().chunks(w * f).take(out_h) {
        sums.fill(0);
        let rows = band.len() / w;
        for row in band.chunks_exact(w) {
            for (sum, block) in sums.iter_mut().zip(row.chunks(f)) {
                *sum += block.iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        let n = (rows * f.min(w)) as u32;
        out.extend(sums.iter().map(|&s| ((s + n / 2) / n) as u8));
    }
    GrayImage::from_raw(out_w as u32, out_h as u32, out).unwrap_or_default()
}

/// `image` at twice its width and height, bilinear (each new pixel 9:3:3:1 from the four
/// nearest old ones).
pub(crate) fn enlarge2(image: &GrayImage) -> GrayImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let raw = image.as_raw();
    let mut out = Vec::with_capacity(4 * w * h);
    for y in 0..2 * h {
        let near = y / 2;
        // The other source row nearest this output row: above for even rows, below for odd.
        let far = if y % 2 == 0 {
            near.saturating_sub(1)
        } else {
            (near + 1).min(h - 1)
        };
        let (near, far) = (&raw[near * w..][..w], &raw[far * w..][..w]);
        for x in 0..2 * w {
            let sx = x / 2;
            let ox = if x % 2 == 0 {
                sx.saturating_sub(1)
            } else {
                (sx + 1).min(w - 1)
            };
            let v = 9 * u32::from(near[sx])
                + 3 * u32::from(near[ox])
                + 3 * u32::from(far[sx])
                + u32::from(far[ox]);
            out.push(((v + 8) / 16) as u8);
        }
    }
    GrayImage::from_raw(2 * w as u32, 2 * h as u32, out).unwrap_or_default()
}

/// Unsharp mask: each pixel pushed away from the mean of the (2 `radius` + 1)² square around
/// it by as much as it differs from it (box means, computed with running sums).
pub(crate) fn sharpen(image: &GrayImage, radius: usize) -> GrayImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w == 0 || h == 0 {
        return image.clone();
    }
    let raw = image.as_raw();
    // The window [i - radius, i + radius] clipped to 0..len.
    let window = |i: usize, len: usize| (i.saturating_sub(radius), (i + radius).min(len - 1));
    // Means along each row.
    let mut across = vec![0u8; w * h];
    for (src, dst) in raw.chunks_exact(w).zip(across.chunks_exact_mut(w)) {
        let mut sum: u32 = src[..=radius.min(w - 1)]
            .iter()
            .map(|&p| u32::from(p))
            .sum();
        for x in 0..w {
            let (lo, hi) = window(x, w);
            let n = (hi - lo + 1) as u32;
            dst[x] = ((sum + n / 2) / n) as u8;
            if let Some(&p) = src.get(x + radius + 1) {
                sum += u32::from(p);
            }
            if x >= radius {
                sum -= u32::from(src[x - radius]);
            }
        }
    }
    // Means of those down each column, and the sharpened pixel.
    let row = |y: usize| &across[y * w..(y + 1) * w];
    let mut sums = vec![0u32; w];
    for y in 0..=radius.min(h - 1) {
        sums.iter_mut()
            .zip(row(y))
            .for_each(|(s, &p)| *s += u32::from(p));
    }
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let (lo, hi) = window(y, h);
        let n = (hi - lo + 1) as u32;
        out.extend(
            raw[y * w..(y + 1) * w].iter().zip(&sums).map(|(&p, &sum)| {
                (2 * i32::from(p) - ((sum + n / 2) / n) as i32).clamp(0, 255) as u8
            }),
        );
        if y + radius + 1 < h {
            sums.iter_mut()
                .zip(row(y + radius + 1))
                .for_each(|(s, &p)| *s += u32::from(p));
        }
        if y >= radius {
            sums.iter_mut()
                .zip(row(y - radius))
                .for_each(|(s, &p)| *s -= u32::from(p));
        }
    }
    GrayImage::from_raw(w as u32, h as u32, out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use image::Luma;

    use super::*;
    use crate::render::qr::qr_image;

    const URL: &str = "https://verify.example.gov.cn/v/eyJhbGciOiJFZERTQSIsImtpZCI6IkFCQyJ9.\
                       eyJzZXJpYWwiOiJaSi0yMDI2LTAwMDAxIiwia2luZCI6InByb2R1Y3Rpb24ifQ.\
                       c2lnbmF0dXJlLWJ5dGVzLWdvLWhlcmUtYW5kLWFyZS1sb25nLWVub3VnaC10by1tYXR0ZXI";

    #[test]
    fn finds_a_small_blurred_code_on_a_page() {
        // The code at 4 px per module, somewhere on a larger white "page", slightly blurred.
        let code = qr_image(URL, 4).unwrap();
        let mut page = GrayImage::from_pixel(1400, 1100, Luma([250]));
        image::imageops::overlay(&mut page, &code, 170, 610);
        let photo = image::imageops::blur(&page, 0.8);
        assert_eq!(decode_qr_photo(&photo).as_deref(), Some(URL));
    }

    #[test]
    fn reads_turned_codes_and_finds_none_in_a_blank_picture() {
        let code = qr_image(URL, 4).unwrap();
        for turned in [
            image::imageops::rotate90(&code),
            image::imageops::rotate180(&code),
            image::imageops::rotate270(&code),
        ] {
            assert_eq!(decode_qr_photo(&turned).as_deref(), Some(URL));
        }
        assert_eq!(
            decode_qr_photo(&GrayImage::from_pixel(300, 200, Luma([255]))),
            None
        );
        assert_eq!(decode_qr_photo(&GrayImage::new(0, 0)), None);
    }

    #[test]
    fn a_code_too_fine_for_one_pass_is_read_enlarged() {
        // 1.5 px per module, bilinear: rxing's first passes find no code, the enlarged copy does.
        let code = qr_image(URL, 2).unwrap();
        let side = code.width() * 3 / 4;
        let fine =
            image::imageops::resize(&code, side, side, image::imageops::FilterType::Triangle);
        assert_eq!(zxing(&fine, Threshold::Local), None);
        assert_eq!(decode_qr_photo(&fine).as_deref(), Some(URL));
    }

    #[test]
    fn shrink_enlarge_and_sharpen_keep_the_picture() {
        let image = GrayImage::from_fn(7, 5, |x, y| Luma([(x * 30 + y * 7) as u8]));
        let small = shrink(&image, 2);
        assert_eq!(small.dimensions(), (3, 2));
        // The mean of the top-left 2 × 2 block: (0 + 30 + 7 + 37) / 4 = 18.5, rounded.
        assert_eq!(small.get_pixel(0, 0).0[0], 19);
        let large = enlarge2(&image);
        assert_eq!(large.dimensions(), (14, 10));
        // A flat picture stays flat; a straight ramp is kept inside, steepened at its ends.
        let flat = GrayImage::from_pixel(9, 9, Luma([77]));
        assert!(enlarge2(&flat).pixels().all(|p| p.0[0] == 77));
        assert!(sharpen(&flat, 2).pixels().all(|p| p.0[0] == 77));
        let sharp = sharpen(&image, 1);
        assert_eq!(sharp.get_pixel(3, 2), image.get_pixel(3, 2));
        assert!(sharp.get_pixel(0, 2).0[0] < image.get_pixel(0, 2).0[0]);
        // One-pixel pictures survive every step.
        let dot = GrayImage::from_pixel(1, 1, Luma([9]));
        assert_eq!(shrink(&dot, 3).dimensions(), (1, 1));
        assert_eq!(enlarge2(&dot).dimensions(), (2, 2));
        assert_eq!(sharpen(&dot, 3).get_pixel(0, 0).0[0], 9);
    }
}
