//! Issuance requests and answers.

use pin_proto::v1 as pb;

use crate::{
    error::{ServiceError, Violation},
    usecase::issuance::{Applicant, FirstHalfChannel, OnlineAnswer, OnlineOutcome},
};
use pin_domain::{CodiceFiscale, Sex};

use super::sex_code;

/// Advice returned when recovery will not be possible.
pub const FEWER_THAN_TWO_CONTACTS: &str = "FEWER_THAN_TWO_CONTACTS";

/// The answer to an online request.
pub fn online_answer_to_pb(answer: OnlineAnswer) -> pb::RequestPinOnlineResponse {
    let OnlineAnswer {
        outcome,
        fewer_than_two_contacts,
    } = answer;
    let outcome = match outcome {
        OnlineOutcome::LetterComing => pb::IssuanceOutcome::LetterComing,
        OnlineOutcome::CallbackScheduled => pb::IssuanceOutcome::CallbackScheduled,
    };
    pb::RequestPinOnlineResponse {
        outcome: outcome.into(),
        warnings: if fewer_than_two_contacts {
            vec![FEWER_THAN_TWO_CONTACTS.to_owned()]
        } else {
            Vec::new()
        },
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
