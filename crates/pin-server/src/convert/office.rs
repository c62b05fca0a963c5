//! The office counter: identity documents, MV35 and office references, and the answers.

use pin_domain::{DocumentKind, IdentityDocument, OfficeReference};
use pin_proto::v1 as pb;
use time::OffsetDateTime;

use super::{codice_fiscale, contact_details, level_to_pb, timestamp};
use crate::{
    error::{ServiceError, Violation},
    usecase::office::{CounterCheck, OfficeAnswer, OfficeIssue, UpgradeAnswer},
};

fn reference(field: &str, value: &str, problems: &mut Vec<Violation>) -> Option<OfficeReference> {
    OfficeReference::parse(value)
        .map_err(|error| problems.push(Violation::new(field, error.reason(), error.to_string())))
        .ok()
}

pub(super) fn document(
    document: Option<&pb::IdentityDocument>,
    today: time::Date,
    problems: &mut Vec<Violation>,
) -> Option<IdentityDocument> {
    let Some(pb::IdentityDocument {
        kind,
        number,
        issued_by,
        expiry,
    }) = document
    else {
        problems.push(Violation::new(
            "document",
            "MISSING",
            "the identity document checked is required",
        ));
        return None;
    };
    let kind = match pb::IdentityDocumentKind::try_from(*kind) {
        Ok(pb::IdentityDocumentKind::IdentityCard) => DocumentKind::IdentityCard,
        Ok(pb::IdentityDocumentKind::Passport) => DocumentKind::Passport,
        Ok(pb::IdentityDocumentKind::DrivingLicence) => DocumentKind::DrivingLicence,
        Ok(pb::IdentityDocumentKind::Unspecified) | Err(_) => {
            problems.push(Violation::new(
                "document.kind",
                "MISSING",
                "kind must be IDENTITY_CARD, PASSPORT or DRIVING_LICENCE",
            ));
            return None;
        }
    };
    IdentityDocument::parse(kind, number, issued_by, expiry, today)
        .map_err(|found| {
            for problem in found {
                problems.push(Violation::new(
                    format!("document.{}", problem.field),
                    problem.reason,
                    problem.description,
                ));
            }
        })
        .ok()
}

/// The identity check of an office RPC, on the day of `now`, every problem collected.
fn counter_check(
    cf: &str,
    document_field: Option<&pb::IdentityDocument>,
    mv35_reference: &str,
    office_code: &str,
    now: OffsetDateTime,
    problems: &mut Vec<Violation>,
) -> Option<CounterCheck> {
    let cf = codice_fiscale("codice_fiscale", cf)
        .map_err(|error| {
            if let ServiceError::InvalidArgument(found) = error {
                problems.extend(found);
            }
        })
        .ok();
    let document = document(document_field, now.date(), problems);
    let mv35 = reference("mv35_reference", mv35_reference, problems);
    let office = reference("office_code", office_code, problems);
    Some(CounterCheck {
        cf: cf?,
        document: document?,
        mv35: mv35?,
        office: office?,
    })
}

/// An office issuance request, checked on the day of `now`.
pub fn office_issue(
    request: &pb::IssuePinAtOfficeRequest,
    now: OffsetDateTime,
) -> Result<OfficeIssue, ServiceError> {
    let pb::IssuePinAtOfficeRequest {
        request_id: _,
        codice_fiscale,
        document,
        mv35_reference,
        substitution,
        contacts,
        office_code,
    } = request;
    let mut problems = Vec::new();
    let check = counter_check(
        codice_fiscale,
        document.as_ref(),
        mv35_reference,
        office_code,
        now,
        &mut problems,
    );
    let contacts = contact_details("", contacts.as_ref(), &mut problems);
    match check {
        Some(check) if problems.is_empty() => Ok(OfficeIssue {
            check,
            substitution: *substitution,
            contacts,
        }),
        _ => Err(ServiceError::InvalidArgument(problems)),
    }
}

/// An upgrade at the counter, checked on the day of `now`.
pub fn office_upgrade(
    request: pb::UpgradeAtOfficeRequest,
    now: OffsetDateTime,
) -> Result<CounterCheck, ServiceError> {
    let pb::UpgradeAtOfficeRequest {
        request_id: _,
        codice_fiscale,
        document,
        mv35_reference,
        office_code,
    } = request;
    let mut problems = Vec::new();
    let check = counter_check(
        &codice_fiscale,
        document.as_ref(),
        &mv35_reference,
        &office_code,
        now,
        &mut problems,
    );
    match check {
        Some(check) if problems.is_empty() => Ok(check),
        _ => Err(ServiceError::InvalidArgument(problems)),
    }
}

/// The PIN handed over at the counter, or on a replay the note that it is not shown again.
pub fn office_answer_to_pb(answer: OfficeAnswer) -> pb::IssuePinAtOfficeResponse {
    let OfficeAnswer {
        pin,
        first_access_deadline,
        replaced_previous,
    } = answer;
    pb::IssuePinAtOfficeResponse {
        secret_withheld: pin.is_none(),
        pin: pin
            .map(|pin| pin.expose_secret().to_owned())
            .unwrap_or_default(),
        level: level_to_pb(pin_domain::Level::Dispositive).into(),
        first_access_deadline: Some(timestamp(first_access_deadline)),
        replaced_previous,
    }
}

/// The answer to an upgrade.
pub fn upgrade_answer_to_pb(answer: UpgradeAnswer) -> pb::UpgradeAtOfficeResponse {
    pb::UpgradeAtOfficeResponse {
        level: level_to_pb(pin_domain::Level::Dispositive).into(),
        released_applications: answer.released_applications,
    }
}
