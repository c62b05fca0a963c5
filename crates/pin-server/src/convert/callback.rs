//! The callback queue: pages of cases and operators' resolutions.

use pin_domain::CallbackReason;
use pin_proto::v1 as pb;
use pin_store::repo::callbacks::CaseStatus;

use super::{contact_details, first_half_channel, page, postal_address, timestamp};
use crate::{
    error::{ServiceError, Violation},
    usecase::callback::{CaseView, Resolution},
};

/// The status, page position and size of a `ListCallbackCases` request.
pub fn callback_page(
    request: &pb::ListCallbackCasesRequest,
) -> Result<(CaseStatus, Option<i64>, u64), ServiceError> {
    let pb::ListCallbackCasesRequest {
        status,
        page_size,
        page_token,
    } = request;
    let status = match pb::CallbackCaseStatus::try_from(*status) {
        Ok(pb::CallbackCaseStatus::Unspecified | pb::CallbackCaseStatus::Open) => CaseStatus::Open,
        Ok(pb::CallbackCaseStatus::Issued) => CaseStatus::Issued,
        Ok(pb::CallbackCaseStatus::Rejected) => CaseStatus::Rejected,
        Err(_) => {
            return Err(ServiceError::invalid(
                "status",
                "UNKNOWN_VALUE",
                "status must be OPEN, ISSUED or REJECTED",
            ));
        }
    };
    let (after, limit) = page(*page_size, page_token, 50, 500)?;
    Ok((status, after, limit))
}

fn case_to_pb(view: CaseView) -> pb::CallbackCase {
    let CaseView {
        case,
        family_name,
        given_name,
        opened_by,
        delivery_failure,
    } = view;
    pb::CallbackCase {
        id: case.id.to_string(),
        codice_fiscale: case.cf.as_str().to_owned(),
        status: match case.status {
            CaseStatus::Open => pb::CallbackCaseStatus::Open,
            CaseStatus::Issued => pb::CallbackCaseStatus::Issued,
            CaseStatus::Rejected => pb::CallbackCaseStatus::Rejected,
        }
        .into(),
        reason: match case.reason {
            CallbackReason::AddressMismatch => pb::CallbackReason::AddressMismatch,
            CallbackReason::UnknownPerson => pb::CallbackReason::UnknownPerson,
            CallbackReason::DeliveryFailed => pb::CallbackReason::DeliveryFailed,
        }
        .into(),
        family_name,
        given_name,
        callback_phone: case.callback_phone,
        created_at: Some(timestamp(case.created_at)),
        resolved_at: case.resolved_at.map(timestamp),
        resolved_by: case.resolved_by.unwrap_or_default(),
        resolution_note: case.resolution_note.unwrap_or_default(),
        opened_by,
        delivery_failure,
    }
}

/// A page of cases.
pub fn cases_to_pb(page: Vec<CaseView>, more: bool) -> pb::ListCallbackCasesResponse {
    let next_page_token = match (more, page.last()) {
        (true, Some(last)) => last.case.id.to_string(),
        _ => String::new(),
    };
    pb::ListCallbackCasesResponse {
        cases: page.into_iter().map(case_to_pb).collect(),
        next_page_token,
    }
}

/// The closed case.
pub fn resolved_to_pb(view: CaseView) -> pb::ResolveCallbackCaseResponse {
    pb::ResolveCallbackCaseResponse {
        callback_case: Some(case_to_pb(view)),
    }
}

fn text(field: &str, value: &str, what: &str, problems: &mut Vec<Violation>) -> Option<String> {
    let value = value.trim();
    if (1..=500).contains(&value.chars().count()) {
        Some(value.to_owned())
    } else {
        problems.push(Violation::new(
            field,
            "MISSING",
            format!("{what} is required (1-500 characters)"),
        ));
        None
    }
}

/// The case id and resolution of a `ResolveCallbackCase` request.
pub fn resolution(
    request: &pb::ResolveCallbackCaseRequest,
) -> Result<(i64, Resolution), ServiceError> {
    let pb::ResolveCallbackCaseRequest {
        request_id: _,
        case_id,
        resolution,
    } = request;
    let mut problems = Vec::new();
    let id = case_id
        .parse::<i64>()
        .map_err(|_| {
            problems.push(Violation::new(
                "case_id",
                "FORMAT",
                "case_id is not a case this service listed",
            ));
        })
        .ok();
    let resolution = match resolution {
        Some(pb::resolve_callback_case_request::Resolution::Reject(
            pb::resolve_callback_case_request::Reject { reason },
        )) => text("reject.reason", reason, "the reason", &mut problems)
            .map(|reason| Resolution::Reject { reason }),
        Some(pb::resolve_callback_case_request::Resolution::Issue(
            pb::resolve_callback_case_request::IssuePin {
                note,
                confirmed_residence,
                first_half_channel: channel,
                contacts,
            },
        )) => {
            let note = text("issue.note", note, "what was checked", &mut problems);
            let residence = postal_address(
                "issue.confirmed_residence",
                confirmed_residence.as_ref(),
                &mut problems,
            );
            let contacts = if *channel == i32::from(pb::FirstHalfChannel::Unspecified) {
                Some(None)
            } else {
                let given = contact_details("issue", contacts.as_ref(), &mut problems);
                let channel =
                    first_half_channel("issue.first_half_channel", *channel, &given, &mut problems);
                channel.map(|channel| Some((channel, given)))
            };
            match (note, residence, contacts) {
                (Some(note), Some(confirmed_residence), Some(contacts)) => {
                    Some(Resolution::Issue {
                        note,
                        confirmed_residence,
                        contacts,
                    })
                }
                _ => None,
            }
        }
        None => {
            problems.push(Violation::new(
                "resolution",
                "MISSING",
                "give either issue or reject",
            ));
            None
        }
    };
    match (id, resolution) {
        (Some(id), Some(resolution)) if problems.is_empty() => Ok((id, resolution)),
        _ => Err(ServiceError::InvalidArgument(problems)),
    }
}
