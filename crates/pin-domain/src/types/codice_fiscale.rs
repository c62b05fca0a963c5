//! The codice fiscale (CF), the Italian tax code that keys every person in the registry.
//!
//! Layout, by position: 1-3 family name, 4-6 given name, 7-8 year, 9 month letter, 10-11 day
//! (plus 40 for women), 12-15 birth place (Belfiore code), 16 check character. When two people
//! would get the same code, the tax agency replaces digits from the right with the letters
//! L M N P Q R S T U V (*omocodia*); the check character is computed over the letters as written.

use std::fmt;

use time::{Date, Month};

use super::belfiore::{BelfioreCode, is_belfiore};
use super::text::fold_upper;
use super::{PersonName, Sex};

const LENGTH: usize = 16;
/// Zero-based positions of the digits that omocodia may replace with letters.
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
/// The letters that stand for 0 to 9 under omocodia.
const OMOCODIA_LETTERS: &[u8; 10] = b"LMNPQRSTUV";
const MONTH_LETTERS: &[u8; 12] = b"ABCDEHLMPRST";
const MONTHS: [Month; 12] = [
    Month::January,
    Month::February,
    Month::March,
    Month::April,
    Month::May,
    Month::June,
    Month::July,
    Month::August,
    Month::September,
    Month::October,
    Month::November,
    Month::December,
];
/// Values of 0-9 and A-Z in odd positions (1st, 3rd, ...); even positions use 0-9 and 0-25.
const ODD_VALUES: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];
/// Women's day of birth is written with 40 added.
const FEMALE_DAY_OFFSET: u8 = 40;

/// A valid codice fiscale, held in its one canonical form: 16 ASCII upper-case characters,
/// omocodia letters kept as written (they are part of the person's identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodiceFiscale(String);

/// Why a text is not a valid codice fiscale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodiceFiscaleError {
    #[error("codice fiscale must have 16 characters, not {found}")]
    Length { found: usize },
    #[error("character {position} must be {}", expected_at(*.position))]
    Character { position: usize },
    #[error("month letter {found} is not one of A B C D E H L M P R S T")]
    Month { found: char },
    #[error("day {found} is not a day of birth: 01-31 for men, 41-71 for women")]
    Day { found: u8 },
    #[error("birth date does not exist: day {day} of month {month} of year ..{year:02}")]
    CalendarDate { day: u8, month: u8, year: u8 },
    #[error("check character is wrong: expected {expected}")]
    CheckCharacter { expected: char },
    #[error("birth place is not a belfiore code: 000 is no place")]
    BirthPlace,
}

impl CodiceFiscaleError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Length { .. } => "LENGTH",
            Self::Character { .. } => "CHARACTER",
            Self::Month { .. } => "MONTH",
            Self::Day { .. } => "DAY",
            Self::CalendarDate { .. } => "CALENDAR_DATE",
            Self::CheckCharacter { .. } => "CHECK_CHARACTER",
            Self::BirthPlace => "BIRTH_PLACE",
        }
    }
}

fn expected_at(position: usize) -> &'static str {
    if DIGIT_POSITIONS.contains(&position.wrapping_sub(1)) {
        "a digit or one of the omocodia letters L M N P Q R S T U V"
    } else {
        "a letter"
    }
}

/// Where a codice fiscale disagrees with the personal data given with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CfDisagreement {
    #[error("codice fiscale does not agree with the family name")]
    FamilyName,
    #[error("codice fiscale does not agree with the given name")]
    GivenName,
    #[error("codice fiscale does not agree with the sex")]
    Sex,
    #[error("codice fiscale does not agree with the birth date")]
    BirthDate,
}

impl CfDisagreement {
    /// The request field that disagrees with the codice fiscale.
    pub fn field(&self) -> &'static str {
        match self {
            Self::FamilyName => "family_name",
            Self::GivenName => "given_name",
            Self::Sex => "sex",
            Self::BirthDate => "birth_date",
        }
    }

    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        "CODICE_FISCALE_DISAGREES"
    }
}

impl CodiceFiscale {
    /// Parses a codice fiscale: trims it, accepts lower case and checks its structure, its
    /// birth date and its check character.
    pub fn parse(input: &str) -> Result<Self, CodiceFiscaleError> {
        let code = input.trim().to_ascii_uppercase();
        let found = code.chars().count();
        if found != LENGTH {
            return Err(CodiceFiscaleError::Length { found });
        }
        for (index, c) in code.chars().enumerate() {
            let allowed = if DIGIT_POSITIONS.contains(&index) {
                c.is_ascii_digit() || (c.is_ascii() && OMOCODIA_LETTERS.contains(&(c as u8)))
            } else {
                c.is_ascii_uppercase()
            };
            if !allowed {
                return Err(CodiceFiscaleError::Character {
                    position: index + 1,
                });
            }
        }
        // From here on every character is ASCII, so byte positions are character positions.
        let bytes = code.as_bytes();
        let month = month_from_letter(bytes[8]).ok_or(CodiceFiscaleError::Month {
            found: char::from(bytes[8]),
        })?;
        let day = match decoded_number(&bytes[9..11]) {
            day @ 1..=31 => day,
            day @ 41..=71 => day - FEMALE_DAY_OFFSET,
            found => return Err(CodiceFiscaleError::Day { found }),
        };
        // The century is not written, so 2000 + yy only decides leap years: every year whose
        // two digits are divisible by 4 may have had a 29 February (2000 was a leap year).
        let year = decoded_number(&bytes[6..8]);
        if day > time::util::days_in_month(month, 2000 + i32::from(year)) {
            return Err(CodiceFiscaleError::CalendarDate {
                day,
                month: u8::from(month),
                year,
            });
        }
        if !is_belfiore(&decoded_place(bytes)) {
            return Err(CodiceFiscaleError::BirthPlace);
        }
        let expected = check_character(&bytes[..15]);
        if bytes[15] != expected {
            return Err(CodiceFiscaleError::CheckCharacter {
                expected: char::from(expected),
            });
        }
        Ok(Self(code))
    }

    /// Computes the (non-omocode) codice fiscale of a person. The tax agency assigns
    /// omocodes itself, so a computed code can differ from the real one of a person who has
    /// a namesake born the same day in the same place: compare with [`Self::agrees_with`].
    pub fn from_personal_data(
        family_name: &PersonName,
        given_name: &PersonName,
        sex: Sex,
        birth_date: Date,
        birth_place: &BelfioreCode,
    ) -> Self {
        let offset = match sex {
            Sex::Female => FEMALE_DAY_OFFSET,
            Sex::Male => 0,
        };
        let mut code: String = family_name_code(family_name.as_str())
            .into_iter()
            .chain(given_name_code(given_name.as_str()))
            .map(char::from)
            .collect();
        code.push_str(&format!(
            "{:02}{}{:02}{}",
            birth_date.year().rem_euclid(100),
            char::from(MONTH_LETTERS[usize::from(u8::from(birth_date.month())) - 1]),
            birth_date.day() + offset,
            birth_place.as_str(),
        ));
        code.push(char::from(check_character(code.as_bytes())));
        Self(code)
    }

    /// The canonical form: 16 upper-case characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The sex written in the code (day of birth above 40 for women).
    pub fn sex(&self) -> Sex {
        if self.day_field() > FEMALE_DAY_OFFSET {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    /// Day and month of birth.
    pub fn birth_day_month(&self) -> (u8, Month) {
        let day = self.day_field();
        let day = if day > FEMALE_DAY_OFFSET {
            day - FEMALE_DAY_OFFSET
        } else {
            day
        };
        let month = month_from_letter(self.0.as_bytes()[8]).unwrap_or(Month::January);
        (day, month)
    }

    /// The last two digits of the year of birth; the century is not written.
    pub fn birth_year_two_digits(&self) -> u8 {
        decoded_number(&self.0.as_bytes()[6..8])
    }

    /// The birth place, with omocodia letters decoded back to digits.
    pub fn birth_place(&self) -> BelfioreCode {
        BelfioreCode::from_checked(decoded_place(self.0.as_bytes()))
    }

    /// Whether some digits were replaced by omocodia letters.
    pub fn is_omocode(&self) -> bool {
        let bytes = self.0.as_bytes();
        DIGIT_POSITIONS
            .iter()
            .any(|&index| bytes[index].is_ascii_uppercase())
    }

    /// Whether `date` has the day, month and two-digit year written in the code.
    pub fn birth_date_matches(&self, date: Date) -> bool {
        let (day, month) = self.birth_day_month();
        date.day() == day
            && date.month() == month
            && date.year().rem_euclid(100) == i32::from(self.birth_year_two_digits())
    }

    /// Checks the code against a person's data: the name codes, the sex and the birth date.
    /// The birth place is not compared, because a request may not carry it.
    pub fn agrees_with(
        &self,
        family_name: &PersonName,
        given_name: &PersonName,
        sex: Sex,
        birth_date: Date,
    ) -> Result<(), Vec<CfDisagreement>> {
        let bytes = self.0.as_bytes();
        let mut disagreements = Vec::new();
        if bytes[0..3] != family_name_code(family_name.as_str()) {
            disagreements.push(CfDisagreement::FamilyName);
        }
        if bytes[3..6] != given_name_code(given_name.as_str()) {
            disagreements.push(CfDisagreement::GivenName);
        }
        if self.sex() != sex {
            disagreements.push(CfDisagreement::Sex);
        }
        if !self.birth_date_matches(birth_date) {
            disagreements.push(CfDisagreement::BirthDate);
        }
        if disagreements.is_empty() {
            Ok(())
        } else {
            Err(disagreements)
        }
    }

    fn day_field(&self) -> u8 {
        decoded_number(&self.0.as_bytes()[9..11])
    }
}

impl fmt::Display for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn month_from_letter(letter: u8) -> Option<Month> {
    let index = MONTH_LETTERS.iter().position(|&l| l == letter)?;
    MONTHS.get(index).copied()
}

/// The value of a digit that may have been replaced by an omocodia letter.
fn decoded_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => OMOCODIA_LETTERS
            .iter()
            .position(|&l| l == c)
            .map_or(0, |digit| digit as u8),
    }
}

fn decoded_number(digits: &[u8]) -> u8 {
    digits
        .iter()
        .fold(0, |number, &c| number * 10 + decoded_digit(c))
}

/// Positions 12-15, with omocodia letters decoded back to digits.
fn decoded_place(bytes: &[u8]) -> String {
    let letter = char::from(bytes[11]);
    let digits = bytes[12..15]
        .iter()
        .map(|&c| char::from(b'0' + decoded_digit(c)));
    std::iter::once(letter).chain(digits).collect()
}

/// The check character of the first 15 characters (upper-case ASCII letters and digits).
fn check_character(first_fifteen: &[u8]) -> u8 {
    let sum: u32 = first_fifteen
        .iter()
        .enumerate()
        .map(|(index, &c)| {
            let value = if c.is_ascii_digit() {
                c - b'0'
            } else {
                c - b'A'
            };
            // Index 0 is the 1st character, an odd position.
            let value = if index % 2 == 0 {
                ODD_VALUES[usize::from(value)]
            } else {
                value
            };
            u32::from(value)
        })
        .sum();
    b'A' + (sum % 26) as u8
}

/// The letters of a name, folded to ASCII upper case, split into consonants and vowels.
fn consonants_and_vowels(name: &str) -> (Vec<u8>, Vec<u8>) {
    fold_upper(name)
        .bytes()
        .filter(u8::is_ascii_uppercase)
        .partition(|c| !matches!(c, b'A' | b'E' | b'I' | b'O' | b'U'))
}

/// Consonants, then vowels, then X, the first three.
fn padded_code(consonants: &[u8], vowels: &[u8]) -> [u8; 3] {
    let mut code = [b'X'; 3];
    for (slot, &letter) in code.iter_mut().zip(consonants.iter().chain(vowels)) {
        *slot = letter;
    }
    code
}

fn family_name_code(name: &str) -> [u8; 3] {
    let (consonants, vowels) = consonants_and_vowels(name);
    padded_code(&consonants, &vowels)
}

/// Like the family name, except that a given name with four or more consonants skips the
/// second one (Francesco is FNC, not FRN).
fn given_name_code(name: &str) -> [u8; 3] {
    let (consonants, vowels) = consonants_and_vowels(name);
    match consonants.as_slice() {
        [first, _, third, fourth, ..] => [*first, *third, *fourth],
        _ => padded_code(&consonants, &vowels),
    }
}

#[cfg(test)]
mod tests;
