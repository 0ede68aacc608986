//! What a certificate shows, as the renderer needs it, and how dates and colours are printed.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use printpdf::Color;

/// What a certificate shows; the caller maps its record and template to this.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateView {
    /// Title, e.g. "工业产品生产许可证".
    pub title: String,
    /// Line under the title, e.g. "（一企一证）".
    pub subtitle: Option<String>,
    /// "企业名称" or "姓名".
    pub holder_label: String,
    /// The holder's name, printed exactly.
    pub holder_name: String,
    /// "统一社会信用代码" or "公民身份号码".
    pub holder_id_label: String,
    /// The holder's id, already masked by the caller when needed.
    pub holder_id: String,
    /// (label, value) pairs in template order.
    pub fields: Vec<(String, String)>,
    /// Label of the item list, e.g. "许可产品" or "办理事项".
    pub items_label: String,
    /// Approved item names (one to a few dozen).
    pub items: Vec<String>,
    /// The electronic-licence identifier (long; printed small).
    pub identifier: String,
    /// Date of issue.
    pub issue_date: NaiveDate,
    /// Last day of validity.
    pub expiry_date: NaiveDate,
    /// (label, value) rows printed after the dates: the version and date of change of an
    /// amended certificate, the former numbers of a migrated licence.
    pub notes: Vec<(String, String)>,
    /// Issuing authority, printed bottom right.
    pub issuer: String,
    /// Verification URL (`…/v/<token>`), encoded in the QR code.
    pub verify_url: String,
    /// The verification code in its printed form (`XK7M-2QPD-9VTR-4HWB`), set in the
    /// monospace face beside the QR code.
    pub code: String,
    /// The short link printed under the QR code (`…/c/<code>`), for people who type.
    pub code_url: String,
    /// The holder's photo as printed (a JPEG from [`printed_photo`](super::printed_photo)),
    /// set at the top right of the body; permits carry one.
    pub photo: Option<Vec<u8>>,
    /// Marks the page 样本 / SPECIMEN (watermark and banner).
    pub specimen: bool,
    /// Issuance instant, used as the PDF's creation and modification dates.
    pub issued_at: DateTime<Utc>,
    /// Stable document id written to the trailer `/ID` (e.g. a hash of the identifier).
    pub document_id: String,
}

impl CertificateView {
    /// The strings [`check_rendering`](super::check_rendering) should find in the rendered PDF:
    /// everything that identifies the holder and what was approved, as printed.
    pub fn expected_texts(&self) -> Vec<String> {
        let mut texts = vec![
            self.title.clone(),
            self.holder_name.clone(),
            self.holder_id.clone(),
            self.identifier.clone(),
            self.issuer.clone(),
            chinese_date(self.issue_date),
            chinese_date(self.expiry_date),
            self.code.clone(),
            self.code_url.clone(),
        ];
        texts.extend(self.fields.iter().map(|(_, value)| value.clone()));
        texts.extend(self.items.iter().cloned());
        texts.extend(self.notes.iter().map(|(_, value)| value.clone()));
        texts
    }
}

/// Dates as printed on Chinese certificates: 2026年11月26日.
pub fn chinese_date(date: NaiveDate) -> String {
    format!("{}年{}月{}日", date.year(), date.month(), date.day())
}

/// Black, for text and the QR code.
pub(crate) fn black() -> Color {
    rgb(0.0, 0.0, 0.0)
}

pub(crate) fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(printpdf::Rgb {
        r,
        g,
        b,
        icc_profile: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_the_chinese_way() {
        let date = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        assert_eq!(chinese_date(date), "2026年1月5日");
    }
}
