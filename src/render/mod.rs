//! Certificate rendering: the A4 PDF a holder receives, its QR code, and the check run on the
//! PDF before it is signed and stored.
//!
//! Why it is shaped this way:
//! - The font is parsed once per process ([`Fonts`], share it in an `Arc`) and embedded in each
//!   PDF as a subset, so a certificate is tens of kilobytes and its text stays extractable.
//! - Text the font cannot draw is refused ([`RenderError::MissingGlyphs`]) instead of being
//!   printed as empty boxes: a certificate must never lose part of a holder's name.
//! - Output is deterministic: the same [`CertificateView`] gives the same bytes, so the SHA-256
//!   recorded at issuance can be recomputed and compared.
//! - [`check_rendering`] re-reads the finished PDF (QR and text) before anyone signs it.
//!
//! This module depends only on printpdf, lopdf, subsetter, flate2, qrcode, image, rqrr, rxing,
//! thiserror and chrono.

mod canvas;
mod check;
mod embed;
mod fonts;
mod layout;
mod pdf;
mod photo;
mod portrait;
mod qr;
#[cfg(test)]
mod tests;
mod view;

pub use check::{check_rendering, read_qr_from_pdf};
pub use fonts::{Fonts, Unprintable};
pub use pdf::render_pdf;
pub use photo::decode_qr_photo;
pub use portrait::{PHOTO_HEIGHT_PX, PHOTO_WIDTH_PX, PhotoError, printed_photo};
pub use qr::{qr_modules, qr_png, qr_svg, qr_version};
pub use view::{CertificateView, chinese_date};

/// Everything that can go wrong while rendering or checking a certificate.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The font file could not be parsed or is unsuitable.
    #[error("font: {0}")]
    Font(String),
    /// Some text contains characters the font has no glyph for.
    #[error("{field} contains characters the font cannot draw: {chars:?}")]
    MissingGlyphs {
        /// Which part of the certificate (e.g. `holder_name`).
        field: String,
        /// The offending characters, each once.
        chars: Vec<char>,
    },
    /// The content does not fit on one A4 page even at the smallest type size.
    #[error("certificate content does not fit on one page: {0}")]
    DoesNotFit(String),
    /// The verification URL is too long for a QR code.
    #[error("QR encoding: {0}")]
    QrEncode(#[from] qrcode::types::QrError),
    /// PNG encoding of the QR image failed.
    #[error("PNG encoding: {0}")]
    Png(#[from] image::ImageError),
    /// printpdf could not write or re-read the PDF.
    #[error("PDF: {0}")]
    Pdf(String),
    /// The QR code could not be decoded at all.
    #[error("QR code unreadable: {0}")]
    QrUnreadable(String),
    /// A PDF handed in to be read is larger or holds more than any certificate (objects,
    /// images, pixels): refused before it is expanded, so that a bomb costs little.
    #[error("not read: {0}")]
    TooComplex(String),
    /// The QR code decodes, but to something other than the expected URL.
    #[error("QR code decodes to {found:?}, expected {expected:?}")]
    QrMismatch {
        /// The URL the certificate should carry.
        expected: String,
        /// What the QR code actually says.
        found: String,
    },
    /// An expected text is not in the PDF's text layer.
    #[error("text not found in the PDF: {0:?}")]
    TextMissing(String),
}
