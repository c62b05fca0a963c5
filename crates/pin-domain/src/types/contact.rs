//! A PIN holder's contacts: mobile number, e-mail and PEC (certified e-mail).

use std::fmt;

/// An e-mail address, checked pragmatically (one `@`, a sensible local part, a domain with a
/// dot) rather than by the full RFC 5322 grammar. The domain is stored in lower case; the
/// local part as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// A PEC (*posta elettronica certificata*) address. It has the syntax of an e-mail address
/// but its own type, so that a PEC cannot be passed where a plain e-mail is meant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pec(String);

/// Why a text is not an e-mail or PEC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("address is empty")]
    Empty,
    #[error("address is too long: at most 254 characters")]
    TooLong,
    #[error("address must contain exactly one @")]
    AtSign,
    #[error(
        "the part before @ must be 1-64 letters, digits, dots or !#$%&'*+/=?^_`{{|}}~- without leading, trailing or double dots"
    )]
    LocalPart,
    #[error(
        "the domain after @ must be like example.it: labels of letters, digits and hyphens, separated by dots"
    )]
    Domain,
}

impl EmailError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "EMPTY",
            Self::TooLong => "TOO_LONG",
            Self::AtSign => "AT_SIGN",
            Self::LocalPart => "LOCAL_PART",
            Self::Domain => "DOMAIN",
        }
    }
}

impl Email {
    /// Parses an e-mail address, trimming it and lower-casing its domain.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        parse_address(input).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Pec {
    /// Parses a PEC address, with the same rules as [`Email::parse`].
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        parse_address(input).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Pec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_address(input: &str) -> Result<String, EmailError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(EmailError::Empty);
    }
    if input.len() > 254 {
        return Err(EmailError::TooLong);
    }
    let (local, domain) = input.split_once('@').ok_or(EmailError::AtSign)?;
    if domain.contains('@') {
        return Err(EmailError::AtSign);
    }
    let local_ok = (1..=64).contains(&local.len())
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b))
        });
    if !local_ok {
        return Err(EmailError::LocalPart);
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    // A top-level domain is never all digits: that would be an IP address.
    let tld_ok = labels
        .last()
        .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_lowercase()));
    if !(labels_ok && tld_ok) {
        return Err(EmailError::Domain);
    }
    Ok(format!("{local}@{domain}"))
}

/// An Italian mobile number, stored in E.164 form: `+39` and 9 or 10 digits starting with 3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MobileNumber(String);

/// Why a text is not an Italian mobile number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MobileNumberError {
    #[error("mobile number is empty")]
    Empty,
    #[error(
        "mobile number may contain only digits, spaces, dashes, dots and a leading +39 or 0039"
    )]
    Character,
    #[error("only italian mobile numbers (+39) are accepted")]
    Country,
    #[error("not a mobile number: italian mobile numbers start with 3")]
    NotMobile,
    #[error("mobile number must have 9 or 10 digits after +39")]
    Length,
}

impl MobileNumberError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "EMPTY",
            Self::Character => "CHARACTER",
            Self::Country => "COUNTRY",
            Self::NotMobile => "NOT_MOBILE",
            Self::Length => "LENGTH",
        }
    }
}

impl MobileNumber {
    /// Parses `+39 347 123 4567`, `0039 3471234567` or `347-123.4567`: spaces, dashes and
    /// dots are ignored, and a number without prefix is taken as Italian.
    pub fn parse(input: &str) -> Result<Self, MobileNumberError> {
        let compact: String = input
            .chars()
            .filter(|&c| !(c.is_whitespace() || c == '-' || c == '.'))
            .collect();
        if compact.is_empty() {
            return Err(MobileNumberError::Empty);
        }
        let national = if let Some(national) = compact.strip_prefix("+39") {
            national
        } else if let Some(national) = compact.strip_prefix("0039") {
            national
        } else if compact.starts_with('+') || compact.starts_with("00") {
            return Err(MobileNumberError::Country);
        } else {
            &compact
        };
        if national.is_empty() || !national.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MobileNumberError::Character);
        }
        if !national.starts_with('3') {
            return Err(MobileNumberError::NotMobile);
        }
        if !(9..=10).contains(&national.len()) {
            return Err(MobileNumberError::Length);
        }
        Ok(Self(format!("+39{national}")))
    }

    /// The E.164 form, e.g. `+393471234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of contact a PIN holder can register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactKind {
    Mobile,
    Email,
    Pec,
}

/// Why a text is not a contact kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContactKindError {
    #[error("unknown contact kind: expected MOBILE, EMAIL or PEC")]
    Unknown,
}

impl ContactKindError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unknown => "CONTACT_KIND",
        }
    }
}

impl ContactKind {
    /// Every kind, in declaration order.
    pub const ALL: [ContactKind; 3] = [Self::Mobile, Self::Email, Self::Pec];

    /// Parses `MOBILE`, `EMAIL` or `PEC`, in any case.
    pub fn parse(input: &str) -> Result<Self, ContactKindError> {
        let input = input.trim();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(input))
            .ok_or(ContactKindError::Unknown)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "MOBILE",
            Self::Email => "EMAIL",
            Self::Pec => "PEC",
        }
    }
}

impl fmt::Display for ContactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_email(input: &str, expected: Result<&str, EmailError>) {
        let email = Email::parse(input);
        assert_eq!(
            email.as_ref().map(Email::as_str),
            expected.as_ref().copied(),
            "input {input:?}"
        );
        let pec = Pec::parse(input);
        assert_eq!(
            pec.as_ref().map(Pec::as_str),
            expected.as_ref().copied(),
            "input {input:?}"
        );
    }

    #[test]
    fn emails_are_parsed_pragmatically() {
        check_email("mario.rossi@example.it", Ok("mario.rossi@example.it"));
        check_email("  Mario.Rossi@Example.IT ", Ok("Mario.Rossi@example.it"));
        check_email(
            "mario+pin@posta-cert.example.it",
            Ok("mario+pin@posta-cert.example.it"),
        );
        check_email("", Err(EmailError::Empty));
        check_email("mario.example.it", Err(EmailError::AtSign));
        check_email("mario@rossi@example.it", Err(EmailError::AtSign));
        check_email("@example.it", Err(EmailError::LocalPart));
        check_email(".mario@example.it", Err(EmailError::LocalPart));
        check_email("mario..rossi@example.it", Err(EmailError::LocalPart));
        check_email("mario rossi@example.it", Err(EmailError::LocalPart));
        check_email(
            &format!("{}@example.it", "a".repeat(65)),
            Err(EmailError::LocalPart),
        );
        check_email("mario@localhost", Err(EmailError::Domain));
        check_email("mario@example..it", Err(EmailError::Domain));
        check_email("mario@-example.it", Err(EmailError::Domain));
        check_email("mario@exa_mple.it", Err(EmailError::Domain));
        check_email("mario@10.0.0.1", Err(EmailError::Domain));
        check_email("mario@perché.it", Err(EmailError::Domain));
        check_email(
            &format!("m@{}.it", "a.".repeat(126)),
            Err(EmailError::TooLong),
        );
    }

    #[track_caller]
    fn check_mobile(input: &str, expected: Result<&str, MobileNumberError>) {
        let actual = MobileNumber::parse(input);
        assert_eq!(
            actual.as_ref().map(MobileNumber::as_str),
            expected.as_ref().copied(),
            "input {input:?}"
        );
    }

    #[test]
    fn mobile_numbers_in_every_accepted_format() {
        check_mobile("+39 347 123 4567", Ok("+393471234567"));
        check_mobile("+393471234567", Ok("+393471234567"));
        check_mobile("0039 3471234567", Ok("+393471234567"));
        check_mobile("3471234567", Ok("+393471234567"));
        check_mobile("347-123.45.67", Ok("+393471234567"));
        check_mobile(" 347 1234567 ", Ok("+393471234567"));
        check_mobile("333123456", Ok("+39333123456"));
    }

    #[test]
    fn what_is_not_an_italian_mobile_is_rejected() {
        check_mobile("", Err(MobileNumberError::Empty));
        check_mobile(" - ", Err(MobileNumberError::Empty));
        check_mobile("06 1234 5678", Err(MobileNumberError::NotMobile));
        check_mobile("+39 06 1234 5678", Err(MobileNumberError::NotMobile));
        check_mobile("800 123 456", Err(MobileNumberError::NotMobile));
        check_mobile("34712345", Err(MobileNumberError::Length));
        check_mobile("347123456789", Err(MobileNumberError::Length));
        check_mobile("+44 7700 900123", Err(MobileNumberError::Country));
        check_mobile("0044 7700 900123", Err(MobileNumberError::Country));
        check_mobile("+39", Err(MobileNumberError::Character));
        check_mobile("(347) 1234567", Err(MobileNumberError::Character));
        check_mobile("347123456a", Err(MobileNumberError::Character));
    }

    #[test]
    fn contact_kinds_round_trip() {
        for kind in ContactKind::ALL {
            assert_eq!(ContactKind::parse(kind.as_str()), Ok(kind));
        }
        assert_eq!(ContactKind::parse("pec"), Ok(ContactKind::Pec));
        assert_eq!(ContactKind::Mobile.as_str(), "MOBILE");
        assert_eq!(ContactKind::parse("SMS"), Err(ContactKindError::Unknown));
    }
}
