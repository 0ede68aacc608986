//! What someone presents for verification, read from a pasted link, a bare token or a typed
//! verification code.

use super::VerificationCode;

/// One presented thing: a token, a code, or neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// A token (from a `…/v/<token>` link or bare).
    Token(String),
    /// A verification code (from a `…/c/<code>` link or typed).
    Code(VerificationCode),
    /// A `…/c/` link or something shaped like a code that is not a valid one.
    Malformed,
}

impl Presented {
    /// Reads what a person pasted or typed: `…/v/<token>`, `…/c/<code>`, a bare code in any
    /// accepted spelling, or else a bare token.
    pub fn read(input: &str) -> Self {
        let input = input.trim();
        if let Some((_, code)) = input.rsplit_once("/c/") {
            return Self::code(code);
        }
        if let Some((_, token)) = input.rsplit_once("/v/") {
            return Self::Token(token.to_owned());
        }
        if input.contains('.') {
            return Self::Token(input.to_owned());
        }
        Self::code(input)
    }

    /// Reads what was given as a code (a `/c/{code}` path, a `{"code"}` body), in any
    /// accepted spelling.
    pub fn code(input: &str) -> Self {
        VerificationCode::parse(input).map_or(Self::Malformed, Self::Code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_links_tokens_and_codes_as_people_paste_them() {
        let code = VerificationCode::parse("XK7M-2QPD-9VTR-4HWB").unwrap();
        for input in [
            "https://zwfw.example.gov.cn/c/XK7M-2QPD-9VTR-4HWB",
            "xk7m 2qpd 9vtr 4hwb",
            " XK7M2QPD9VTR4HWB\n",
        ] {
            assert_eq!(
                Presented::read(input),
                Presented::Code(code.clone()),
                "{input}"
            );
        }
        assert_eq!(
            Presented::read("http://127.0.0.1:8080/v/a.b.c"),
            Presented::Token("a.b.c".into())
        );
        assert_eq!(Presented::read("a.b.c"), Presented::Token("a.b.c".into()));
        assert_eq!(Presented::read("http://x/c/XK7M"), Presented::Malformed);
        assert_eq!(Presented::read("hello"), Presented::Malformed);
    }
}
