//! Identifiers of the institute's services, as named in the service catalog.

use std::fmt;

/// A service identifier: a lower-case letter, then 1 to 63 lower-case letters, digits,
/// underscores or hyphens (`[a-z][a-z0-9_-]{1,63}`), e.g. `pension_slip`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(String);

/// Why a text is not a service identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ServiceIdError {
    #[error("service id must have 2 to 64 characters")]
    Length,
    #[error("service id must start with a lower-case letter")]
    Start,
    #[error("service id character {position} must be a lower-case letter, a digit, _ or -")]
    Character { position: usize },
}

impl ServiceIdError {
    /// The reason code for a gRPC field violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Length => "LENGTH",
            Self::Start => "START",
            Self::Character { .. } => "CHARACTER",
        }
    }
}

impl ServiceId {
    /// Parses a service identifier, trimming it. Upper case is rejected rather than folded,
    /// because identifiers come from configuration and code, where a typo should show.
    pub fn parse(input: &str) -> Result<Self, ServiceIdError> {
        let id = input.trim();
        if !(2..=64).contains(&id.chars().count()) {
            return Err(ServiceIdError::Length);
        }
        let mut chars = id.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err(ServiceIdError::Start);
        }
        if let Some(index) = chars
            .position(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'))
        {
            return Err(ServiceIdError::Character {
                position: index + 2,
            });
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: Result<&str, ServiceIdError>) {
        let actual = ServiceId::parse(input);
        assert_eq!(
            actual.as_ref().map(ServiceId::as_str),
            expected.as_ref().copied(),
            "input {input:?}"
        );
    }

    #[test]
    fn service_ids_are_lower_case_identifiers() {
        check("pension_slip", Ok("pension_slip"));
        check(" contribution-statement ", Ok("contribution-statement"));
        check("a1", Ok("a1"));
        check(&"a".repeat(64), Ok(&"a".repeat(64)));
        check("a", Err(ServiceIdError::Length));
        check("", Err(ServiceIdError::Length));
        check(&"a".repeat(65), Err(ServiceIdError::Length));
        check("1abc", Err(ServiceIdError::Start));
        check("_abc", Err(ServiceIdError::Start));
        check("Pension", Err(ServiceIdError::Start));
        check(
            "pensionSlip",
            Err(ServiceIdError::Character { position: 8 }),
        );
        check(
            "pension slip",
            Err(ServiceIdError::Character { position: 8 }),
        );
        check("pensionè", Err(ServiceIdError::Character { position: 8 }));
    }
}
