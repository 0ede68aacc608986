//! The holder's portrait on a permit: a JPEG or PNG that the applicant uploaded, checked and
//! brought to one printed form (a 1-inch portrait, 25 × 35 mm, as 300 × 420 px JPEG), the same
//! bytes every time for the same upload, so a re-render gives the same PDF.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{ImageFormat, ImageReader, Limits};

/// The photo as printed: 300 × 420 px (5:7, a 1-inch photo's shape) at about 300 dpi.
pub const PHOTO_WIDTH_PX: u32 = 300;
pub const PHOTO_HEIGHT_PX: u32 = 420;
/// The smallest upload that still prints sharply enough to recognise a face.
const MIN_WIDTH_PX: u32 = 240;
const MIN_HEIGHT_PX: u32 = 320;
/// The largest side decoded: a 48-megapixel phone photo is 8000 px wide.
const MAX_SIDE_PX: u32 = 8000;
/// Memory the decoder may take (a 16-megapixel RGB image is 48 MB).
const MAX_DECODE_BYTES: u64 = 160 << 20;
const JPEG_QUALITY: u8 = 82;

/// Why an upload cannot be printed as the holder's photo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("证件照须为 JPEG 或 PNG 图片 / the photo must be a JPEG or PNG image")]
    NotAnImage,
    #[error(
        "证件照无法读取或过大（最长边不超过 {MAX_SIDE_PX} 像素） / the photo cannot be read or is too large (at most {MAX_SIDE_PX} px a side)"
    )]
    Unreadable,
    #[error(
        "证件照至少 {MIN_WIDTH_PX}×{MIN_HEIGHT_PX} 像素，且为竖幅（宽:高 在 1:2 至 1:1 之间），当前 {0}×{1} / the photo needs at least {MIN_WIDTH_PX}×{MIN_HEIGHT_PX} px in portrait (width:height between 1:2 and 1:1); it is {0}×{1}"
    )]
    Shape(u32, u32),
}

/// Checks an uploaded photo and returns it as printed: cropped to 5:7 about its centre,
/// scaled to [`PHOTO_WIDTH_PX`] × [`PHOTO_HEIGHT_PX`], as a baseline JPEG.
pub fn printed_photo(upload: &[u8]) -> Result<Vec<u8>, PhotoError> {
    let format = image::guess_format(upload).map_err(|_| PhotoError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(PhotoError::NotAnImage);
    }
    let mut reader = ImageReader::with_format(Cursor::new(upload), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE_PX);
    limits.max_image_height = Some(MAX_SIDE_PX);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|_| PhotoError::Unreadable)?;
    let (w, h) = (image.width(), image.height());
    if w < MIN_WIDTH_PX || h < MIN_HEIGHT_PX || w > h || h > 2 * w {
        return Err(PhotoError::Shape(w, h));
    }
    // The largest 5:7 window about the centre.
    let (crop_w, crop_h) = if u64::from(w) * 7 > u64::from(h) * 5 {
        (h * 5 / 7, h)
    } else {
        (w, w * 7 / 5)
    };
    let cropped = image.crop_imm((w - crop_w) / 2, (h - crop_h) / 2, crop_w, crop_h);
    let printed = cropped
        .resize_exact(PHOTO_WIDTH_PX, PHOTO_HEIGHT_PX, FilterType::Triangle)
        .into_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(&printed)
        .map_err(|_| PhotoError::Unreadable)?;
    Ok(jpeg)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `w` × `h` portrait in colour, as a phone or scanner would hand it over.
    pub(crate) fn portrait(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
        let image = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
        });
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap();
        bytes
    }

    #[test]
    fn a_photo_is_cropped_and_scaled_to_the_printed_size_the_same_way_every_time() {
        for (w, h, format) in [
            (600, 800, ImageFormat::Png),
            (3000, 4000, ImageFormat::Jpeg),
            (413, 579, ImageFormat::Jpeg),
        ] {
            let upload = portrait(w, h, format);
            let printed = printed_photo(&upload).unwrap();
            let decoded = image::load_from_memory(&printed).unwrap();
            assert_eq!(
                (decoded.width(), decoded.height()),
                (PHOTO_WIDTH_PX, PHOTO_HEIGHT_PX)
            );
            assert!(printed.len() < 40_000, "{} bytes", printed.len());
            assert_eq!(printed, printed_photo(&upload).unwrap());
        }
    }

    #[test]
    fn what_cannot_be_a_photo_is_refused() {
        assert_eq!(printed_photo(b"%PDF-1.7"), Err(PhotoError::NotAnImage));
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        assert_eq!(printed_photo(gif), Err(PhotoError::NotAnImage));
        let landscape = portrait(800, 600, ImageFormat::Png);
        assert_eq!(printed_photo(&landscape), Err(PhotoError::Shape(800, 600)));
        let tiny = portrait(120, 160, ImageFormat::Png);
        assert_eq!(printed_photo(&tiny), Err(PhotoError::Shape(120, 160)));
        let mut truncated = portrait(600, 800, ImageFormat::Jpeg);
        truncated.truncate(200);
        assert_eq!(printed_photo(&truncated), Err(PhotoError::Unreadable));
    }
}
