//! Photo-like pictures made from a real certificate with the `image` crate alone: turns, tilts
//! (a camera's perspective), blur, uneven light, scaling, JPEG. Used by `qr_reading.rs`.

use image::{GrayImage, Luma};

/// A plane projective map (row-major 3 × 3, last entry 1).
#[derive(Clone, Copy, Debug)]
pub struct Homography([f64; 9]);

impl Homography {
    /// The map taking `from[i]` to `to[i]` (four points, no three on one line).
    pub fn from_points(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Homography {
        // u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), v likewise with h3..h5: eight equations.
        let mut a = [[0f64; 9]; 8];
        for (i, (&(x, y), &(u, v))) in from.iter().zip(to.iter()).enumerate() {
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        // Gauss–Jordan elimination with partial pivoting.
        for col in 0..8 {
            let pivot = (col..8)
                .max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))
                .unwrap();
            a.swap(col, pivot);
            let p = a[col][col];
            a[col].iter_mut().for_each(|v| *v /= p);
            let pivot_row = a[col];
            for (r, row) in a.iter_mut().enumerate() {
                if r != col {
                    let f = row[col];
                    row.iter_mut()
                        .zip(pivot_row)
                        .for_each(|(v, pv)| *v -= f * pv);
                }
            }
        }
        let mut h = [1f64; 9];
        h.iter_mut().zip(a.iter()).for_each(|(h, row)| *h = row[8]);
        Homography(h)
    }
}

/// A `width` × `height` picture whose pixel at p shows `src` at `to_src(p)` (bilinear), and
/// `background` where that falls outside `src`. Written as plain loops over the rows, with
/// the map's numerators and denominator stepped along each row: tests run unoptimised.
pub fn warp(
    src: &GrayImage,
    width: u32,
    height: u32,
    to_src: Homography,
    background: u8,
) -> GrayImage {
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    let (last_x, last_y) = (sw.saturating_sub(1) as f64, sh.saturating_sub(1) as f64);
    let raw = src.as_raw();
    let h = to_src.0;
    let mut out = vec![background; width as usize * height as usize];
    for (y, row) in out.chunks_exact_mut(width as usize).enumerate() {
        let yc = y as f64 + 0.5;
        let mut nu = h[0] * 0.5 + h[1] * yc + h[2];
        let mut nv = h[3] * 0.5 + h[4] * yc + h[5];
        let mut d = h[6] * 0.5 + h[7] * yc + h[8];
        for px in row.iter_mut() {
            let (u, v) = (nu / d - 0.5, nv / d - 0.5);
            nu += h[0];
            nv += h[3];
            d += h[6];
            if u < 0.0 || v < 0.0 || u >= last_x || v >= last_y {
                continue;
            }
            let (x0, y0) = (u as usize, v as usize);
            let (fx, fy) = (u - x0 as f64, v - y0 as f64);
            let i = y0 * sw + x0;
            let (a, b) = (f64::from(raw[i]), f64::from(raw[i + 1]));
            let (c, e) = (f64::from(raw[i + sw]), f64::from(raw[i + sw + 1]));
            let top = a + (b - a) * fx;
            let bottom = c + (e - c) * fx;
            *px = (top + (bottom - top) * fy + 0.5) as u8;
        }
    }
    GrayImage::from_raw(width, height, out).unwrap()
}

fn corners(image: &GrayImage) -> [(f64, f64); 4] {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
}

/// `src` with its corners moved to `to`, on a canvas just large enough for it.
fn place(src: &GrayImage, to: [(f64, f64); 4], background: u8) -> GrayImage {
    let min_x = to.iter().map(|p| p.0).fold(f64::MAX, f64::min);
    let min_y = to.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let max_x = to.iter().map(|p| p.0).fold(f64::MIN, f64::max);
    let max_y = to.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let shifted = to.map(|(x, y)| (x - min_x, y - min_y));
    let to_src = Homography::from_points(shifted, corners(src));
    let (width, height) = ((max_x - min_x).ceil() as u32, (max_y - min_y).ceil() as u32);
    warp(src, width, height, to_src, background)
}

/// `src` turned by `degrees` (counter-clockwise) on a canvas that holds it whole.
pub fn rotate(src: &GrayImage, degrees: f64, background: u8) -> GrayImage {
    let (s, c) = degrees.to_radians().sin_cos();
    let to = corners(src).map(|(x, y)| (x * c + y * s, -x * s + y * c));
    place(src, to, background)
}

/// `src` as a camera 1.5 × its larger side away sees it when the paper is tilted by
/// `degrees` about its vertical axis (`about_vertical`) or its horizontal one, then turned by
/// `turn` degrees in the picture.
pub fn tilt(
    src: &GrayImage,
    degrees: f64,
    about_vertical: bool,
    turn: f64,
    background: u8,
) -> GrayImage {
    let (w, h) = (f64::from(src.width()), f64::from(src.height()));
    let distance = 1.5 * w.max(h);
    let (s, c) = degrees.to_radians().sin_cos();
    let (ts, tc) = turn.to_radians().sin_cos();
    let to = corners(src).map(|(x, y)| {
        let (x, y) = (x - w / 2.0, y - h / 2.0);
        let (x3, y3, z3) = if about_vertical {
            (x * c, y, x * s)
        } else {
            (x, y * c, y * s)
        };
        let (px, py) = (
            distance * x3 / (distance + z3),
            distance * y3 / (distance + z3),
        );
        (px * tc + py * ts, -px * ts + py * tc)
    });
    place(src, to, background)
}

/// Light falling off across the picture: full at the top-left corner, `dimmest` (0–1) of it
/// at the bottom-right, plus a grey veil of `veil` (0–255) fading the other way, as glare.
pub fn uneven_light(src: &GrayImage, dimmest: f64, veil: f64) -> GrayImage {
    let w = src.width() as usize;
    let span = f64::from(src.width() + src.height());
    let mut out = src.clone();
    for (y, row) in out.chunks_exact_mut(w).enumerate() {
        for (x, p) in row.iter_mut().enumerate() {
            let t = (x + y) as f64 / span;
            let v = f64::from(*p) * (1.0 - (1.0 - dimmest) * t) + veil * (1.0 - t);
            *p = v.clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// `src` with `margin` pixels of `background` around it.
pub fn framed(src: &GrayImage, margin: u32, background: u8) -> GrayImage {
    let mut out = GrayImage::from_pixel(
        src.width() + 2 * margin,
        src.height() + 2 * margin,
        Luma([background]),
    );
    image::imageops::replace(&mut out, src, i64::from(margin), i64::from(margin));
    out
}

/// `src` resized by `factor` with a triangle (bilinear) filter, as screenshot tools scale.
pub fn scaled(src: &GrayImage, factor: f64) -> GrayImage {
    let w = (f64::from(src.width()) * factor).round() as u32;
    let h = (f64::from(src.height()) * factor).round() as u32;
    image::imageops::resize(src, w, h, image::imageops::FilterType::Triangle)
}

/// A phone's 16-megapixel (4608 × 3456) picture of the page: turned a quarter, a little
/// skewed and tilted, on a dark desk, unevenly lit.
pub fn phone_photo(page: &GrayImage) -> GrayImage {
    let (w, h) = (4608.0, 3456.0);
    let to = [
        (w * 0.10, h * 0.92),
        (w * 0.14, h * 0.06),
        (w * 0.93, h * 0.10),
        (w * 0.90, h * 0.95),
    ];
    let to_page = Homography::from_points(to, corners(page));
    uneven_light(&warp(page, w as u32, h as u32, to_page, 90), 0.5, 20.0)
}

/// One picture of the set.
pub struct Sample {
    pub category: &'static str,
    pub name: String,
    pub image: GrayImage,
    /// Saved as JPEG at this quality, or else as PNG.
    pub jpeg: Option<u8>,
}

/// The photo-like pictures made from `qr` (the `qr.png` route's image, 8 px a module) and the
/// page rendered at 200 and 300 dpi.
pub fn variants(qr: &GrayImage, page200: &GrayImage, page300: &GrayImage) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut add = |category: &'static str, name: String, image: GrayImage, jpeg: Option<u8>| {
        out.push(Sample {
            category,
            name,
            image,
            jpeg,
        })
    };
    // A screenshot of qr.png at about 4 px a module, turned or not, then scaled 1×–4×.
    let screenshot = scaled(qr, 0.5);
    for turn in [0, 90, 270] {
        let turned = match turn {
            90 => image::imageops::rotate90(&screenshot),
            270 => image::imageops::rotate270(&screenshot),
            _ => screenshot.clone(),
        };
        for factor in [1.0, 1.5, 2.0, 2.5, 3.0, 4.0] {
            let name = format!("qr-4px-{turn}deg-x{factor}");
            add("scale", name, scaled(&turned, factor), None);
        }
    }
    let odd = image::imageops::rotate90(&scaled(qr, 0.45));
    for factor in [1.0, 2.0] {
        let name = format!("qr-3.6px-90deg-x{factor}");
        add("scale", name, scaled(&odd, factor), None);
    }
    // The code held up to the camera on a grey desk (4 px a module), and the page.
    let code = framed(&screenshot, 40, 255);
    for degrees in [7.0, 15.0, 30.0, 45.0, 60.0, 135.0, 200.0, 315.0] {
        let name = format!("qr-rot{degrees}");
        add("rotation", name, rotate(&code, degrees, 150), None);
    }
    for degrees in [15.0, 30.0, 45.0, 100.0] {
        let name = format!("page200-rot{degrees}");
        add("rotation", name, rotate(page200, degrees, 120), None);
    }
    for (degrees, vertical, turn) in [
        (10.0, true, 0.0),
        (20.0, false, 0.0),
        (30.0, true, 0.0),
        (30.0, false, 0.0),
        (25.0, true, 20.0),
        (30.0, false, 110.0),
    ] {
        let axis = if vertical { "v" } else { "h" };
        let tilted = |src| tilt(src, degrees, vertical, turn, 130);
        let name = format!("qr-tilt{degrees}{axis}-turn{turn}");
        add("perspective", name, tilted(&code), None);
        let name = format!("page300-tilt{degrees}{axis}-turn{turn}");
        add("perspective", name, tilted(page300), None);
    }
    for sigma in [1.0f32, 1.5, 2.0, 3.0] {
        let name = format!("qr-blur{sigma}");
        add("blur", name, image::imageops::blur(&code, sigma), None);
        let name = format!("page300-blur{sigma}");
        add("blur", name, image::imageops::blur(page300, sigma), None);
    }
    add("jpeg50", "qr".into(), code.clone(), Some(50));
    let turned = rotate(&scaled(&code, 1.5), 20.0, 150);
    add("jpeg50", "qr-x1.5-rot20".into(), turned, Some(50));
    add("jpeg50", "page200".into(), page200.clone(), Some(50));
    add("jpeg50", "page300".into(), page300.clone(), Some(50));
    let tilted = tilt(page300, 20.0, true, 10.0, 120);
    add("jpeg50", "page300-tilt20".into(), tilted, Some(50));
    for (dimmest, veil) in [(0.5, 0.0), (0.3, 0.0), (0.4, 60.0), (0.25, 90.0)] {
        let name = format!("qr-light{dimmest}-veil{veil}");
        add("light", name, uneven_light(&code, dimmest, veil), None);
        let name = format!("page300-light{dimmest}-veil{veil}");
        add("light", name, uneven_light(page300, dimmest, veil), None);
    }
    // All at once, as a phone photo: tilted, turned, blurred, unevenly lit, JPEG 50.
    for (degrees, turn, sigma) in [(15.0, 10.0, 1.0), (25.0, 100.0, 1.2), (30.0, 200.0, 0.8)] {
        let photo = |src: &GrayImage| {
            let tilted = tilt(src, degrees, true, turn, 130);
            uneven_light(&image::imageops::blur(&tilted, sigma), 0.45, 30.0)
        };
        let name = format!("qr-tilt{degrees}-turn{turn}-blur{sigma}");
        add("photo", name, photo(&scaled(&code, 1.5)), Some(50));
        let name = format!("page300-tilt{degrees}-turn{turn}-blur{sigma}");
        add("photo", name, photo(page300), Some(50));
    }
    add(
        "photo",
        "phone-16mp-q50".into(),
        phone_photo(page300),
        Some(50),
    );
    out
}
