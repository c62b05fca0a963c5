//! Contacts: kinds, values, changes and lists.

use pin_domain::{ContactKind, Email, MobileNumber, Pec, VerificationCode};
use pin_proto::v1 as pb;
use pin_store::repo::{contacts::Contact, from_millis};

use super::{codice_fiscale, timestamp};
use crate::{
    error::{ServiceError, Violation},
    usecase::contacts::{ContactChange, ContactList},
};

fn kind(field: &str, value: i32) -> Result<ContactKind, Violation> {
    match pb::ContactKind::try_from(value) {
        Ok(pb::ContactKind::Mobile) => Ok(ContactKind::Mobile),
        Ok(pb::ContactKind::Email) => Ok(ContactKind::Email),
        Ok(pb::ContactKind::Pec) => Ok(ContactKind::Pec),
        Ok(pb::ContactKind::Unspecified) | Err(_) => Err(Violation::new(
            field,
            "MISSING",
            "kind must be CONTACT_KIND_MOBILE, CONTACT_KIND_EMAIL or CONTACT_KIND_PEC",
        )),
    }
}

fn kind_to_pb(kind: ContactKind) -> pb::ContactKind {
    match kind {
        ContactKind::Mobile => pb::ContactKind::Mobile,
        ContactKind::Email => pb::ContactKind::Email,
        ContactKind::Pec => pb::ContactKind::Pec,
    }
}

/// A contact value of `kind`, in canonical form.
fn value(field: &str, kind: ContactKind, value: &str) -> Result<String, Violation> {
    let parsed = match kind {
        ContactKind::Mobile => MobileNumber::parse(value)
            .map(|m| m.as_str().to_owned())
            .map_err(|e| (e.reason(), e.to_string())),
        ContactKind::Email => Email::parse(value)
            .map(|e| e.as_str().to_owned())
            .map_err(|e| (e.reason(), e.to_string())),
        ContactKind::Pec => Pec::parse(value)
            .map(|p| p.as_str().to_owned())
            .map_err(|e| (e.reason(), e.to_string())),
    };
    parsed.map_err(|(reason, description)| Violation::new(field, reason, description))
}

/// The changes of an `UpdateContacts` request: at most one per kind, each value valid for
/// its kind (empty removes the contact).
pub fn contact_changes(changes: &[pb::ContactChange]) -> Result<Vec<ContactChange>, ServiceError> {
    let mut problems = Vec::new();
    let mut parsed: Vec<ContactChange> = Vec::new();
    if changes.is_empty() {
        problems.push(Violation::new(
            "changes",
            "MISSING",
            "give at least one change",
        ));
    }
    for (i, pb::ContactChange { kind: k, value: v }) in changes.iter().enumerate() {
        let kind = match kind(&format!("changes[{i}].kind"), *k) {
            Ok(kind) => kind,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        if parsed.iter().any(|change| change.kind == kind) {
            problems.push(Violation::new(
                format!("changes[{i}].kind"),
                "DUPLICATE",
                "at most one change per kind of contact",
            ));
            continue;
        }
        let value = if v.trim().is_empty() {
            None
        } else {
            match value(&format!("changes[{i}].value"), kind, v) {
                Ok(value) => Some(value),
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            }
        };
        parsed.push(ContactChange { kind, value });
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(ServiceError::InvalidArgument(problems))
    }
}

/// The kind and code of a `VerifyContact` request.
pub fn contact_code(
    request: &pb::VerifyContactRequest,
) -> Result<(ContactKind, VerificationCode), ServiceError> {
    let kind = kind("kind", request.kind).map_err(|p| ServiceError::InvalidArgument(vec![p]))?;
    let code = VerificationCode::parse(&request.code)
        .map_err(|error| ServiceError::invalid("code", error.reason(), error.to_string()))?;
    Ok((kind, code))
}

/// The codice fiscale, kind and value of an `AddContactByContactCenter` request.
pub fn contact_addition(
    request: &pb::AddContactByContactCenterRequest,
) -> Result<(pin_domain::CodiceFiscale, ContactKind, String), ServiceError> {
    let cf = codice_fiscale("codice_fiscale", &request.codice_fiscale)?;
    let kind = kind("kind", request.kind).map_err(|p| ServiceError::InvalidArgument(vec![p]))?;
    let value =
        value("value", kind, &request.value).map_err(|p| ServiceError::InvalidArgument(vec![p]))?;
    Ok((cf, kind, value))
}

/// Whether an answered contact is of `kind`.
pub fn contact_kind_is(contact: &pb::Contact, kind: ContactKind) -> bool {
    contact.kind == i32::from(kind_to_pb(kind))
}

/// One contact.
pub fn contact_to_pb(contact: &Contact) -> pb::Contact {
    pb::Contact {
        kind: kind_to_pb(contact.kind).into(),
        value: contact.value.clone(),
        verified: contact.verified_at.is_some(),
        verified_at: contact.verified_at.map(timestamp),
    }
}

/// A list of contacts as answered.
pub fn contact_list_to_pb(list: &ContactList) -> Vec<pb::Contact> {
    list.contacts
        .iter()
        .filter_map(|(kind, value, verified_at)| {
            let kind = ContactKind::parse(kind).ok()?;
            let verified_at = verified_at.and_then(|ms| from_millis(ms).ok());
            Some(contact_to_pb(&Contact {
                kind,
                value: value.clone(),
                verified_at,
            }))
        })
        .collect()
}
