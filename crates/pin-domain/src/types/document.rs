//! What an operator checks at an office counter: an identity document, the signed form
//! MV35 (the request for a dispositive PIN) and the office itself.

use time::Date;

/// The identity documents the institute accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Carta d'identità, paper or electronic.
    IdentityCard,
    /// Passport.
    Passport,
    /// Driving licence.
    DrivingLicence,
}

impl DocumentKind {
    /// The stored upper-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdentityCard => "IDENTITY_CARD",
            DocumentKind::Passport => "PASSPORT",
            DocumentKind::DrivingLicence => "DRIVING_LICENCE",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(stored: &str) -> Option<Self> {
        [Self::IdentityCard, Self::Passport, Self::DrivingLicence]
            .into_iter()
            .find(|kind| kind.as_str() == stored)
    }
}

/// One thing wrong with a document, by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {description}")]
pub struct DocumentProblem {
    /// `number`, `issued_by` or `expiry`.
    pub field: &'static str,
    /// SCREAMING_SNAKE reason.
    pub reason: &'static str,
    /// What is wrong, in lowercase words.
    pub description: &'static str,
}

/// A checked identity document, valid on the day it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityDocument {
    kind: DocumentKind,
    number: String,
    issued_by: String,
    expiry: Date,
}

impl IdentityDocument {
    /// Parses a document as the operator typed it, refusing one that has expired by
    /// `today`. Every problem is reported, by field.
    pub fn parse(
        kind: DocumentKind,
        number: &str,
        issued_by: &str,
        expiry: &str,
        today: Date,
    ) -> Result<Self, Vec<DocumentProblem>> {
        let mut problems = Vec::new();
        let number: String = number
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect();
        if !(5..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
            problems.push(DocumentProblem {
                field: "number",
                reason: "DOCUMENT_NUMBER",
                description: "the document number is 5-20 letters and digits",
            });
        }
        let issued_by = issued_by.split_whitespace().collect::<Vec<_>>().join(" ");
        if !(2..=100).contains(&issued_by.chars().count()) {
            problems.push(DocumentProblem {
                field: "issued_by",
                reason: "ISSUER",
                description: "the issuing authority is required (2-100 characters)",
            });
        }
        let expiry = match crate::parse_date(expiry) {
            Some(date) if date < today => {
                problems.push(DocumentProblem {
                    field: "expiry",
                    reason: "DOCUMENT_EXPIRED",
                    description: "the document has expired",
                });
                None
            }
            Some(date) => Some(date),
            None => {
                problems.push(DocumentProblem {
                    field: "expiry",
                    reason: "CALENDAR_DATE",
                    description: "the expiry is a calendar date in the form YYYY-MM-DD",
                });
                None
            }
        };
        match expiry {
            Some(expiry) if problems.is_empty() => Ok(IdentityDocument {
                kind,
                number,
                issued_by,
                expiry,
            }),
            _ => Err(problems),
        }
    }

    /// What kind of document.
    pub fn kind(&self) -> DocumentKind {
        self.kind
    }

    /// The number, upper case, without spaces.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The issuing authority.
    pub fn issued_by(&self) -> &str {
        &self.issued_by
    }

    /// The expiry date.
    pub fn expiry(&self) -> Date {
        self.expiry
    }
}

/// A reference in an office's files: the signed form MV35, or the office's own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeReference(String);

/// Why a text is not an office reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a reference is 1-64 characters: letters, digits and / . _ -")]
pub struct OfficeReferenceError;

impl OfficeReferenceError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        "OFFICE_REFERENCE"
    }
}

impl OfficeReference {
    /// Parses a reference, trimmed and upper-cased.
    pub fn parse(input: &str) -> Result<Self, OfficeReferenceError> {
        let input = input.trim().to_ascii_uppercase();
        let ok = (1..=64).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(input))
        } else {
            Err(OfficeReferenceError)
        }
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 12 - 02);

    /// Parses a passport; `problems` lists the expected reasons (none: accepted).
    #[track_caller]
    fn check(number: &str, issued_by: &str, expiry: &str, problems: &[&str]) {
        let got = IdentityDocument::parse(DocumentKind::Passport, number, issued_by, expiry, TODAY)
            .err()
            .unwrap_or_default();
        let reasons: Vec<&str> = got.iter().map(|p| p.reason).collect();
        assert_eq!(reasons, problems);
    }

    #[test]
    fn a_document_is_checked_field_by_field_and_on_the_day() {
        check("YA 1234567", "Questura di Roma", "2030-01-31", &[]);
        check("YA1234567", "Questura di Roma", "2026-12-02", &[]);
        check(
            "YA1234567",
            "Questura di Roma",
            "2026-12-01",
            &["DOCUMENT_EXPIRED"],
        );
        check(
            "YA1234567",
            "Questura di Roma",
            "31/01/2030",
            &["CALENDAR_DATE"],
        );
        check("YA-12", "", "2030-01-31", &["DOCUMENT_NUMBER", "ISSUER"]);
    }

    #[test]
    fn references_are_trimmed_upper_case_and_bounded() {
        assert_eq!(
            OfficeReference::parse(" mv35/2026/0042 ").map(|r| r.as_str().to_owned()),
            Ok("MV35/2026/0042".to_owned())
        );
        assert!(OfficeReference::parse("").is_err());
        assert!(OfficeReference::parse("two words").is_err());
        assert!(OfficeReference::parse(&"A".repeat(65)).is_err());
    }
}
