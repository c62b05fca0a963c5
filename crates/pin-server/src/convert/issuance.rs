//! Issuance requests and answers.

use pin_proto::v1 as pb;

use crate::{
    error::{ServiceError, Violation},
    usecase::{
        issuance::{Applicant, RequestAnswer, RequestOutcome},
        issue::{Contacts, FirstHalfChannel},
    },
};
use pin_domain::{CodiceFiscale, Sex};

use super::sex_code;

/// Advice returned when recovery will not be possible.
pub const FEWER_THAN_TWO_CONTACTS: &str = "FEWER_THAN_TWO_CONTACTS";

fn outcome_to_pb(outcome: RequestOutcome) -> pb::IssuanceOutcome {
    match outcome {
        RequestOutcome::LetterComing => pb::IssuanceOutcome::LetterComing,
        RequestOutcome::CallbackScheduled => pb::IssuanceOutcome::CallbackScheduled,
    }
}

fn warnings(answer: &RequestAnswer) -> Vec<String> {
    if answer.fewer_than_two_contacts {
        vec![FEWER_THAN_TWO_CONTACTS.to_owned()]
    } else {
        Vec::new()
    }
}

/// The answer to an online request; the portal is not told the case's id.
pub fn online_answer_to_pb(answer: RequestAnswer) -> pb::RequestPinOnlineResponse {
    pb::RequestPinOnlineResponse {
        outcome: outcome_to_pb(answer.outcome).into(),
        warnings: warnings(&answer),
    }
}

/// The answer to a contact-center request.
pub fn contact_center_answer_to_pb(answer: RequestAnswer) -> pb::RequestPinByContactCenterResponse {
    pb::RequestPinByContactCenterResponse {
        outcome: outcome_to_pb(answer.outcome).into(),
        warnings: warnings(&answer),
        callback_case_id: answer
            .callback_case_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

/// Parses the contacts given under `prefix` (each optional), noting every problem.
pub fn contact_details(
    prefix: &str,
    contacts: Option<&pb::ContactDetails>,
    problems: &mut Vec<Violation>,
) -> Contacts {
    let mut parsed = Contacts::default();
    let Some(pb::ContactDetails { mobile, email, pec }) = contacts else {
        return parsed;
    };
    let field = |name: &str| {
        if prefix.is_empty() {
            format!("contacts.{name}")
        } else {
            format!("{prefix}.contacts.{name}")
        }
    };
    let mut note = |name: &str, reason: &str, description: String| {
        problems.push(Violation::new(field(name), reason, description));
    };
    if !mobile.trim().is_empty() {
        parsed.mobile = pin_domain::MobileNumber::parse(mobile)
            .map_err(|err| note("mobile", err.reason(), err.to_string()))
            .ok();
    }
    if !email.trim().is_empty() {
        parsed.email = pin_domain::Email::parse(email)
            .map_err(|err| note("email", err.reason(), err.to_string()))
            .ok();
    }
    if !pec.trim().is_empty() {
        parsed.pec = pin_domain::Pec::parse(pec)
            .map_err(|err| note("pec", err.reason(), err.to_string()))
            .ok();
    }
    parsed
}

/// Parses the first half's channel (`field`), which needs its contact among `contacts`.
pub fn first_half_channel(
    field: &str,
    channel: i32,
    contacts: &Contacts,
    problems: &mut Vec<Violation>,
) -> Option<FirstHalfChannel> {
    let channel = match pb::FirstHalfChannel::try_from(channel) {
        Ok(pb::FirstHalfChannel::Sms) => FirstHalfChannel::Sms,
        Ok(pb::FirstHalfChannel::Email) => FirstHalfChannel::Email,
        Ok(pb::FirstHalfChannel::Unspecified) | Err(_) => {
            problems.push(Violation::new(
                field,
                "MISSING",
                "first_half_channel must be SMS or EMAIL",
            ));
            return None;
        }
    };
    let contacts_field = field.strip_suffix("first_half_channel").unwrap_or_default();
    match channel {
        FirstHalfChannel::Sms if contacts.mobile.is_none() => problems.push(Violation::new(
            format!("{contacts_field}contacts.mobile"),
            "REQUIRED_FOR_CHANNEL",
            "a mobile number is required to send the first half by SMS",
        )),
        FirstHalfChannel::Email if contacts.email.is_none() => problems.push(Violation::new(
            format!("{contacts_field}contacts.email"),
            "REQUIRED_FOR_CHANNEL",
            "an e-mail address is required to send the first half by e-mail",
        )),
        _ => {}
    }
    Some(channel)
}

fn phone(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '/' | '(' | ')'))
        .collect();
    let body = digits.strip_prefix('+').unwrap_or(&digits);
    ((6..=15).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

fn note(problems: &mut Vec<Violation>, field: String, reason: &str, description: String) {
    problems.push(Violation::new(field, reason, description));
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
    let cf = CodiceFiscale::parse(codice_fiscale)
        .map_err(|e| {
            note(
                &mut problems,
                field("codice_fiscale"),
                e.reason(),
                e.to_string(),
            )
        })
        .ok();
    let family = pin_domain::PersonName::parse(family_name)
        .map_err(|e| {
            note(
                &mut problems,
                field("family_name"),
                e.reason(),
                e.to_string(),
            )
        })
        .ok();
    let given = pin_domain::PersonName::parse(given_name)
        .map_err(|e| {
            note(
                &mut problems,
                field("given_name"),
                e.reason(),
                e.to_string(),
            )
        })
        .ok();
    let sex = Sex::parse(sex_code(*sex))
        .map_err(|_| {
            note(
                &mut problems,
                field("sex"),
                "MISSING",
                "sex must be SEX_FEMALE or SEX_MALE".into(),
            )
        })
        .ok();
    let born = pin_domain::parse_date(birth_date);
    if born.is_none() {
        note(
            &mut problems,
            field("birth_date"),
            "CALENDAR_DATE",
            format!("{birth_date:?} is not a calendar date in the form YYYY-MM-DD"),
        );
    }
    let address = postal_address(&field("residence"), residence.as_ref(), &mut problems);
    let phone_number = phone(callback_phone);
    if phone_number.is_none() {
        note(
            &mut problems,
            field("callback_phone"),
            "PHONE_NUMBER",
            "callback_phone must be a phone number of 6-15 digits".into(),
        );
    }
    let contacts = contact_details(prefix, contacts.as_ref(), &mut problems);
    let channel = self::first_half_channel(
        &field("first_half_channel"),
        *first_half_channel,
        &contacts,
        &mut problems,
    );
    if let (Some(cf), Some(family), Some(given), Some(sex), Some(born)) =
        (&cf, &family, &given, sex, born)
        && let Err(disagreements) = cf.agrees_with(family, given, sex, born)
    {
        for d in disagreements {
            note(
                &mut problems,
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
            contacts,
            first_half,
        }),
        _ => Err(ServiceError::InvalidArgument(problems)),
    }
}

/// Parses a required postal address under `field`, noting every problem.
pub fn postal_address(
    field: &str,
    address: Option<&pb::PostalAddress>,
    problems: &mut Vec<Violation>,
) -> Option<pin_domain::PostalAddress> {
    let Some(pb::PostalAddress {
        street,
        number,
        cap,
        municipality,
        province,
    }) = address
    else {
        problems.push(Violation::new(field, "MISSING", "the address is required"));
        return None;
    };
    pin_domain::PostalAddress::parse(street, number, cap, municipality, province)
        .map_err(|e| {
            problems.push(Violation::new(
                format!("{field}.{}", e.field()),
                e.reason(),
                e.to_string(),
            ));
        })
        .ok()
}
