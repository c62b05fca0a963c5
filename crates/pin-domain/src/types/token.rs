//! Single-use secrets other than PINs: opaque tokens for links (recovery, revocation) and
//! six-digit codes that prove a contact. Like PINs, they print as `<redacted>`.

use std::fmt;

use rand_core::CryptoRng;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::pin::random_secret;

/// Why a text is not a token or a verification code. It never carries the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token must be 64 hexadecimal characters")]
    OpaqueToken,
    #[error("verification code must be 6 digits")]
    VerificationCode,
}

impl TokenError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::OpaqueToken => "TOKEN_FORMAT",
            Self::VerificationCode => "CODE_FORMAT",
        }
    }
}

/// 32 random bytes (256 bits), written as 64 lower-case hexadecimal characters. Hex rather
/// than base64 because it survives any mail client, URL and case-folding form unchanged.
#[derive(Clone)]
pub struct OpaqueToken(SecretString);

impl OpaqueToken {
    const BYTES: usize = 32;
    const CHARS: usize = 2 * Self::BYTES;

    /// Draws a new token.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut bytes = Zeroizing::new([0u8; Self::BYTES]);
        rng.fill_bytes(bytes.as_mut_slice());
        let mut hex = String::with_capacity(Self::CHARS);
        for byte in bytes.iter() {
            hex.push(hex_digit(byte >> 4));
            hex.push(hex_digit(byte & 0x0f));
        }
        Self(SecretString::from(hex))
    }

    /// Parses a token from a link: 64 hexadecimal characters, trimmed, in either case.
    pub fn parse(input: &str) -> Result<Self, TokenError> {
        let input = input.trim();
        if input.len() != Self::CHARS || !input.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::OpaqueToken);
        }
        let mut canonical = String::with_capacity(Self::CHARS);
        canonical.extend(input.chars().map(|c| c.to_ascii_lowercase()));
        Ok(Self(SecretString::from(canonical)))
    }

    /// The 64 lower-case hexadecimal characters, for hashing or for a link.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// A six-digit code sent to a contact to prove that the holder receives it.
#[derive(Clone)]
pub struct VerificationCode(SecretString);

impl VerificationCode {
    const DIGITS: usize = 6;

    /// Draws a new code, uniformly among the million from 000000 to 999999.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        Self(random_secret(rng, b"0123456789", Self::DIGITS))
    }

    /// Parses a code as typed: 6 digits, trimmed.
    pub fn parse(input: &str) -> Result<Self, TokenError> {
        let input = input.trim();
        if input.len() != Self::DIGITS || !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenError::VerificationCode);
        }
        let mut code = String::with_capacity(Self::DIGITS);
        code.push_str(input);
        Ok(Self(SecretString::from(code)))
    }

    /// The six digits, for hashing or for the message that carries them.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    #[track_caller]
    fn check_token(input: &str, expected: Result<&str, TokenError>) {
        let actual = OpaqueToken::parse(input);
        assert_eq!(
            actual.as_ref().map(OpaqueToken::expose_secret),
            expected.as_ref().copied(),
            "input {input:?}"
        );
    }

    #[track_caller]
    fn check_code(input: &str, expected: Result<&str, TokenError>) {
        let actual = VerificationCode::parse(input);
        assert_eq!(
            actual.as_ref().map(VerificationCode::expose_secret),
            expected.as_ref().copied(),
            "input {input:?}"
        );
    }

    #[test]
    fn tokens_are_64_hex_characters() {
        let hex = "0123456789abcdef".repeat(4);
        check_token(&hex, Ok(&hex));
        check_token(&format!(" {} ", hex.to_ascii_uppercase()), Ok(&hex));
        check_token(&hex[..63], Err(TokenError::OpaqueToken));
        check_token(&format!("{hex}0"), Err(TokenError::OpaqueToken));
        check_token(&format!("{}g", &hex[..63]), Err(TokenError::OpaqueToken));
        check_token("", Err(TokenError::OpaqueToken));
    }

    #[test]
    fn codes_are_six_digits() {
        check_code("012345", Ok("012345"));
        check_code(" 999999 ", Ok("999999"));
        check_code("12345", Err(TokenError::VerificationCode));
        check_code("1234567", Err(TokenError::VerificationCode));
        check_code("12345a", Err(TokenError::VerificationCode));
        check_code("١٢٣٤٥٦", Err(TokenError::VerificationCode));
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let token = OpaqueToken::generate(&mut rng);
        let code = VerificationCode::generate(&mut rng);
        assert_eq!(format!("{token:?}"), "OpaqueToken(<redacted>)");
        assert_eq!(format!("{code:?}"), "VerificationCode(<redacted>)");
    }

    #[test]
    fn generated_secrets_differ() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let first = OpaqueToken::generate(&mut rng);
        let second = OpaqueToken::generate(&mut rng);
        assert_ne!(first.expose_secret(), second.expose_secret());
    }

    proptest! {
        #[test]
        fn generated_secrets_parse_back(seed in any::<u64>()) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let token = OpaqueToken::generate(&mut rng);
            let parsed = OpaqueToken::parse(token.expose_secret()).unwrap();
            prop_assert_eq!(parsed.expose_secret(), token.expose_secret());
            let code = VerificationCode::generate(&mut rng);
            let parsed = VerificationCode::parse(code.expose_secret()).unwrap();
            prop_assert_eq!(parsed.expose_secret(), code.expose_secret());
        }
    }
}
