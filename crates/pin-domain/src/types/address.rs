//! A residence address, and the normalised form used to compare what a citizen typed with
//! what the registry holds.

use std::fmt;

use super::text::{collapse_whitespace, fold_upper};

/// A postal address in Italy. Text parts are trimmed with inner whitespace collapsed; the
/// province is upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostalAddress {
    street: String,
    number: String,
    cap: String,
    municipality: String,
    province: String,
}

/// Which part of an address is wrong, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is too long: at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains a control character")]
    Character { field: &'static str },
    #[error("cap must be exactly 5 digits")]
    Cap,
    #[error("province must be 2 letters, like RM")]
    Province,
}

impl AddressError {
    /// The request field that is wrong: `street`, `number`, `cap`, `municipality` or `province`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Empty { field } | Self::TooLong { field, .. } | Self::Character { field } => {
                field
            }
            Self::Cap => "cap",
            Self::Province => "province",
        }
    }

    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty { .. } => "EMPTY",
            Self::TooLong { .. } => "TOO_LONG",
            Self::Character { .. } => "CHARACTER",
            Self::Cap => "CAP",
            Self::Province => "PROVINCE",
        }
    }
}

/// Abbreviations written with dots, expanded before punctuation turns `V.LE` into `V LE`.
const DOTTED: [(&str, &str); 8] = [
    ("V.LE", "VIALE"),
    ("P.ZZA", "PIAZZA"),
    ("P.ZA", "PIAZZA"),
    ("P.LE", "PIAZZALE"),
    ("C.SO", "CORSO"),
    ("L.GO", "LARGO"),
    ("V.LO", "VICOLO"),
    ("LOC.", "LOCALITA"),
];

/// Abbreviations expanded as whole words once punctuation is gone.
const WORDS: [(&str, &str); 9] = [
    ("VLE", "VIALE"),
    ("PZZA", "PIAZZA"),
    ("PZA", "PIAZZA"),
    ("PLE", "PIAZZALE"),
    ("CSO", "CORSO"),
    ("LGO", "LARGO"),
    ("STR", "STRADA"),
    ("LOC", "LOCALITA"),
    ("VLO", "VICOLO"),
];

impl PostalAddress {
    /// Parses the parts of an address: street 1-120 characters, number 1-16, CAP 5 digits,
    /// municipality 1-80, province 2 letters.
    pub fn parse(
        street: &str,
        number: &str,
        cap: &str,
        municipality: &str,
        province: &str,
    ) -> Result<Self, AddressError> {
        let street = text("street", street, 120)?;
        let number = text("number", number, 16)?;
        let cap = cap.trim();
        if cap.len() != 5 || !cap.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AddressError::Cap);
        }
        let municipality = text("municipality", municipality, 80)?;
        let province = province.trim();
        if province.len() != 2 || !province.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(AddressError::Province);
        }
        Ok(Self {
            street,
            number,
            cap: cap.to_owned(),
            municipality,
            province: province.to_ascii_uppercase(),
        })
    }

    pub fn street(&self) -> &str {
        &self.street
    }

    /// The house number (*numero civico*), e.g. `10` or `10/A`.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The postal code (*codice di avviamento postale*).
    pub fn cap(&self) -> &str {
        &self.cap
    }

    pub fn municipality(&self) -> &str {
        &self.municipality
    }

    /// The two-letter province code, e.g. `RM`.
    pub fn province(&self) -> &str {
        &self.province
    }

    /// A normalised form for comparing a typed address with the registry's: upper case,
    /// accents folded, punctuation turned to spaces, usual abbreviations of street types
    /// expanded (`V.le` is `VIALE`), leading zeros dropped from the house number.
    pub fn comparison_key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            street_key(&self.street),
            number_key(&self.number),
            self.cap,
            words(&fold_upper(&self.municipality)).join(" "),
            self.province
        )
    }

    /// Whether the two addresses are the same place once normalised.
    pub fn matches(&self, other: &PostalAddress) -> bool {
        self.comparison_key() == other.comparison_key()
    }
}

impl fmt::Display for PostalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            street,
            number,
            cap,
            municipality,
            province,
        } = self;
        write!(f, "{street} {number}, {cap} {municipality} ({province})")
    }
}

fn text(field: &'static str, input: &str, max: usize) -> Result<String, AddressError> {
    let value = collapse_whitespace(input);
    if value.is_empty() {
        Err(AddressError::Empty { field })
    } else if value.chars().count() > max {
        Err(AddressError::TooLong { field, max })
    } else if value.chars().any(char::is_control) {
        Err(AddressError::Character { field })
    } else {
        Ok(value)
    }
}

/// The alphanumeric runs of an upper-case text: every other character separates words.
fn words(upper: &str) -> Vec<&str> {
    upper
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect()
}

fn street_key(street: &str) -> String {
    let mut expanded = Vec::new();
    for token in fold_upper(street).split_whitespace() {
        let dotted = DOTTED.iter().find_map(|(abbreviation, full)| {
            let rest = token.strip_prefix(abbreviation)?;
            let attached =
                rest.starts_with(|c: char| c.is_alphanumeric()) && !abbreviation.ends_with('.');
            (!attached).then(|| format!("{full} {rest}"))
        });
        expanded.push(dotted.unwrap_or_else(|| token.to_owned()));
    }
    let expanded = expanded.join(" ");
    let key: Vec<&str> = words(&expanded)
        .into_iter()
        .enumerate()
        .map(|(index, word)| match word {
            // A lone V is the street type only in first place: elsewhere it is an initial,
            // as in "Corso V. Emanuele".
            "V" if index == 0 => "VIA",
            _ => WORDS
                .iter()
                .find(|(abbreviation, _)| *abbreviation == word)
                .map_or(word, |(_, full)| full),
        })
        .collect();
    key.join(" ")
}

/// The house number without separators or leading zeros: `01` is `1`, `10/a` is `10A`.
fn number_key(number: &str) -> String {
    let compact: String = fold_upper(number)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let trimmed = compact.trim_start_matches('0');
    if trimmed.is_empty() && !compact.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn address(street: &str, number: &str) -> PostalAddress {
        PostalAddress::parse(street, number, "00187", "Roma", "RM").unwrap()
    }

    #[track_caller]
    fn check_match(typed: (&str, &str), registry: (&str, &str), expected: bool) {
        let typed = address(typed.0, typed.1);
        let registry = address(registry.0, registry.1);
        assert_eq!(
            typed.matches(&registry),
            expected,
            "{} vs {}",
            typed.comparison_key(),
            registry.comparison_key()
        );
    }

    #[test]
    fn the_same_address_written_differently_matches() {
        check_match(("Via G. Verdi", "10"), ("VIA G VERDI", "10"), true);
        check_match(("V.le Europa", "5"), ("Viale Europa", "5"), true);
        check_match(("VLE EUROPA", "5"), ("Viale Europa", "5"), true);
        check_match(("P.zza Duomo", "01"), ("piazza duomo", "1"), true);
        check_match(("P.za Duomo", "1"), ("PZA DUOMO", "1"), true);
        check_match(("C.so Italia", "7"), ("Corso Italia", "7"), true);
        check_match(("L.go Argentina", "3"), ("LARGO ARGENTINA", "3"), true);
        check_match(("Str. del Mare", "3"), ("Strada del Mare", "3"), true);
        check_match(
            ("Loc. Pian di Sco", "2"),
            ("Località Pian di Scò", "2"),
            true,
        );
        check_match(("V. Roma", "1"), ("Via Roma", "1"), true);
        check_match(("V.Roma", "1"), ("Via Roma", "1"), true);
        check_match(
            ("Via  Sant'Angelo", "10/a"),
            ("VIA SANT ANGELO", "10 A"),
            true,
        );
        check_match(("Corso V. Emanuele", "1"), ("CORSO V EMANUELE", "1"), true);
    }

    #[test]
    fn different_addresses_do_not_match() {
        check_match(("Via Roma", "1"), ("Via Roma", "11"), false);
        check_match(("Via Verdi", "10"), ("Viale Verdi", "10"), false);
        check_match(("Corso Italia", "7"), ("Via Italia", "7"), false);
        check_match(("Via Roma", "1"), ("Via Romagna", "1"), false);
        check_match(
            ("Corso V. Emanuele", "1"),
            ("Corso Via Emanuele", "1"),
            false,
        );
        let rome = address("Via Roma", "1");
        let elsewhere = PostalAddress::parse("Via Roma", "1", "20121", "Roma", "RM").unwrap();
        assert!(!rome.matches(&elsewhere));
        let milan = PostalAddress::parse("Via Roma", "1", "00187", "Milano", "RM").unwrap();
        assert!(!rome.matches(&milan));
    }

    #[test]
    fn parse_trims_and_upper_cases_the_province() {
        let parsed =
            PostalAddress::parse("  Via   Roma ", " 1 ", " 00187 ", " Roma ", "rm").unwrap();
        assert_eq!(parsed.street(), "Via Roma");
        assert_eq!(parsed.number(), "1");
        assert_eq!(parsed.cap(), "00187");
        assert_eq!(parsed.municipality(), "Roma");
        assert_eq!(parsed.province(), "RM");
        assert_eq!(parsed.to_string(), "Via Roma 1, 00187 Roma (RM)");
    }

    #[track_caller]
    fn check_error(parts: [&str; 5], field: &str, reason: &str) {
        let [street, number, cap, municipality, province] = parts;
        let error = PostalAddress::parse(street, number, cap, municipality, province).unwrap_err();
        assert_eq!((error.field(), error.reason()), (field, reason), "{error}");
    }

    #[test]
    fn errors_name_the_wrong_part() {
        check_error([" ", "1", "00187", "Roma", "RM"], "street", "EMPTY");
        check_error(
            [&"a".repeat(121), "1", "00187", "Roma", "RM"],
            "street",
            "TOO_LONG",
        );
        check_error(
            ["Via\u{7}Roma", "1", "00187", "Roma", "RM"],
            "street",
            "CHARACTER",
        );
        check_error(["Via Roma", "", "00187", "Roma", "RM"], "number", "EMPTY");
        check_error(
            ["Via Roma", &"1".repeat(17), "00187", "Roma", "RM"],
            "number",
            "TOO_LONG",
        );
        check_error(["Via Roma", "1", "0018", "Roma", "RM"], "cap", "CAP");
        check_error(["Via Roma", "1", "0018A", "Roma", "RM"], "cap", "CAP");
        check_error(
            ["Via Roma", "1", "00187", "", "RM"],
            "municipality",
            "EMPTY",
        );
        check_error(
            ["Via Roma", "1", "00187", &"a".repeat(81), "RM"],
            "municipality",
            "TOO_LONG",
        );
        check_error(
            ["Via Roma", "1", "00187", "Roma", "R"],
            "province",
            "PROVINCE",
        );
        check_error(
            ["Via Roma", "1", "00187", "Roma", "R1"],
            "province",
            "PROVINCE",
        );
        check_error(
            ["Via Roma", "1", "00187", "Roma", "ROM"],
            "province",
            "PROVINCE",
        );
    }
}
