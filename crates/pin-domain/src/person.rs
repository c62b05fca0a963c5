//! A person of the registry, parsed from raw input in one place for every way in (the
//! gRPC upsert stream and the JSON-lines import).

use std::collections::BTreeSet;

use time::{Date, macros::format_description};

use crate::{
    BelfioreCode, Category, CodiceFiscale, HealthCard, HealthCardNumber, Holder, PersonName,
    PostalAddress, Sex,
};

/// A registry record whose every field is parsed and whose codice fiscale agrees with the
/// names, sex and birth date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Codice fiscale, canonical.
    pub codice_fiscale: CodiceFiscale,
    /// Family name (cognome).
    pub family_name: PersonName,
    /// Given name(s) (nome).
    pub given_name: PersonName,
    /// Sex.
    pub sex: Sex,
    /// Birth date.
    pub birth_date: Date,
    /// Belfiore code of the birth place.
    pub birth_place: BelfioreCode,
    /// Residence address.
    pub residence: PostalAddress,
    /// Health card.
    pub health_card: HealthCard,
    /// Categories, never empty.
    pub categories: BTreeSet<Category>,
}

/// One problem with one field of a raw record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonProblem {
    /// Path of the field, e.g. `codice_fiscale` or `residence.cap`.
    pub field: String,
    /// SCREAMING_SNAKE reason code.
    pub reason: &'static str,
    /// Human-readable explanation.
    pub description: String,
}

/// The raw text of a record, as it arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawPerson<'a> {
    /// Codice fiscale.
    pub codice_fiscale: &'a str,
    /// Family name.
    pub family_name: &'a str,
    /// Given name.
    pub given_name: &'a str,
    /// `F` or `M`.
    pub sex: &'a str,
    /// `YYYY-MM-DD`.
    pub birth_date: &'a str,
    /// Belfiore code.
    pub birth_place: &'a str,
    /// Street.
    pub street: &'a str,
    /// House number.
    pub street_number: &'a str,
    /// CAP.
    pub cap: &'a str,
    /// Municipality.
    pub municipality: &'a str,
    /// Province code.
    pub province: &'a str,
    /// Health-card number.
    pub health_card_number: &'a str,
    /// Health-card expiry, `YYYY-MM-DD`.
    pub health_card_expiry: &'a str,
    /// Category names.
    pub categories: Vec<&'a str>,
}

/// Parses an ISO `YYYY-MM-DD` calendar date.
pub fn parse_date(input: &str) -> Option<Date> {
    Date::parse(input.trim(), format_description!("[year]-[month]-[day]")).ok()
}

/// Formats a date as ISO `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

struct Problems(Vec<PersonProblem>);

impl Problems {
    fn take<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
        reason: impl Fn(&E) -> &'static str,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(field, reason(&error), error.to_string());
                None
            }
        }
    }

    fn push(&mut self, field: &str, reason: &'static str, description: String) {
        self.0.push(PersonProblem {
            field: field.to_owned(),
            reason,
            description,
        });
    }

    fn date(&mut self, field: &str, input: &str) -> Option<Date> {
        let date = parse_date(input);
        if date.is_none() {
            let reason = if input.trim().is_empty() {
                "MISSING"
            } else {
                "CALENDAR_DATE"
            };
            self.push(
                field,
                reason,
                format!("{input:?} is not a calendar date in the form YYYY-MM-DD"),
            );
        }
        date
    }
}

impl Person {
    /// Parses every field, collecting every problem rather than stopping at the first, and
    /// checks that the codice fiscale agrees with names, sex and birth date.
    pub fn parse(raw: &RawPerson<'_>) -> Result<Person, Vec<PersonProblem>> {
        let mut p = Problems(Vec::new());
        let cf = p.take(
            "codice_fiscale",
            CodiceFiscale::parse(raw.codice_fiscale),
            |e| e.reason(),
        );
        let family_name = p.take("family_name", PersonName::parse(raw.family_name), |e| {
            e.reason()
        });
        let given_name = p.take("given_name", PersonName::parse(raw.given_name), |e| {
            e.reason()
        });
        let sex = p.take("sex", Sex::parse(raw.sex), |e| e.reason());
        let birth_date = p.date("birth_date", raw.birth_date);
        let birth_place = p.take("birth_place", BelfioreCode::parse(raw.birth_place), |e| {
            e.reason()
        });
        let residence = match PostalAddress::parse(
            raw.street,
            raw.street_number,
            raw.cap,
            raw.municipality,
            raw.province,
        ) {
            Ok(address) => Some(address),
            Err(error) => {
                p.push(
                    &format!("residence.{}", error.field()),
                    error.reason(),
                    error.to_string(),
                );
                None
            }
        };
        let card_number = p.take(
            "health_card.number",
            HealthCardNumber::parse(raw.health_card_number),
            |e| e.reason(),
        );
        let card_expiry = p.date("health_card.expiry", raw.health_card_expiry);
        let mut categories = BTreeSet::new();
        for name in &raw.categories {
            if let Some(category) = p.take("categories", Category::parse(name), |e| e.reason()) {
                categories.insert(category);
            }
        }
        if raw.categories.is_empty() {
            p.push(
                "categories",
                "MISSING",
                "at least one category is required".to_owned(),
            );
        }
        if let (Some(cf), Some(family), Some(given), Some(sex), Some(date)) =
            (&cf, &family_name, &given_name, sex, birth_date)
            && let Err(disagreements) = cf.agrees_with(family, given, sex, date)
        {
            for d in disagreements {
                p.push(
                    d.field(),
                    d.reason(),
                    format!("{} does not agree with the codice fiscale", d.field()),
                );
            }
        }
        if let (Some(cf), Some(place)) = (&cf, &birth_place)
            && cf.birth_place() != *place
        {
            p.push(
                "birth_place",
                "DISAGREES_WITH_CF",
                "birth_place does not agree with the codice fiscale".to_owned(),
            );
        }
        match (
            cf,
            family_name,
            given_name,
            sex,
            birth_date,
            birth_place,
            residence,
            card_number,
            card_expiry,
        ) {
            (
                Some(codice_fiscale),
                Some(family_name),
                Some(given_name),
                Some(sex),
                Some(birth_date),
                Some(birth_place),
                Some(residence),
                Some(number),
                Some(expiry),
            ) if p.0.is_empty() => Ok(Person {
                codice_fiscale,
                family_name,
                given_name,
                sex,
                birth_date,
                birth_place,
                residence,
                health_card: HealthCard { number, expiry },
                categories,
            }),
            _ => Err(p.0),
        }
    }

    /// Who holds this person's PIN: intermediaries' PINs expire sooner.
    pub fn holder(&self) -> Holder {
        if self.categories.contains(&Category::Intermediary) {
            Holder::Intermediary
        } else {
            Holder::Citizen
        }
    }
}
