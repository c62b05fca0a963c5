//! Conversions between protobuf messages and domain values. This is the only module that
//! looks inside messages: handlers destructure a request, hand its fields to these
//! functions, call one use case and encode its answer with these functions.

mod audit;
mod authentication;
mod authorization;
mod callback;
mod campaign;
mod contacts;
mod delivery;
mod events;
mod issuance;
mod office;
mod recovery;
mod registry;
mod review;
mod revocation;

pub use audit::*;
pub use authentication::*;
pub use authorization::*;
pub use callback::*;
pub use campaign::*;
pub use contacts::*;
pub use delivery::*;
pub use events::*;
pub use issuance::*;
pub use office::*;
pub use recovery::*;
pub use registry::*;
pub use review::*;
pub use revocation::*;

use pin_domain::{Category, CodiceFiscale, Person, PersonProblem, RawPerson, Sex, format_date};
use pin_proto::v1 as pb;
use prost::Message;
use prost_types::Timestamp;
use time::OffsetDateTime;

use crate::{
    error::{ServiceError, Violation},
    tokens::sha256_hex,
    usecase::RequestKey,
};

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

/// Parses the request id of `message` (field `request_id`): 1-64 characters from
/// `[A-Za-z0-9._:-]`. The key carries the fingerprint of the whole message, so the same id
/// with a different request is recognised.
pub fn request_key(request_id: &str, message: &impl Message) -> Result<RequestKey, ServiceError> {
    let ok = (1..=64).contains(&request_id.len())
        && request_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if !ok {
        return Err(ServiceError::invalid(
            "request_id",
            "REQUEST_ID",
            "request_id must be 1-64 characters from letters, digits and . _ : -",
        ));
    }
    Ok(RequestKey {
        request_id: request_id.to_owned(),
        fingerprint: sha256_hex(&message.encode_to_vec()),
    })
}

/// An instant from an optional protobuf timestamp in field `field`.
pub fn instant(
    field: &str,
    value: Option<Timestamp>,
) -> Result<Option<OffsetDateTime>, ServiceError> {
    value
        .map(|t| {
            OffsetDateTime::from_unix_timestamp(t.seconds)
                .ok()
                .and_then(|at| at.replace_nanosecond(u32::try_from(t.nanos).ok()?).ok())
                .ok_or_else(|| ServiceError::invalid(field, "TIMESTAMP", "not a valid timestamp"))
        })
        .transpose()
}

/// A protobuf level of a domain level.
pub fn level_to_pb(level: pin_domain::Level) -> pb::Level {
    match level {
        pin_domain::Level::Ordinary => pb::Level::Ordinary,
        pin_domain::Level::Dispositive => pb::Level::Dispositive,
    }
}

/// A page request: the size (`0` means `default`, at most `max`) and the position after
/// the last id of the previous page (`page_token`, empty for the first page).
pub fn page(
    page_size: u32,
    page_token: &str,
    default: u64,
    max: u32,
) -> Result<(Option<i64>, u64), ServiceError> {
    let limit = match page_size {
        0 => default,
        size if size <= max => u64::from(size),
        _ => {
            return Err(ServiceError::invalid(
                "page_size",
                "OUT_OF_RANGE",
                format!("page_size must be at most {max}"),
            ));
        }
    };
    let after = if page_token.is_empty() {
        None
    } else {
        Some(page_token.parse::<i64>().map_err(|_| {
            ServiceError::invalid(
                "page_token",
                "FORMAT",
                "page_token is not one this service returned",
            )
        })?)
    };
    Ok((after, limit))
}
