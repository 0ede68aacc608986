//! The verification code (核验码) printed beside the QR code, for people who type instead of
//! scan: 16 characters of Crockford base32 shown in four groups (`XK7M-2QPD-9VTR-4HWB`), the
//! first 15 random (75 bits), the 16th a check character over them.
//!
//! Crockford's alphabet has no `I`, `L`, `O` or `U`, so what a person reads aloud or retypes
//! survives: input is case-insensitive, dashes and spaces are ignored, and `O` reads as `0`,
//! `I` and `L` as `1`. Seventy-five random bits cannot be enumerated: at a million guesses a
//! second against a million issued codes, finding any one takes about a year on average.
//!
//! The check character is Damm's algorithm over a totally anti-symmetric quasigroup of order
//! 32: the symbols are the elements of GF(32) = GF(2)[x]/(x^5 + x^2 + 1) (symbol `i` of the
//! alphabet is the element whose bits are `i`), and `s ∘ d = x·s + d`. Reading a code runs
//! `s ← s ∘ d` from `s = 0` over all 16 symbols; the check character is the one that brings
//! `s` back to 0. Every row and column of the table is a permutation (a ≠ 0), so one changed
//! symbol always changes the end state; `(s ∘ p) ∘ q = (s ∘ q) ∘ p` gives `(x + 1)(p + q) = 0`,
//! so `p = q` (x ≠ 1): swapping two different neighbours, the check character included,
//! always changes it too. Both are checked exhaustively in the tests, and against an
//! independent implementation in Python (`tests/api/codes.rs`).
//!
//! Codes issued before the check character existed have a random 16th character: a code is
//! looked up first, and only a code not found is judged by its check character.

use std::fmt;
use utoipa::ToSchema;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use super::ParseError;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LEN: usize = 16;
const GROUP: usize = 4;
/// The random symbols before the check character.
const RANDOM: usize = LEN - 1;

/// `x · s` in GF(32) modulo x^5 + x^2 + 1: the multiplier of Damm's quasigroup.
const fn times_x(s: u8) -> u8 {
    let shifted = s << 1;
    if shifted & 0x20 != 0 {
        (shifted ^ 0b10_0101) & 0x1F
    } else {
        shifted
    }
}

/// One step of Damm's algorithm: `state ∘ symbol`.
const fn step(state: u8, symbol: u8) -> u8 {
    times_x(state) ^ symbol
}

/// The state after reading `symbols` (alphabet indices) from 0.
fn damm(symbols: impl IntoIterator<Item = u8>) -> u8 {
    symbols.into_iter().fold(0, step)
}

/// The alphabet index of a canonical character.
fn index(c: u8) -> u8 {
    ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u8
}

/// The check character for 15 alphabet indices: the symbol `d` with `state ∘ d = 0`.
fn check_symbol(random: &[u8]) -> u8 {
    times_x(damm(random.iter().copied()))
}

/// A well-formed code, held in its canonical form (16 characters, no dashes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct VerificationCode(String);

impl VerificationCode {
    /// A fresh code: 15 symbols (75 bits) from the operating system's random source, then
    /// their check character.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 10];
        OsRng.fill_bytes(&mut bytes);
        let bits = bytes
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        let mut symbols: Vec<u8> = (0..RANDOM)
            .map(|i| ((bits >> (i * 5)) & 0x1F) as u8)
            .collect();
        symbols.push(check_symbol(&symbols));
        Self(
            symbols
                .iter()
                .map(|&s| char::from(ALPHABET[usize::from(s)]))
                .collect(),
        )
    }

    /// Whether the 16th character is the check character of the first 15. A code issued
    /// before check characters existed passes only by chance (1 in 32): look a code up first.
    pub fn check_character_holds(&self) -> bool {
        damm(self.0.bytes().map(index)) == 0
    }

    /// Reads a code as a person typed it: any case, with or without dashes or spaces,
    /// `O`/`I`/`L` for `0`/`1`/`1`.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let invalid = || {
            ParseError::new(
                "invalid_code",
                "核验码为16位字母或数字 / a verification code is 16 letters or digits, like XK7M-2QPD-9VTR-4HWB",
            )
        };
        let mut code = String::with_capacity(LEN);
        for c in input.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' | '\u{3000}' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => return Err(invalid()),
            };
            if code.len() == LEN {
                return Err(invalid());
            }
            code.push(c);
        }
        if code.len() != LEN {
            return Err(invalid());
        }
        Ok(Self(code))
    }

    /// The canonical form, as stored and indexed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The printed form, in groups of four: `XK7M-2QPD-9VTR-4HWB`.
impl fmt::Display for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.0.as_bytes().chunks(GROUP).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl TryFrom<String> for VerificationCode {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

/// Serialised in its printed form, so records and the canonical digest show what is printed.
impl From<VerificationCode> for String {
    fn from(value: VerificationCode) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols(code: &str) -> Vec<u8> {
        code.bytes().map(index).collect()
    }

    fn from_symbols(symbols: &[u8]) -> VerificationCode {
        VerificationCode(
            symbols
                .iter()
                .map(|&s| char::from(ALPHABET[usize::from(s)]))
                .collect(),
        )
    }

    /// Multiplication in GF(32) the long way (carry-less product, then reduction), to check
    /// `times_x` against.
    fn gf_mul(a: u8, b: u8) -> u8 {
        let mut product: u16 = 0;
        for bit in 0..5 {
            if b & (1 << bit) != 0 {
                product ^= u16::from(a) << bit;
            }
        }
        for bit in (5..10).rev() {
            if product & (1 << bit) != 0 {
                product ^= 0b10_0101 << (bit - 5);
            }
        }
        product as u8
    }

    #[test]
    fn the_quasigroup_is_a_latin_square_and_totally_anti_symmetric() {
        for s in 0..32u8 {
            assert_eq!(times_x(s), gf_mul(2, s), "x·{s}");
        }
        // Every row and every column a permutation: one changed symbol always shows.
        for fixed in 0..32u8 {
            let mut row = [false; 32];
            let mut column = [false; 32];
            for other in 0..32u8 {
                row[usize::from(step(fixed, other))] = true;
                column[usize::from(step(other, fixed))] = true;
            }
            assert!(
                row.iter().all(|&b| b) && column.iter().all(|&b| b),
                "{fixed}"
            );
        }
        // Swapping two different neighbours always shows, from any state.
        for s in 0..32u8 {
            for p in 0..32u8 {
                for q in 0..32u8 {
                    if p != q {
                        assert_ne!(step(step(s, p), q), step(step(s, q), p), "{s} {p} {q}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_single_substitution_and_adjacent_transposition_is_caught() {
        // Codes that start from every state at every position: 2000 generated ones plus
        // codes made of one repeated symbol.
        let mut codes: Vec<VerificationCode> =
            (0..2000).map(|_| VerificationCode::generate()).collect();
        for s in 0..32u8 {
            let mut symbols = vec![s; RANDOM];
            symbols.push(check_symbol(&symbols));
            codes.push(from_symbols(&symbols));
        }
        let (mut substitutions, mut transpositions) = (0u64, 0u64);
        for code in &codes {
            assert!(code.check_character_holds(), "{code}");
            let original = symbols(code.as_str());
            for position in 0..LEN {
                for other in 0..32u8 {
                    if other == original[position] {
                        continue;
                    }
                    let mut typo = original.clone();
                    typo[position] = other;
                    assert!(!from_symbols(&typo).check_character_holds());
                    substitutions += 1;
                }
                if position + 1 < LEN && original[position] != original[position + 1] {
                    let mut swapped = original.clone();
                    swapped.swap(position, position + 1);
                    assert!(!from_symbols(&swapped).check_character_holds());
                    transpositions += 1;
                }
            }
        }
        assert!(substitutions >= 2000 * 16 * 31 && transpositions > 2000 * 14);
    }

    #[test]
    fn the_check_character_of_known_codes() {
        // Worked by hand: fifteen zeros leave state 0, so the check character is 0; a single
        // 1 last leaves state 1, whose check is x·1 = 2.
        assert!(
            VerificationCode::parse("0000-0000-0000-0000")
                .unwrap()
                .check_character_holds()
        );
        assert!(
            VerificationCode::parse("0000-0000-0000-0012")
                .unwrap()
                .check_character_holds()
        );
        assert!(
            !VerificationCode::parse("0000-0000-0000-0010")
                .unwrap()
                .check_character_holds()
        );
    }

    #[test]
    fn generated_codes_are_16_characters_of_the_alphabet_and_differ() {
        let a = VerificationCode::generate();
        let b = VerificationCode::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(a.to_string().len(), 19);
        assert_eq!(VerificationCode::parse(&a.to_string()).unwrap(), a);
        assert!(a.check_character_holds() && b.check_character_holds());
    }

    #[test]
    fn every_accepted_spelling_reads_the_same_code() {
        let code = VerificationCode::parse("XK7M-2QPD-9VTR-4HWB").unwrap();
        assert_eq!(code.to_string(), "XK7M-2QPD-9VTR-4HWB");
        for spelling in [
            "XK7M2QPD9VTR4HWB",
            "xk7m-2qpd-9vtr-4hwb",
            " XK7M 2QPD 9VTR 4HWB ",
            "XK7M-2QPD-9VTR-4HWB\u{3000}",
        ] {
            assert_eq!(
                VerificationCode::parse(spelling).unwrap(),
                code,
                "{spelling}"
            );
        }
        let confusable = VerificationCode::parse("1100-0000-0000-0000").unwrap();
        for spelling in ["IL0O-oooo-0000-0000", "il00 0000 0000 0000"] {
            assert_eq!(VerificationCode::parse(spelling).unwrap(), confusable);
        }
    }

    #[test]
    fn refuses_wrong_lengths_and_letters_outside_the_alphabet() {
        for bad in [
            "",
            "XK7M-2QPD-9VTR-4HW",
            "XK7M-2QPD-9VTR-4HWBX",
            "XK7M-2QPD-9VTR-4HWU",
            "XK7M_2QPD_9VTR_4HWB",
            "核验码核验码核验码核验码核验码核验",
        ] {
            assert!(VerificationCode::parse(bad).is_err(), "{bad}");
        }
    }
}
