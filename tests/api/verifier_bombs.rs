//! Bombs against the verifier's decoding (issue 20): files small on disk that a naive reader
//! would inflate to gigabytes — one 4096² image under 200 names on several pages, 40 large
//! images, a 7999² PNG, pictures whose header declares more than 8000 pixels a side — and the
//! genuine cases that must keep working in the same budget: the licence PDF and a 16-megapixel
//! phone photo of its QR code.
//!
//! Each file is handed to the real `onetrip verify` with its data segment (heap and every
//! private writable mapping) limited to 200 MiB by `RLIMIT_DATA`: an allocation past the limit
//! fails, so a verifier that needed more would abort instead of answering. Each run must end
//! with its documented exit code and verdict line, and its peak resident set must stay under
//! 200 MiB. The server reads an uploaded PDF's QR code through the same code, so the hostile
//! PDFs are uploaded to it as well.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use image::{GrayImage, ImageEncoder, Luma};
use lopdf::{Document, Object, Stream, dictionary};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::photo;

/// The decoding budget: the data segment limit of every run, and the bound on its peak
/// resident set.
const LIMIT: u64 = 200 << 20;

/// Where `limited_run` finds what to run.
const REQUEST: &str = "ONETRIP_TEST_LIMITED_RUN";

/// How one limited run of the CLI ended.
#[derive(Debug)]
struct Run {
    /// The exit code, or `None` when a signal ended it.
    exit: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    peak_kib: i64,
    millis: u128,
}

impl Run {
    fn first_line(&self) -> &str {
        self.stdout.lines().next().unwrap_or_default()
    }

    /// Ended by itself, not by a signal or a failed allocation, within the budget.
    fn assert_within_budget(&self, name: &str) {
        println!(
            "{name}: exit {:?}, peak RSS {} MiB, {} ms; {:?} {:?}",
            self.exit,
            self.peak_kib >> 10,
            self.millis,
            self.first_line(),
            self.stderr.trim()
        );
        assert!(self.signal.is_none(), "{name}: killed: {self:?}");
        assert!(
            !self.stderr.contains("memory allocation") && !self.stderr.contains("panicked"),
            "{name}: {self:?}"
        );
        assert!(
            self.peak_kib < (LIMIT >> 10) as i64,
            "{name}: peak RSS {} KiB over the budget",
            self.peak_kib
        );
    }

    /// Refused as unusable input (exit 3), saying why on standard error.
    fn assert_refused(&self, name: &str, why: &str) {
        self.assert_within_budget(name);
        assert_eq!(self.exit, Some(3), "{name}: {self:?}");
        assert_eq!(self.first_line(), "verdict: unusable_input", "{name}");
        assert!(self.stderr.contains(why), "{name}: {self:?}");
    }
}

/// `onetrip verify` with `args`, against the test app in `dir`, limited to [`LIMIT`].
///
/// The kernel starts a child's peak resident set at its parent's (fork copies the page
/// tables; exec after vfork carries the parent's peak), so the CLI is started from a small
/// process of its own: this test binary running `limited_run` alone, which sets the limit
/// between fork and exec and reads the CLI's peak with `wait4`.
fn verify_limited(dir: &Path, name: &str, args: &[&str]) -> Run {
    let request = json!({"dir": dir, "name": name, "args": args});
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["verifier_bombs::limited_run", "--exact", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(REQUEST, request.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = stdout
        .lines()
        .find_map(|line| line.split_once("limited run: "))
        .map(|(_, json)| serde_json::from_str(json).unwrap())
        .unwrap_or_else(|| panic!("no result: {out:?}"));
    let text = |key: &str| result[key].as_str().unwrap().to_owned();
    Run {
        exit: result["exit"].as_i64().map(|c| c as i32),
        signal: result["signal"].as_i64().map(|s| s as i32),
        stdout: text("stdout"),
        stderr: text("stderr"),
        peak_kib: result["peak_kib"].as_i64().unwrap(),
        millis: u128::from(result["millis"].as_u64().unwrap()),
    }
}

/// Not a test of its own: the small process `verify_limited` starts (and nothing else).
#[test]
#[ignore = "run by verify_limited"]
fn limited_run() {
    use std::os::unix::process::CommandExt;
    let Ok(request) = std::env::var(REQUEST) else {
        return;
    };
    let request: Value = serde_json::from_str(&request).unwrap();
    let dir = Path::new(request["dir"].as_str().unwrap());
    let name = request["name"].as_str().unwrap();
    let args: Vec<&str> = request["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let (out_path, err_path) = (
        dir.join(format!("{name}.out")),
        dir.join(format!("{name}.err")),
    );
    let mut command = Command::new(BIN);
    command
        .args(["--config", dir.join("onetrip.toml").to_str().unwrap()])
        .arg("verify")
        .args(&args)
        .env("ONETRIP_TRUST", dir.join("trust.json"))
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    // SAFETY: only setrlimit (async-signal-safe) runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: LIMIT as libc::rlim_t,
                rlim_max: LIMIT as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = std::time::Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "reaped below by wait4, which gives its peak"
    )]
    let child = command.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain calls with pointers to locals; the child is ours and not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let result = json!({
        "exit": libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        "signal": libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        "stdout": std::fs::read_to_string(&out_path).unwrap(),
        "stderr": std::fs::read_to_string(&err_path).unwrap(),
        "peak_kib": usage.ru_maxrss,
        "millis": started.elapsed().as_millis() as u64,
    });
    println!("limited run: {result}");
}

/// `len` bytes of `byte`, zlib-compressed (at the best ratio, as a bomb's maker would).
fn deflated(byte: u8, len: usize) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![byte; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        encoder.write_all(&block[..n]).unwrap();
        left -= n;
    }
    encoder.finish().unwrap()
}

/// A PDF of `pages` pages whose resources name `names` image XObjects each, drawn by its
/// content: `distinct` white DeviceGray images of `side`² pixels (each its own object, all
/// of the same compressed bytes), name `i` referring to image `i % distinct`.
fn pdf_naming_images(pages: usize, names: usize, distinct: usize, side: i64) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pixels = deflated(255, (side * side) as usize);
    let images: Vec<_> = (0..distinct)
        .map(|_| {
            doc.add_object(Stream::new(
                dictionary! {
                    "Type" => "XObject", "Subtype" => "Image", "Width" => side,
                    "Height" => side, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
                    "Filter" => "FlateDecode",
                },
                pixels.clone(),
            ))
        })
        .collect();
    let mut xobjects = lopdf::Dictionary::new();
    let mut content = Vec::new();
    for i in 0..names {
        xobjects.set(format!("Im{i}"), images[i % distinct]);
        content.extend_from_slice(format!("q 100 0 0 100 0 0 cm /Im{i} Do Q\n").as_bytes());
    }
    let content = doc.add_object(Stream::new(dictionary! {}, content));
    let tree = doc.new_object_id();
    let kids: Vec<Object> = (0..pages)
        .map(|_| {
            doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => tree, "Contents" => content,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                "Resources" => dictionary! { "XObject" => xobjects.clone() },
            })
            .into()
        })
        .collect();
    doc.objects.insert(
        tree,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => pages as i64,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => tree });
    doc.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// A PDF of `objects` (numbered from 1, the first a catalog of no pages) with a plain
/// cross-reference table in which `repeat` more numbers list the last object's offset again.
fn pdf_of_objects(objects: &[Vec<u8>], repeat: usize) -> Vec<u8> {
    let mut pdf = b"%PDF-1.5\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(object);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let last = offsets[offsets.len() - 1];
    offsets.extend(std::iter::repeat_n(last, repeat));
    let xref = pdf.len();
    let count = offsets.len() + 1;
    pdf.extend_from_slice(format!("xref\n0 {count}\n0000000000 65535 f \n").as_bytes());
    for offset in &offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {count} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    pdf
}

/// The catalog and empty page tree that begin [`pdf_of_objects`]'s PDFs.
fn no_pages() -> [Vec<u8>; 2] {
    [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [] /Count 0 >>".to_vec(),
    ]
}

/// The PDFs that attack the loader rather than the images: each under 512 KiB, and parsing
/// each as it asks would take from 30 MB to 2 GB.
fn loader_bombs() -> Vec<(&'static str, Vec<u8>)> {
    // An object stream of 16 KB whose one object is an array of 8 million zeros: 16 MiB once
    // inflated, 1 GB once parsed.
    let mut inner = b"3 0 [".to_vec();
    inner.extend_from_slice(&b"0 ".repeat(8 << 20));
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&inner).unwrap();
    let zipped = encoder.finish().unwrap();
    let mut object_stream = format!(
        "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
        zipped.len()
    )
    .into_bytes();
    object_stream.extend_from_slice(&zipped);
    object_stream.extend_from_slice(b"\nendstream");
    let [catalog, pages] = no_pages();
    let packed = pdf_of_objects(&[catalog.clone(), pages.clone(), object_stream], 0);
    // A plain array of 250,000 zeros in a 500 KB file.
    let array = [b"[".as_slice(), &b"0 ".repeat(250_000), b"]"].concat();
    let plain = pdf_of_objects(&[catalog.clone(), pages.clone(), array], 0);
    // A 100 KB stream listed under 20,000 object numbers: 2 GB if each copy were kept.
    let data = vec![b'x'; 100_000];
    let mut stream = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
    stream.extend_from_slice(&data);
    stream.extend_from_slice(b"\nendstream");
    let listed = pdf_of_objects(&[catalog, pages, stream], 20_000);
    vec![
        ("object stream of 8M zeros", packed),
        ("400 cross-reference streams", xref_chain(400, 60_000)),
        ("array of 250k zeros", plain),
        ("one stream under 20k numbers", listed),
    ]
}

/// A PDF of `sections` cross-reference streams, each naming the one before (`/Prev`) and
/// listing `listed` objects of its own (all at the catalog's offset): 400 of 60,000 fit in
/// 170 KB, and lopdf reads them all, 24 million entries, before any object.
fn xref_chain(sections: usize, listed: usize) -> Vec<u8> {
    let mut pdf = b"%PDF-1.5\n".to_vec();
    let catalog = pdf.len() as u32;
    pdf.extend_from_slice(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    let pages = pdf.len() as u32;
    pdf.extend_from_slice(b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n");
    // Type 1 (in use), a 3-byte offset, generation 0.
    let entry = |offset: u32| [[1].as_slice(), &offset.to_be_bytes()[1..]].concat();
    let zip = |entries: &[u8]| {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(entries).unwrap();
        encoder.finish().unwrap()
    };
    let middle = zip(&entry(catalog).repeat(listed));
    let mut previous = None;
    for k in 0..sections {
        let first = 3 + k * listed;
        let last = k + 1 == sections;
        let (index, zipped) = if last {
            let head = [vec![0; 4], entry(catalog), entry(pages)].concat();
            let entries = [head, entry(catalog).repeat(listed)].concat();
            (format!("[0 3 {first} {listed}]"), zip(&entries))
        } else {
            (format!("[{first} {listed}]"), middle.clone())
        };
        let prev = previous.map(|p| format!(" /Prev {p}")).unwrap_or_default();
        previous = Some(pdf.len());
        let size = first + listed;
        pdf.extend_from_slice(
            format!(
                "{size} 0 obj\n<< /Type /XRef /Size {} /W [1 3 0] /Index {index} /Root 1 0 R /Filter /FlateDecode /Length {}{prev} >>\nstream\n",
                size + 1,
                zipped.len()
            )
            .as_bytes(),
        );
        pdf.extend_from_slice(&zipped);
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
    }
    pdf.extend_from_slice(format!("startxref\n{}\n%%EOF\n", previous.unwrap()).as_bytes());
    pdf
}

/// A grey PNG of `width` × `height` white pixels, written chunk by chunk (never held whole).
fn white_png(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &header);
    // Each row: filter byte 0 (none) and `width` white pixels.
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let mut row = vec![255u8; width as usize + 1];
    row[0] = 0;
    for _ in 0..height {
        encoder.write_all(&row).unwrap();
    }
    chunk(&mut png, b"IDAT", &encoder.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A phone's 16-megapixel (4608 × 3456) colour JPEG (quality 90) of `qr` (the `qr.png`
/// route's image): the code held at about 3 × its size, turned 8°, on a grainy, unevenly lit
/// grey background.
fn phone_photo_of(qr: &GrayImage) -> Vec<u8> {
    let (w, h) = (4608u32, 3456u32);
    // Grain from a fixed linear congruential sequence: the same picture on every run.
    let mut seed = 0x2545_f491_u32;
    let mut page = GrayImage::from_fn(w, h, |_, _| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        Luma([196 + (seed >> 29) as u8])
    });
    let code = photo::rotate(&photo::scaled(&photo::framed(qr, 32, 250), 3.0), 8.0, 200);
    let (x, y) = ((w - code.width()) / 2, (h - code.height()) / 2);
    image::imageops::replace(&mut page, &code, i64::from(x), i64::from(y));
    let page = photo::uneven_light(&page, 0.6, 20.0);
    let colour = image::DynamicImage::ImageLuma8(page).into_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .write_image(colour.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    jpeg
}

/// A JPEG of `width` × `height` grey pixels.
fn grey_jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = GrayImage::from_pixel(width, height, Luma([128]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .write_image(image.as_raw(), width, height, image::ExtendedColorType::L8)
        .unwrap();
    jpeg
}

/// The peak resident set of the process `pid` so far (`VmHWM`), in KiB.
fn peak_kib_of(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn pdf_and_picture_bombs_are_refused_and_genuine_files_verify_within_200_mib() {
    let app = TestApp::spawn().await;
    let staff = Staff::new(&app).await;
    let scjg = app.token("approver", json!({"department": "SCJG"})).await;
    let record = issued_licence_of(&app, &staff, &scjg, &enterprise(7000)).await;
    let pdf = certificate_pdf(&app, &staff.clerk, &record).await;
    let id = record["id"].as_str().unwrap();
    let r = app
        .get(&staff.clerk, &format!("/certificates/{id}/qr.png"))
        .await;
    assert_eq!(r.status(), 200);
    let qr = image::load_from_memory(&r.bytes().await.unwrap())
        .unwrap()
        .to_luma8();
    let dir = app.dir.path();
    let out = cli(dir, &["trust", "add", &app.url]);
    assert!(out.status.success(), "{out:?}");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };

    // (a) One 4096² image under 200 names on each of 4 pages: inflated and searched once.
    let one_named_often = pdf_naming_images(4, 200, 1, 4096);
    assert!(
        one_named_often.len() < 64 << 10,
        "{}",
        one_named_often.len()
    );
    let path = write("one-image-800-names.pdf", &one_named_often);
    verify_limited(dir, "one-image-800-names", &[&path, "--offline"])
        .assert_refused("one image, 800 names", "QR code unreadable");

    // (b) 40 distinct 4096² images (672 megapixels) in 646 KB: larger than any certificate,
    // not parsed; and 9 of 2048² in 36 KB, refused from their declared sizes.
    let many = pdf_naming_images(1, 40, 40, 4096);
    assert!(many.len() < 1 << 20, "{}", many.len());
    let path = write("forty-images.pdf", &many);
    verify_limited(dir, "forty-images", &[&path, "--offline"])
        .assert_refused("40 images", "larger than any certificate");
    let nine = pdf_naming_images(1, 9, 9, 2048);
    let path = write("nine-images.pdf", &nine);
    verify_limited(dir, "nine-images", &[&path, "--offline"])
        .assert_refused("9 images", "more than a certificate holds");

    // PDFs that attack the loader: refused (or found empty) before they are expanded.
    let loader = loader_bombs();
    for (name, bomb) in &loader {
        assert!(bomb.len() < 512 << 10, "{name}: {} bytes", bomb.len());
        let file = name.replace(' ', "-");
        let path = write(&format!("{file}.pdf"), bomb);
        verify_limited(dir, &file, &[&path, "--offline"])
            .assert_refused(name, "reading the QR code in the PDF");
    }

    // The server reads an uploaded PDF's QR code through the same budgeted reader: the bombs
    // are unusable (422), and the service's own peak stays within the budget. (A client of
    // its own: the runs above took long enough for the service to close idle connections.)
    let client = reqwest::Client::new();
    let images = [
        ("one image, 800 names", &one_named_often),
        ("40 images", &many),
        ("9 images", &nine),
    ];
    for (name, bomb) in images
        .into_iter()
        .chain(loader.iter().map(|(n, b)| (*n, b)))
    {
        let started = std::time::Instant::now();
        let r = client
            .post(app.api("/verify"))
            .header("Content-Type", "application/pdf")
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{name}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["verdict"], "unusable_input", "{name}: {body}");
        println!(
            "server, {name}: {} in {} ms, service peak RSS {} MiB",
            body["message"],
            started.elapsed().as_millis(),
            peak_kib_of(app.pid()) >> 10
        );
    }
    assert!(peak_kib_of(app.pid()) < (LIMIT >> 10) as i64);

    // (c) A 7999² PNG (within the 8000-pixel side limit) of ~60 KB.
    let big_png = white_png(7999, 7999);
    assert!(big_png.len() < 128 << 10, "{}", big_png.len());
    let path = write("7999.png", &big_png);
    verify_limited(dir, "7999-png", &[&path, "--offline"])
        .assert_refused("7999² PNG", "no readable QR code");

    // Pictures whose header declares more than 8000 pixels a side: refused before decoding.
    let path = write("8001.png", &white_png(8001, 8001));
    verify_limited(dir, "8001-png", &[&path, "--offline"])
        .assert_refused("8001² PNG", "more than 8000 a side");
    let path = write("8001.jpg", &grey_jpeg(16, 8001));
    verify_limited(dir, "8001-jpeg", &[&path, "--offline"])
        .assert_refused("16 × 8001 JPEG", "more than 8000 a side");

    // (d) A 16-megapixel phone photo of the licence's QR code verifies, online (exit 0) and
    // offline (exit 2: valid as far as the pinned keys and status list show).
    let photo = phone_photo_of(&qr);
    let path = write("phone-16mp.jpg", &photo);
    let run = verify_limited(dir, "phone-16mp", &[&path]);
    run.assert_within_budget("16-megapixel photo");
    assert_eq!(run.exit, Some(0), "{run:?}");
    assert_eq!(run.first_line(), "verdict: valid", "{run:?}");
    let run = verify_limited(dir, "phone-16mp-offline", &[&path, "--offline"]);
    run.assert_within_budget("16-megapixel photo, offline");
    assert_eq!(run.exit, Some(2), "{run:?}");
    assert!(
        run.first_line()
            .starts_with("verdict: valid (offline; status as of "),
        "{run:?}"
    );

    // (e) The licence PDF itself, online and offline.
    let path = write("licence.pdf", &pdf);
    let run = verify_limited(dir, "licence", &[&path]);
    run.assert_within_budget("licence PDF");
    assert_eq!(run.exit, Some(0), "{run:?}");
    assert_eq!(run.first_line(), "verdict: valid", "{run:?}");
    let run = verify_limited(dir, "licence-offline", &[&path, "--offline"]);
    run.assert_within_budget("licence PDF, offline");
    assert_eq!(run.exit, Some(2), "{run:?}");
}
