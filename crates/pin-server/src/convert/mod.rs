//! Conversions between protobuf messages and domain values. This is the only module that
//! knows both; handlers call these and never look inside a message themselves.

use pin_domain::{Category, CodiceFiscale, Person, PersonProblem, RawPerson, Sex, format_date};
use pin_proto::v1 as pb;
use prost_types::Timestamp;
use time::OffsetDateTime;

use crate::error::{ServiceError, Violation};

/// The protobuf name of a category, as the domain parses it; empty for unset values.
fn category_name(value: i32) -> &'static str {
    match pb::Category::try_from(value) {
        Ok(pb::Category::Pensioner) => "PENSIONER",
        Ok(pb::Category::PrivateSectorWorker) => "PRIVATE_SECTOR_WORKER",
        Ok(pb::Category::PublicSectorEmployee) => "PUBLIC_SECTOR_EMPLOYEE",
        Ok(pb::Category::SelfEmployed) => "SELF_EMPLOYED",
        Ok(pb::Category::Intermediary) => "INTERMEDIARY",
        Ok(pb::Category::Unspecified) | Err(_) => "",
    }
}

pub fn category_to_pb(category: Category) -> pb::Category {
    match category {
        Category::Pensioner => pb::Category::Pensioner,
        Category::PrivateSectorWorker => pb::Category::PrivateSectorWorker,
        Category::PublicSectorEmployee => pb::Category::PublicSectorEmployee,
        Category::SelfEmployed => pb::Category::SelfEmployed,
        Category::Intermediary => pb::Category::Intermediary,
    }
}

fn sex_code(value: i32) -> &'static str {
    match pb::Sex::try_from(value) {
        Ok(pb::Sex::Female) => "F",
        Ok(pb::Sex::Male) => "M",
        Ok(pb::Sex::Unspecified) | Err(_) => "",
    }
}

fn sex_to_pb(sex: Sex) -> pb::Sex {
    match sex {
        Sex::Female => pb::Sex::Female,
        Sex::Male => pb::Sex::Male,
    }
}

/// Reads a registry record into the domain's raw form. Every field is destructured, so a
/// new field in the contract does not compile until it is handled here.
pub fn raw_person(person: &pb::Person) -> RawPerson<'_> {
    let pb::Person {
        codice_fiscale,
        family_name,
        given_name,
        sex,
        birth_date,
        birth_place,
        residence,
        health_card,
        categories,
    } = person;
    let (street, number, cap, municipality, province) = match residence {
        Some(pb::PostalAddress {
            street,
            number,
            cap,
            municipality,
            province,
        }) => (
            street.as_str(),
            number.as_str(),
            cap.as_str(),
            municipality.as_str(),
            province.as_str(),
        ),
        None => ("", "", "", "", ""),
    };
    let (card_number, card_expiry) = match health_card {
        Some(pb::HealthCard { number, expiry }) => (number.as_str(), expiry.as_str()),
        None => ("", ""),
    };
    RawPerson {
        codice_fiscale,
        family_name,
        given_name,
        sex: sex_code(*sex),
        birth_date,
        birth_place,
        street,
        street_number: number,
        cap,
        municipality,
        province,
        health_card_number: card_number,
        health_card_expiry: card_expiry,
        categories: categories.iter().map(|c| category_name(*c)).collect(),
    }
}

/// The registry record of a domain person.
pub fn person_to_pb(person: &Person) -> pb::Person {
    pb::Person {
        codice_fiscale: person.codice_fiscale.as_str().to_owned(),
        family_name: person.family_name.as_str().to_owned(),
        given_name: person.given_name.as_str().to_owned(),
        sex: sex_to_pb(person.sex).into(),
        birth_date: format_date(person.birth_date),
        birth_place: person.birth_place.as_str().to_owned(),
        residence: Some(pb::PostalAddress {
            street: person.residence.street().to_owned(),
            number: person.residence.number().to_owned(),
            cap: person.residence.cap().to_owned(),
            municipality: person.residence.municipality().to_owned(),
            province: person.residence.province().to_owned(),
        }),
        health_card: Some(pb::HealthCard {
            number: person.health_card.number.as_str().to_owned(),
            expiry: format_date(person.health_card.expiry),
        }),
        categories: person
            .categories
            .iter()
            .map(|c| category_to_pb(*c).into())
            .collect(),
    }
}

/// A domain problem as a protobuf field problem, under `prefix` (e.g. `person.`).
pub fn problem_to_pb(problem: &PersonProblem) -> pb::FieldProblem {
    pb::FieldProblem {
        field: problem.field.clone(),
        reason: problem.reason.to_owned(),
        description: problem.description.clone(),
    }
}

/// Parses a codice fiscale from request field `field`.
pub fn codice_fiscale(field: &str, input: &str) -> Result<CodiceFiscale, ServiceError> {
    CodiceFiscale::parse(input).map_err(|error| {
        ServiceError::InvalidArgument(vec![Violation::new(
            field,
            error.reason(),
            error.to_string(),
        )])
    })
}

/// A protobuf timestamp of an instant.
pub fn timestamp(instant: OffsetDateTime) -> Timestamp {
    Timestamp {
        seconds: instant.unix_timestamp(),
        nanos: i32::try_from(instant.nanosecond()).unwrap_or(0),
    }
}

/// Where the first half of an online PIN goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstHalfChannel {
    /// SMS to the mobile number.
    Sms,
    /// E-mail.
    Email,
}

/// A PIN applicant, every field parsed and the codice fiscale agreeing with the rest.
#[derive(Debug, Clone)]
pub struct Applicant {
    /// Codice fiscale.
    pub cf: CodiceFiscale,
    /// Family name.
    pub family_name: pin_domain::PersonName,
    /// Given name.
    pub given_name: pin_domain::PersonName,
    /// The address the applicant states.
    pub residence: pin_domain::PostalAddress,
    /// The number the contact center can call.
    pub callback_phone: String,
    /// Mobile number, if given.
    pub mobile: Option<pin_domain::MobileNumber>,
    /// E-mail, if given.
    pub email: Option<pin_domain::Email>,
    /// PEC, if given.
    pub pec: Option<pin_domain::Pec>,
    /// Where the first half goes.
    pub first_half: FirstHalfChannel,
}

impl Applicant {
    /// How many contacts were given.
    pub fn contact_count(&self) -> usize {
        usize::from(self.mobile.is_some())
            + usize::from(self.email.is_some())
            + usize::from(self.pec.is_some())
    }
}

fn phone(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '/' | '(' | ')'))
        .collect();
    let body = digits.strip_prefix('+').unwrap_or(&digits);
    ((6..=15).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Parses an applicant under the request field `prefix`, collecting every problem.
pub fn applicant(
    prefix: &str,
    applicant: Option<&pb::Applicant>,
) -> Result<Applicant, ServiceError> {
    let Some(pb::Applicant {
        codice_fiscale,
        family_name,
        given_name,
        sex,
        birth_date,
        residence,
        callback_phone,
        contacts,
        first_half_channel,
    }) = applicant
    else {
        return Err(ServiceError::invalid(
            prefix,
            "MISSING",
            "the applicant is required",
        ));
    };
    let mut problems = Vec::new();
    let field = |name: &str| format!("{prefix}.{name}");
    let mut note = |name: String, reason: &str, description: String| {
        problems.push(Violation::new(name, reason, description));
    };
    let cf = CodiceFiscale::parse(codice_fiscale)
        .map_err(|e| note(field("codice_fiscale"), e.reason(), e.to_string()))
        .ok();
    let family = pin_domain::PersonName::parse(family_name)
        .map_err(|e| note(field("family_name"), e.reason(), e.to_string()))
        .ok();
    let given = pin_domain::PersonName::parse(given_name)
        .map_err(|e| note(field("given_name"), e.reason(), e.to_string()))
        .ok();
    let sex = Sex::parse(sex_code(*sex))
        .map_err(|_| {
            note(
                field("sex"),
                "MISSING",
                "sex must be SEX_FEMALE or SEX_MALE".into(),
            )
        })
        .ok();
    let born = pin_domain::parse_date(birth_date);
    if born.is_none() {
        note(
            field("birth_date"),
            "CALENDAR_DATE",
            format!("{birth_date:?} is not a calendar date in the form YYYY-MM-DD"),
        );
    }
    let address = match residence {
        Some(pb::PostalAddress {
            street,
            number,
            cap,
            municipality,
            province,
        }) => pin_domain::PostalAddress::parse(street, number, cap, municipality, province)
            .map_err(|e| {
                note(
                    field(&format!("residence.{}", e.field())),
                    e.reason(),
                    e.to_string(),
                )
            })
            .ok(),
        None => {
            note(
                field("residence"),
                "MISSING",
                "the residence address is required".into(),
            );
            None
        }
    };
    let phone_number = phone(callback_phone);
    if phone_number.is_none() {
        note(
            field("callback_phone"),
            "PHONE_NUMBER",
            "callback_phone must be a phone number of 6-15 digits".into(),
        );
    }
    let (mut mobile, mut email, mut pec) = (None, None, None);
    if let Some(pb::ContactDetails {
        mobile: m,
        email: e,
        pec: p,
    }) = contacts
    {
        if !m.trim().is_empty() {
            mobile = pin_domain::MobileNumber::parse(m)
                .map_err(|err| note(field("contacts.mobile"), err.reason(), err.to_string()))
                .ok();
        }
        if !e.trim().is_empty() {
            email = pin_domain::Email::parse(e)
                .map_err(|err| note(field("contacts.email"), err.reason(), err.to_string()))
                .ok();
        }
        if !p.trim().is_empty() {
            pec = pin_domain::Pec::parse(p)
                .map_err(|err| note(field("contacts.pec"), err.reason(), err.to_string()))
                .ok();
        }
    }
    let channel = match pb::FirstHalfChannel::try_from(*first_half_channel) {
        Ok(pb::FirstHalfChannel::Sms) => Some(FirstHalfChannel::Sms),
        Ok(pb::FirstHalfChannel::Email) => Some(FirstHalfChannel::Email),
        Ok(pb::FirstHalfChannel::Unspecified) | Err(_) => {
            note(
                field("first_half_channel"),
                "MISSING",
                "first_half_channel must be SMS or EMAIL".into(),
            );
            None
        }
    };
    let given_contact = |c: &pb::ContactDetails, sms: bool| {
        if sms {
            c.mobile.trim().is_empty()
        } else {
            c.email.trim().is_empty()
        }
    };
    match (channel, contacts.as_ref()) {
        (Some(FirstHalfChannel::Sms), c) if c.is_none_or(|c| given_contact(c, true)) => note(
            field("contacts.mobile"),
            "REQUIRED_FOR_CHANNEL",
            "a mobile number is required to send the first half by SMS".into(),
        ),
        (Some(FirstHalfChannel::Email), c) if c.is_none_or(|c| given_contact(c, false)) => note(
            field("contacts.email"),
            "REQUIRED_FOR_CHANNEL",
            "an e-mail address is required to send the first half by e-mail".into(),
        ),
        _ => {}
    }
    if let (Some(cf), Some(family), Some(given), Some(sex), Some(born)) =
        (&cf, &family, &given, sex, born)
        && let Err(disagreements) = cf.agrees_with(family, given, sex, born)
    {
        for d in disagreements {
            note(
                field(d.field()),
                "DISAGREES_WITH_CF",
                format!("{} does not agree with the codice fiscale", d.field()),
            );
        }
    }
    match (cf, family, given, address, phone_number, channel) {
        (
            Some(cf),
            Some(family_name),
            Some(given_name),
            Some(residence),
            Some(callback_phone),
            Some(first_half),
        ) if problems.is_empty() => Ok(Applicant {
            cf,
            family_name,
            given_name,
            residence,
            callback_phone,
            mobile,
            email,
            pec,
            first_half,
        }),
        _ => Err(ServiceError::InvalidArgument(problems)),
    }
}
