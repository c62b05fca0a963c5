//! PINs: the 16-character initial PIN made of two halves, and the 8-character PIN a citizen
//! uses after first access. A PIN is a secret: it lives in a [`SecretString`], prints as
//! `<redacted>` and is read only through `expose_secret`, for hashing.

use std::fmt;

use rand_core::CryptoRng;
use secrecy::{ExposeSecret, SecretString};

/// The characters of a PIN: upper-case letters and digits without look-alikes (no 0/O and
/// no 1/I/L), so that a PIN read from a letter or an SMS is typed right.
pub const PIN_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Why a text is not a PIN. It never carries the characters typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("pin must have {expected} characters")]
    Length { expected: usize },
    #[error("pin must have 8 or 16 characters")]
    EitherLength,
    #[error(
        "pin character {position} is not allowed: a pin uses letters and digits except 0, O, 1, I and L"
    )]
    Character { position: usize },
}

impl PinError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Length { .. } | Self::EitherLength => "LENGTH",
            Self::Character { .. } => "CHARACTER",
        }
    }
}

macro_rules! pin_type {
    ($(#[$doc:meta])* $name:ident, $length:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// The number of characters.
            pub const LENGTH: usize = $length;

            /// Parses a PIN as typed: trimmed, in either case.
            pub fn parse(input: &str) -> Result<Self, PinError> {
                parse_secret(input, Self::LENGTH).map(Self)
            }

            /// Draws a new PIN, each character uniformly from [`PIN_ALPHABET`].
            pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
                Self(random_secret(rng, PIN_ALPHABET, Self::LENGTH))
            }

            /// The PIN in upper case, for hashing or for a delivery to the holder.
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

pin_type!(
    /// The 8-character PIN a citizen uses after first access.
    Pin8,
    8
);
pin_type!(
    /// The 16-character initial PIN, which is sent as two halves by different channels.
    Pin16,
    16
);
pin_type!(
    /// One half of an initial PIN: 8 characters.
    PinHalf,
    8
);

impl Pin16 {
    /// Joins the two halves of an initial PIN.
    pub fn from_halves(first: &PinHalf, second: &PinHalf) -> Pin16 {
        let mut joined = String::with_capacity(Self::LENGTH);
        joined.push_str(first.expose_secret());
        joined.push_str(second.expose_secret());
        Pin16(SecretString::from(joined))
    }

    /// The first 8 characters.
    pub fn first_half(&self) -> PinHalf {
        PinHalf(secret_copy(&self.expose_secret()[..PinHalf::LENGTH]))
    }

    /// The last 8 characters.
    pub fn second_half(&self) -> PinHalf {
        PinHalf(secret_copy(&self.expose_secret()[PinHalf::LENGTH..]))
    }
}

/// A PIN typed at login: the 8-character PIN, or the 16-character initial PIN at first access.
#[derive(Debug, Clone)]
pub enum Pin {
    Short(Pin8),
    Initial(Pin16),
}

impl Pin {
    /// Parses a PIN of either length, trimmed and in either case.
    pub fn parse(input: &str) -> Result<Self, PinError> {
        match input.trim().chars().count() {
            Pin8::LENGTH => Pin8::parse(input).map(Self::Short),
            Pin16::LENGTH => Pin16::parse(input).map(Self::Initial),
            _ => Err(PinError::EitherLength),
        }
    }

    /// The PIN in upper case, for hashing.
    pub fn expose_secret(&self) -> &str {
        match self {
            Self::Short(pin) => pin.expose_secret(),
            Self::Initial(pin) => pin.expose_secret(),
        }
    }
}

/// Checks and upper-cases a typed PIN. The canonical string is built in a buffer of exactly
/// its final size, so that turning it into a `SecretString` (a boxed `str`) does not
/// reallocate and leave an unzeroed copy behind.
fn parse_secret(input: &str, expected: usize) -> Result<SecretString, PinError> {
    let input = input.trim();
    if input.chars().count() != expected {
        return Err(PinError::Length { expected });
    }
    let mut canonical = zeroize::Zeroizing::new(String::with_capacity(expected));
    for (index, c) in input.chars().enumerate() {
        let upper = c.to_ascii_uppercase();
        if !(upper.is_ascii() && PIN_ALPHABET.contains(&(upper as u8))) {
            return Err(PinError::Character {
                position: index + 1,
            });
        }
        canonical.push(upper);
    }
    Ok(SecretString::from(std::mem::take(&mut *canonical)))
}

/// A `SecretString` copy of `secret`, allocated at its exact size (see [`parse_secret`]).
fn secret_copy(secret: &str) -> SecretString {
    let mut copy = String::with_capacity(secret.len());
    copy.push_str(secret);
    SecretString::from(copy)
}

/// A secret of `length` characters drawn uniformly and independently from `alphabet`
/// (ASCII, fewer than 2^32 characters).
pub(super) fn random_secret(
    rng: &mut (impl CryptoRng + ?Sized),
    alphabet: &[u8],
    length: usize,
) -> SecretString {
    let mut secret = String::with_capacity(length);
    let size = alphabet.len() as u32;
    for _ in 0..length {
        secret.push(char::from(alphabet[uniform_below(rng, size) as usize]));
    }
    SecretString::from(secret)
}

/// A number drawn uniformly from `0..bound` by rejection sampling: draws at or above the
/// largest multiple of `bound` that fits in a `u32` are thrown away, so that `% bound` gives
/// every residue the same chance (plain `% 31` would favour the first characters).
fn uniform_below(rng: &mut (impl CryptoRng + ?Sized), bound: u32) -> u32 {
    let zone = u32::MAX - u32::MAX % bound;
    loop {
        let draw = rng.next_u32();
        if draw < zone {
            return draw % bound;
        }
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
    fn check(input: &str, expected: Result<&str, PinError>) {
        let actual = Pin8::parse(input);
        assert_eq!(
            actual.as_ref().map(Pin8::expose_secret),
            expected.as_ref().copied(),
            "input {input:?}"
        );
    }

    #[test]
    fn pins_parse_case_insensitively() {
        check("ABCD2345", Ok("ABCD2345"));
        check("abcd2345", Ok("ABCD2345"));
        check("  aBcD2345 ", Ok("ABCD2345"));
        check("ZZZZ9999", Ok("ZZZZ9999"));
    }

    #[test]
    fn pins_reject_look_alikes_and_wrong_lengths() {
        check("ABCD0345", Err(PinError::Character { position: 5 }));
        check("OBCD2345", Err(PinError::Character { position: 1 }));
        check("ABCD2341", Err(PinError::Character { position: 8 }));
        check("ABiD2345", Err(PinError::Character { position: 3 }));
        check("ABCL2345", Err(PinError::Character { position: 4 }));
        check("ABCl2345", Err(PinError::Character { position: 4 }));
        check("ABC-2345", Err(PinError::Character { position: 4 }));
        check("ABCÉ2345", Err(PinError::Character { position: 4 }));
        check("ABCD234", Err(PinError::Length { expected: 8 }));
        check("ABCD23456", Err(PinError::Length { expected: 8 }));
        check("", Err(PinError::Length { expected: 8 }));
        let error = PinHalf::parse("ABCD0345").unwrap_err();
        assert!(!error.to_string().contains("ABCD"), "{error}");
    }

    #[test]
    fn login_pins_have_either_length() {
        assert!(matches!(Pin::parse("abcd2345"), Ok(Pin::Short(_))));
        assert!(matches!(
            Pin::parse("ABCD2345EFGH6789"),
            Ok(Pin::Initial(_))
        ));
        assert_eq!(
            Pin::parse("ABCD2345EFGH6789").unwrap().expose_secret(),
            "ABCD2345EFGH6789"
        );
        assert_eq!(Pin::parse("ABCD2345E").unwrap_err(), PinError::EitherLength);
        assert_eq!(
            Pin::parse("ABCD2345EFGH678O").unwrap_err(),
            PinError::Character { position: 16 }
        );
    }

    #[test]
    fn halves_join_and_split() {
        let first = PinHalf::parse("ABCD2345").unwrap();
        let second = PinHalf::parse("efgh6789").unwrap();
        let pin = Pin16::from_halves(&first, &second);
        assert_eq!(pin.expose_secret(), "ABCD2345EFGH6789");
        assert_eq!(pin.first_half().expose_secret(), "ABCD2345");
        assert_eq!(pin.second_half().expose_secret(), "EFGH6789");
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let pin = Pin16::parse("ABCD2345EFGH6789").unwrap();
        assert_eq!(format!("{pin:?}"), "Pin16(<redacted>)");
        assert_eq!(
            format!("{:?}", Pin8::parse("ABCD2345").unwrap()),
            "Pin8(<redacted>)"
        );
        assert_eq!(format!("{:?}", pin.first_half()), "PinHalf(<redacted>)");
        assert_eq!(
            format!("{:?}", Pin::Initial(pin)),
            "Initial(Pin16(<redacted>))"
        );
    }

    #[test]
    fn generated_pins_use_only_the_alphabet_and_all_of_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut seen = [false; 256];
        for _ in 0..200 {
            let pin = Pin16::generate(&mut rng);
            assert_eq!(pin.expose_secret().len(), 16);
            for b in pin.expose_secret().bytes() {
                assert!(PIN_ALPHABET.contains(&b), "{b}");
                seen[usize::from(b)] = true;
            }
        }
        assert!(PIN_ALPHABET.iter().all(|&b| seen[usize::from(b)]));
        assert_eq!(Pin8::generate(&mut rng).expose_secret().len(), 8);
        assert_eq!(PinHalf::generate(&mut rng).expose_secret().len(), 8);
    }

    #[test]
    fn the_alphabet_has_no_look_alikes() {
        assert_eq!(PIN_ALPHABET.len(), 31);
        for look_alike in b"0O1IL" {
            assert!(!PIN_ALPHABET.contains(look_alike));
        }
    }

    #[test]
    fn uniform_below_is_not_biased() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut counts = [0u32; 31];
        for _ in 0..310_000 {
            counts[uniform_below(&mut rng, 31) as usize] += 1;
        }
        // Each count is about 10 000 with a standard deviation near 100.
        assert!(
            counts
                .iter()
                .all(|&count| (9_500..=10_500).contains(&count)),
            "{counts:?}"
        );
    }

    proptest! {
        #[test]
        fn generated_pins_parse_back(seed in any::<u64>()) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let pin = Pin8::generate(&mut rng);
            let parsed = Pin8::parse(pin.expose_secret()).unwrap();
            prop_assert_eq!(parsed.expose_secret(), pin.expose_secret());
            let initial = Pin16::generate(&mut rng);
            let typed = initial.expose_secret().to_ascii_lowercase();
            let parsed = Pin::parse(&typed).unwrap();
            prop_assert_eq!(parsed.expose_secret(), initial.expose_secret());
            let half = PinHalf::generate(&mut rng);
            let parsed = PinHalf::parse(half.expose_secret()).unwrap();
            prop_assert_eq!(parsed.expose_secret(), half.expose_secret());
        }
    }
}
