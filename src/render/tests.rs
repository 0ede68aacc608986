//! End-to-end tests of the render module: real renders of realistic certificates, read back
//! the way a verifier would.

use chrono::{NaiveDate, TimeZone, Utc};
use printpdf::{DictItem, Op, Pt, TextMatrix};

use super::canvas::{Canvas, Drawn, PAGE_H, PAGE_W, mm_to_pt};
use super::pdf::QR_SIZE;
use super::{
    CertificateView, Fonts, RenderError, check_rendering, layout, read_qr_from_pdf, render_pdf,
};

/// A realistic certificate for tests: 一企一证 with `items` of the 19 provincial categories.
pub(crate) fn sample_view(items: usize, specimen: bool) -> CertificateView {
    const PRODUCTS: [&str; 19] = [
        "电线电缆",
        "危险化学品",
        "危险化学品包装物、容器",
        "化肥",
        "建筑用钢筋",
        "水泥",
        "人民币鉴别仪",
        "广播电视传输设备",
        "预应力混凝土铁路桥简支梁",
        "特种劳动防护用品",
        "防伪技术产品",
        "耐火材料",
        "食品相关产品（食品用纸包装、容器等制品）",
        "电力整流器",
        "砂轮",
        "轴承钢材",
        "内燃机",
        "公路桥梁支座",
        "直接接触饮用水的材料及制品",
    ];
    CertificateView {
        title: "工业产品生产许可证".into(),
        subtitle: Some("（一企一证）".into()),
        holder_label: "企业名称".into(),
        holder_name: "浙江数字科技有限公司".into(),
        holder_id_label: "统一社会信用代码".into(),
        holder_id: "91330100MA2KXXXX1Y".into(),
        fields: vec![
            ("证书编号".into(), "（浙）XK16-204-00123".into()),
            (
                "住所".into(),
                "浙江省杭州市西湖区文三路 90 号东部软件园科技大厦 1201 室".into(),
            ),
            ("法定代表人".into(), "王小明".into()),
        ],
        items_label: "许可产品".into(),
        items: PRODUCTS
            .iter()
            .cycle()
            .take(items)
            .map(|s| s.to_string())
            .collect(),
        identifier: "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
            .into(),
        issue_date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        notes: vec![
            ("版本".into(), "第002版，2026年11月26日变更".into()),
            ("原证书编号".into(), "XK13-001-00001、XK13-001-00002".into()),
        ],
        expiry_date: NaiveDate::from_ymd_opt(2031, 11, 25).unwrap(),
        issuer: "浙江省市场监督管理局".into(),
        // As long as a real link: a 48-byte public URL and a 409-character token.
        verify_url: format!(
            "https://zwfw.zjzwfw.gov.cn/hangzhou/xiaoshan/v/{}",
            &"eyJhbGciOiJFZERTQSIsImtpZCI6Ik5wNHlaM3lHdU5RUm1kRjVuX3pUZ2VaeXFNbjRqbVg4In0."
                .repeat(6)[..409]
        ),
        code: "XK7M-2QPD-9VTR-4HWB".into(),
        code_url: "https://zwfw.zjzwfw.gov.cn/hangzhou/xiaoshan/c/XK7M-2QPD-9VTR-4HWB".into(),
        photo: None,
        specimen,
        issued_at: Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0).unwrap(),
        document_id: "7f3a9c0e5b2d4f1a8c6e0b9d2f4a6c8e".into(),
    }
}

fn fonts() -> Fonts {
    Fonts::embedded().unwrap()
}

#[test]
fn same_view_gives_identical_bytes() {
    let fonts = fonts();
    let view = sample_view(19, true);
    let first = render_pdf(&fonts, &view).unwrap();
    let second = render_pdf(&fonts, &view).unwrap();
    assert!(first == second, "two renders differ");
    // Metadata comes from the view, not from the clock or printpdf's counter.
    let text = String::from_utf8_lossy(&first);
    assert!(
        text.contains("/ID[(7f3a9c0e5b2d4f1a8c6e0b9d2f4a6c8e)(7f3a9c0e5b2d4f1a8c6e0b9d2f4a6c8e)]")
    );
    // The Info dictionary sits in a compressed object stream: read it as a reader would.
    let doc = lopdf::Document::load_mem(&first).unwrap();
    let info = doc
        .trailer
        .get(b"Info")
        .and_then(|info| doc.get_dictionary(info.as_reference()?))
        .unwrap();
    let created = info.get(b"CreationDate").unwrap().as_str().unwrap();
    assert!(
        created.starts_with(b"D:20261126093000"),
        "creation date from issued_at"
    );
    // A different document id changes the subset tag and /ID, nothing else breaks.
    let other = CertificateView {
        document_id: "other".into(),
        ..view
    };
    assert_ne!(render_pdf(&fonts, &other).unwrap(), first);
}

#[test]
fn certificates_are_small() {
    let fonts = fonts();
    for (items, specimen) in [(3, false), (19, false), (19, true)] {
        let pdf = render_pdf(&fonts, &sample_view(items, specimen)).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() < 60_000, "{items} items: {} bytes", pdf.len());
    }
}

#[test]
fn refuses_characters_the_font_cannot_draw() {
    let view = CertificateView {
        holder_name: "\u{20BB7}田太郎".into(),
        ..sample_view(3, false)
    };
    match render_pdf(&fonts(), &view) {
        Err(RenderError::MissingGlyphs { field, chars }) => {
            assert_eq!(field, "holder_name");
            assert_eq!(chars, vec!['\u{20BB7}']);
        }
        other => panic!("expected MissingGlyphs, got {other:?}"),
    }
}

#[test]
fn too_much_content_is_an_error_not_an_overflow() {
    let fonts = fonts();
    // 40 items still fit (smaller type); 400 cannot.
    assert!(render_pdf(&fonts, &sample_view(40, false)).is_ok());
    assert!(matches!(
        render_pdf(&fonts, &sample_view(400, false)),
        Err(RenderError::DoesNotFit(_))
    ));
}

#[test]
fn refuses_what_cannot_be_printed_legibly() {
    let fonts = fonts();
    let long_title = CertificateView {
        title: "工业产品生产许可证".repeat(4),
        ..sample_view(3, false)
    };
    assert!(matches!(
        render_pdf(&fonts, &long_title),
        Err(RenderError::DoesNotFit(_))
    ));
    let long_url = CertificateView {
        verify_url: format!("https://x.example/v/{}", "a".repeat(900)),
        ..sample_view(3, false)
    };
    assert!(matches!(
        render_pdf(&fonts, &long_url),
        Err(RenderError::DoesNotFit(_))
    ));
    let no_items = CertificateView {
        items: Vec::new(),
        subtitle: None,
        ..sample_view(3, false)
    };
    assert!(render_pdf(&fonts, &no_items).is_ok());
}

#[test]
fn passes_on_a_real_render_and_fails_on_wrong_expectations() {
    let fonts = Fonts::embedded().unwrap();
    let view = sample_view(19, false);
    let pdf = render_pdf(&fonts, &view).unwrap();
    let texts = [
        view.title.as_str(),
        view.holder_name.as_str(),
        view.holder_id.as_str(),
        view.identifier.as_str(),
        view.code.as_str(),
        view.code_url.as_str(),
        "食品相关产品（食品用纸包装、容器等制品）",
        "2031年11月25日",
        "浙江省杭州市西湖区文三路 90 号东部软件园科技大厦 1201 室",
    ];
    check_rendering(&pdf, &view.verify_url, &texts).unwrap();
    check_rendering(&pdf, &view.verify_url, &view.expected_texts()).unwrap();
    // The call shape the issuance code uses: a Vec of &str borrowed from Strings.
    let owned = view.expected_texts();
    check_rendering(
        &pdf,
        &view.verify_url,
        &owned.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(read_qr_from_pdf(&pdf).unwrap(), view.verify_url);

    let wrong_url = format!("{}x", view.verify_url);
    assert!(matches!(
        check_rendering(&pdf, &wrong_url, &texts),
        Err(RenderError::QrMismatch { .. })
    ));
    assert!(matches!(
        check_rendering(&pdf, &view.verify_url, &["浙江数字科技有限公司", "李四"]),
        Err(RenderError::TextMissing(t)) if t == "李四"
    ));
}

#[test]
fn fails_on_a_pdf_that_is_not_a_certificate() {
    let none: [&str; 0] = [];
    assert!(check_rendering(b"%PDF-1.3 garbage", "https://x", &none).is_err());
    // A damaged QR stream: flip bytes inside the compressed image data (printpdf writes
    // the image XObject first).
    let fonts = Fonts::embedded().unwrap();
    let view = sample_view(3, false);
    let mut pdf = render_pdf(&fonts, &view).unwrap();
    let at = pdf.windows(6).position(|w| w == b"stream").unwrap() + 200;
    for b in &mut pdf[at..at + 40] {
        *b ^= 0x5a;
    }
    assert!(matches!(
        check_rendering(&pdf, &view.verify_url, &none),
        Err(RenderError::QrUnreadable(_))
    ));
}

/// Boxes (x0, y0, x1, y1 in pt) of every unrotated text run the page draws.
type Corner = (Pt, Pt);

/// Every text run's box, the QR code's corner and the photo's, as laid out.
fn text_boxes(fonts: &Fonts, view: &CertificateView) -> (Vec<[f32; 4]>, Corner, Option<Corner>) {
    let mut c = Canvas::new(fonts);
    layout::draw(&mut c, view, QR_SIZE).unwrap();
    let qr = c.qr_position();
    let photo = c.photo_position();
    let Drawn { ops, body, code } = c.finish();
    let (mut size, mut at, mut boxes, mut in_code) = (0.0, None, Vec::new(), false);
    for op in ops {
        match op {
            Op::Unknown { key, value } => match (key.as_str(), value.as_slice()) {
                ("Tf", [DictItem::Name(name), DictItem::Real(s)]) => {
                    size = *s;
                    in_code = name.as_slice() == code.resource().as_bytes();
                }
                ("Tj", [DictItem::String { data, .. }]) => {
                    if let Some((x, y)) = at {
                        let w = if in_code {
                            fonts.mono_width(&code.text_of(data), size)
                        } else {
                            fonts.text_width(&body.text_of(data), size)
                        };
                        boxes.push([x, y - 0.12 * size, x + w, y + 0.88 * size]);
                    }
                }
                _ => {}
            },
            Op::SetTextMatrix {
                matrix: TextMatrix::Raw(m),
            } => at = (m[1] == 0.0).then_some((m[4], m[5])),
            _ => {}
        }
    }
    (boxes, qr, photo)
}

#[test]
fn nothing_overlaps_and_nothing_leaves_the_frame() {
    let fonts = Fonts::embedded().unwrap();
    let mut stress = sample_view(40, true);
    stress.holder_name =
        "浙江省杭州市余杭区未来科技城数字经济产业园智能制造装备研究开发股份有限公司".into();
    stress.fields.push((
        "经营范围".into(),
        "技术开发、技术服务、技术咨询；".repeat(8),
    ));
    let portrait = super::portrait::tests::portrait(600, 800, image::ImageFormat::Jpeg);
    let permit = CertificateView {
        photo: Some(super::printed_photo(&portrait).unwrap()),
        ..sample_view(2, false)
    };
    let short_permit = CertificateView {
        fields: Vec::new(),
        notes: Vec::new(),
        ..permit.clone()
    };
    let views = [
        sample_view(1, false),
        sample_view(3, false),
        sample_view(19, true),
        stress,
        permit,
        short_permit,
    ];
    let photo_w = mm_to_pt(layout::PHOTO_W).0;
    let photo_h = mm_to_pt(layout::PHOTO_H).0;
    let inner = (
        mm_to_pt(14.0).0,
        mm_to_pt(PAGE_W - 14.0).0,
        mm_to_pt(PAGE_H - 14.0).0,
    );
    let qr_side = mm_to_pt(QR_SIZE).0;
    for view in &views {
        let (boxes, (qx, qy), photo) = text_boxes(&fonts, view);
        assert!(boxes.len() > 15);
        assert_eq!(photo.is_some(), view.photo.is_some());
        for (i, a) in boxes.iter().enumerate() {
            assert!(
                a[0] >= inner.0 && a[2] <= inner.1,
                "outside the frame: {a:?}"
            );
            assert!(
                a[1] >= inner.0 && a[3] <= inner.2,
                "outside the frame: {a:?}"
            );
            let hits_qr =
                a[0] < qx.0 + qr_side && a[2] > qx.0 && a[1] < qy.0 + qr_side && a[3] > qy.0;
            assert!(!hits_qr, "text over the QR code: {a:?}");
            if let Some((px, py)) = photo {
                let hits_photo =
                    a[0] < px.0 + photo_w && a[2] > px.0 && a[1] < py.0 + photo_h && a[3] > py.0;
                assert!(!hits_photo, "text over the photo: {a:?}");
            }
            for b in &boxes[i + 1..] {
                let overlap = a[0] < b[2] - 0.5
                    && b[0] < a[2] - 0.5
                    && a[1] < b[3] - 0.5
                    && b[1] < a[3] - 0.5;
                assert!(!overlap, "{} items: {a:?} overlaps {b:?}", view.items.len());
            }
        }
    }
}
