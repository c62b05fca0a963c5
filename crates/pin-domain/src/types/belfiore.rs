//! The Belfiore code: the cadastral code of an Italian municipality (`H501` is Rome, `F205`
//! Milan) or, with a leading `Z`, of a foreign country. It is the birth place of a codice
//! fiscale.

use std::fmt;

/// A Belfiore code: one upper-case letter and three digits, not `000` (the numbering starts
/// at 001 for municipalities and at Z100 for countries, so `000` is never a real place).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BelfioreCode(String);

/// Why a text is not a Belfiore code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BelfioreCodeError {
    #[error("birth place code must be a letter followed by 3 digits, like H501")]
    Format,
}

impl BelfioreCodeError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Format => "BELFIORE_CODE",
        }
    }
}

impl BelfioreCode {
    /// Parses a Belfiore code, trimming it and accepting lower case.
    pub fn parse(input: &str) -> Result<Self, BelfioreCodeError> {
        let code = input.trim().to_ascii_uppercase();
        if is_belfiore(&code) {
            Ok(Self(code))
        } else {
            Err(BelfioreCodeError::Format)
        }
    }

    /// Wraps a code that the codice fiscale parser has already checked with [`is_belfiore`].
    pub(super) fn from_checked(code: String) -> Self {
        debug_assert!(is_belfiore(&code), "{code:?} is not a belfiore code");
        Self(code)
    }

    /// The code, e.g. `H501`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BelfioreCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `code` is an upper-case letter and three digits other than `000`.
pub(super) fn is_belfiore(code: &str) -> bool {
    match code.as_bytes() {
        [letter, digits @ ..] if digits.len() == 3 => {
            letter.is_ascii_uppercase() && digits.iter().all(u8::is_ascii_digit) && digits != b"000"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: Result<&str, BelfioreCodeError>) {
        let actual = BelfioreCode::parse(input);
        assert_eq!(
            actual.as_ref().map(BelfioreCode::as_str),
            expected.as_ref().copied()
        );
    }

    #[test]
    fn parses_letter_and_three_digits() {
        check("H501", Ok("H501"));
        check(" f205 ", Ok("F205"));
        check("Z404", Ok("Z404"));
        check("H50", Err(BelfioreCodeError::Format));
        check("H5011", Err(BelfioreCodeError::Format));
        check("1501", Err(BelfioreCodeError::Format));
        check("H5O1", Err(BelfioreCodeError::Format));
        check("A000", Err(BelfioreCodeError::Format));
        check("È501", Err(BelfioreCodeError::Format));
        check("", Err(BelfioreCodeError::Format));
    }
}
