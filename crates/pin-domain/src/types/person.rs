//! A person's data as the registry holds it: names, sex, categories and the health card.

use std::fmt;

use super::text::{collapse_whitespace, is_latin_letter};

/// A family or given name: 1 to 100 characters of Latin letters (accented ones included),
/// spaces, apostrophes, hyphens and dots, with inner whitespace collapsed. The case is kept
/// as given, because names are printed on letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

/// Why a text is not a person's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    #[error("name is empty")]
    Empty,
    #[error("name is too long: at most {max} characters")]
    TooLong { max: usize },
    #[error(
        "{character:?} is not allowed in a name: use letters, spaces, apostrophes, hyphens and dots"
    )]
    Character { character: char },
    #[error("name must contain at least one letter")]
    NoLetter,
}

impl PersonNameError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "EMPTY",
            Self::TooLong { .. } => "TOO_LONG",
            Self::Character { .. } => "CHARACTER",
            Self::NoLetter => "NO_LETTER",
        }
    }
}

impl PersonName {
    const MAX_CHARS: usize = 100;

    /// Parses a name, trimming it and collapsing inner whitespace.
    pub fn parse(input: &str) -> Result<Self, PersonNameError> {
        let name = collapse_whitespace(input);
        if name.is_empty() {
            return Err(PersonNameError::Empty);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(PersonNameError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        if let Some(character) = name
            .chars()
            .find(|&c| !(is_latin_letter(c) || matches!(c, ' ' | '\'' | '’' | '-' | '.')))
        {
            return Err(PersonNameError::Character { character });
        }
        if !name.chars().any(is_latin_letter) {
            return Err(PersonNameError::NoLetter);
        }
        Ok(Self(name))
    }

    /// The name as given, trimmed and with single spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sex as written in the registry and encoded in the codice fiscale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Female,
    Male,
}

/// Why a text is not a sex code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SexError {
    #[error("sex must be F or M")]
    Unknown,
}

impl SexError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unknown => "SEX",
        }
    }
}

impl Sex {
    /// Parses `F` or `M`, in either case.
    pub fn parse(input: &str) -> Result<Self, SexError> {
        match input.trim() {
            "F" | "f" => Ok(Self::Female),
            "M" | "m" => Ok(Self::Male),
            _ => Err(SexError::Unknown),
        }
    }

    /// `F` or `M`.
    pub fn as_code(self) -> char {
        match self {
            Self::Female => 'F',
            Self::Male => 'M',
        }
    }
}

/// The institute's categories of people, which decide the services a PIN gives access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Pensioner,
    /// Gestione Privata.
    PrivateSectorWorker,
    /// Gestione Dipendenti Pubblici, formerly INPDAP.
    PublicSectorEmployee,
    SelfEmployed,
    /// Patronati, CAF and professionals acting for citizens.
    Intermediary,
}

/// Why a text is not a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CategoryError {
    #[error(
        "unknown category: expected PENSIONER, PRIVATE_SECTOR_WORKER, PUBLIC_SECTOR_EMPLOYEE, SELF_EMPLOYED or INTERMEDIARY"
    )]
    Unknown,
}

impl CategoryError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unknown => "CATEGORY",
        }
    }
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 5] = [
        Self::Pensioner,
        Self::PrivateSectorWorker,
        Self::PublicSectorEmployee,
        Self::SelfEmployed,
        Self::Intermediary,
    ];

    /// Parses a SCREAMING_SNAKE name such as `PENSIONER`, in any case.
    pub fn parse(input: &str) -> Result<Self, CategoryError> {
        let input = input.trim();
        Self::ALL
            .into_iter()
            .find(|category| category.as_str().eq_ignore_ascii_case(input))
            .ok_or(CategoryError::Unknown)
    }

    /// The SCREAMING_SNAKE name, e.g. `PRIVATE_SECTOR_WORKER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pensioner => "PENSIONER",
            Self::PrivateSectorWorker => "PRIVATE_SECTOR_WORKER",
            Self::PublicSectorEmployee => "PUBLIC_SECTOR_EMPLOYEE",
            Self::SelfEmployed => "SELF_EMPLOYED",
            Self::Intermediary => "INTERMEDIARY",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The number of a health card (tessera sanitaria): 20 digits. It is one of the facts that
/// prove who a citizen is (campaign activation, online revocation), so `Debug` shows only its
/// last four digits and it has no `Display`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HealthCardNumber(String);

/// Why a text is not a health card number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HealthCardNumberError {
    #[error("health card number must have exactly 20 digits")]
    Format,
}

impl HealthCardNumberError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Format => "HEALTH_CARD_NUMBER",
        }
    }
}

impl HealthCardNumber {
    const DIGITS: usize = 20;

    /// Parses 20 digits, ignoring the spaces printed on the card between groups.
    pub fn parse(input: &str) -> Result<Self, HealthCardNumberError> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == Self::DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(HealthCardNumberError::Format)
        }
    }

    /// The 20 digits without spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HealthCardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last_four = self.0.get(Self::DIGITS - 4..).unwrap_or_default();
        write!(f, "HealthCardNumber(****************{last_four})")
    }
}

/// A health card as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCard {
    pub number: HealthCardNumber,
    pub expiry: time::Date,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_name(input: &str, expected: Result<&str, PersonNameError>) {
        let actual = PersonName::parse(input);
        assert_eq!(
            actual.as_ref().map(PersonName::as_str),
            expected.as_ref().copied()
        );
    }

    #[test]
    fn names_keep_case_and_collapse_whitespace() {
        check_name("Rossi", Ok("Rossi"));
        check_name("  De   Luca ", Ok("De Luca"));
        check_name("D'Annunzio", Ok("D'Annunzio"));
        check_name("D’Annunzio", Ok("D’Annunzio"));
        check_name("Nicolò", Ok("Nicolò"));
        check_name("Rossi-Bianchi", Ok("Rossi-Bianchi"));
        check_name("Maria Gr. Teresa", Ok("Maria Gr. Teresa"));
        check_name("FO", Ok("FO"));
        check_name(&"A".repeat(100), Ok(&"A".repeat(100)));
    }

    #[test]
    fn names_reject_what_is_not_a_name() {
        check_name("", Err(PersonNameError::Empty));
        check_name("   ", Err(PersonNameError::Empty));
        check_name(&"A".repeat(101), Err(PersonNameError::TooLong { max: 100 }));
        check_name("R2D2", Err(PersonNameError::Character { character: '2' }));
        check_name("a@b", Err(PersonNameError::Character { character: '@' }));
        check_name("Иван", Err(PersonNameError::Character { character: 'И' }));
        check_name("' - .", Err(PersonNameError::NoLetter));
    }

    #[test]
    fn sex_parses_either_case() {
        assert_eq!(Sex::parse("F"), Ok(Sex::Female));
        assert_eq!(Sex::parse("m"), Ok(Sex::Male));
        assert_eq!(Sex::parse(" f "), Ok(Sex::Female));
        assert_eq!(Sex::parse("X"), Err(SexError::Unknown));
        assert_eq!(Sex::parse("Male"), Err(SexError::Unknown));
        assert_eq!(Sex::Female.as_code(), 'F');
        assert_eq!(Sex::Male.as_code(), 'M');
    }

    #[test]
    fn categories_round_trip_and_ignore_case() {
        for category in Category::ALL {
            assert_eq!(Category::parse(category.as_str()), Ok(category));
        }
        assert_eq!(Category::parse("pensioner"), Ok(Category::Pensioner));
        assert_eq!(Category::parse("Self_Employed"), Ok(Category::SelfEmployed));
        assert_eq!(Category::parse("PENSIONERS"), Err(CategoryError::Unknown));
        assert_eq!(Category::parse(""), Err(CategoryError::Unknown));
    }

    #[test]
    fn health_card_numbers_are_twenty_digits() {
        let number = HealthCardNumber::parse("80380 00000 12345 67890");
        assert_eq!(
            number.as_ref().map(HealthCardNumber::as_str),
            Ok("80380000001234567890")
        );
        let too_short = HealthCardNumber::parse("8038000000123456789");
        assert_eq!(too_short, Err(HealthCardNumberError::Format));
        let letter = HealthCardNumber::parse("8038000000123456789A");
        assert_eq!(letter, Err(HealthCardNumberError::Format));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn health_card_debug_shows_only_the_last_four_digits() {
        let number = HealthCardNumber::parse("80380000001234567890").unwrap();
        let debug = format!("{number:?}");
        assert!(!debug.contains("8038000000123456"), "{debug}");
        assert!(debug.ends_with("7890)"), "{debug}");
    }
}
