//! Recovery requests.

use pin_domain::ContactKind;
use pin_proto::v1 as pb;

use super::{codice_fiscale, contact_details};
use crate::{
    error::{ServiceError, Violation},
    usecase::recovery::RecoveryStart,
};

/// The data of a recovery: codice fiscale, at least two contacts, where the link goes.
pub fn recovery_start(request: &pb::StartRecoveryRequest) -> Result<RecoveryStart, ServiceError> {
    let pb::StartRecoveryRequest {
        request_id: _,
        codice_fiscale: cf,
        contacts,
        link_channel,
    } = request;
    let cf = codice_fiscale("codice_fiscale", cf)?;
    let mut problems = Vec::new();
    let contacts = contact_details("", contacts.as_ref(), &mut problems);
    if problems.is_empty() && contacts.count() < 2 {
        problems.push(Violation::new(
            "contacts",
            "FEWER_THAN_TWO_CONTACTS",
            "recovery needs at least two of the registered contacts (mobile, e-mail, PEC); \
             without them, get a new PIN at an office or revoke this one online",
        ));
    }
    let link_to = match pb::Channel::try_from(*link_channel) {
        Ok(pb::Channel::Unspecified) => None,
        Ok(pb::Channel::Email) => Some(ContactKind::Email),
        Ok(pb::Channel::Pec) => Some(ContactKind::Pec),
        Ok(pb::Channel::Sms | pb::Channel::Post) | Err(_) => {
            problems.push(Violation::new(
                "link_channel",
                "LINK_CHANNEL",
                "the link goes by CHANNEL_EMAIL or CHANNEL_PEC (or leave it unset)",
            ));
            None
        }
    };
    if problems.is_empty() {
        Ok(RecoveryStart {
            cf,
            contacts,
            link_to,
        })
    } else {
        Err(ServiceError::InvalidArgument(problems))
    }
}
