//! Identity documents sent for review, and the back office's decisions.

use pin_proto::v1 as pb;
use pin_store::repo::reviews::{DocumentChannel, Review};
use time::OffsetDateTime;

use super::{level_to_pb, office::document, page, timestamp};
use crate::{
    error::{ServiceError, Violation},
    usecase::review::{Decided, Submission, Submitted, Verdict},
};

fn channel_to_pb(channel: DocumentChannel) -> pb::DocumentChannel {
    match channel {
        DocumentChannel::Online => pb::DocumentChannel::Online,
        DocumentChannel::Fax => pb::DocumentChannel::Fax,
    }
}

/// A submission, checked on the day of `now`; returns it with its session token.
pub fn submission(
    request: pb::SubmitIdentityDocumentRequest,
    now: OffsetDateTime,
) -> Result<(String, Submission), ServiceError> {
    let pb::SubmitIdentityDocumentRequest {
        request_id: _,
        session_token,
        channel,
        document: given,
        scan_reference,
    } = request;
    let mut problems = Vec::new();
    let channel = match pb::DocumentChannel::try_from(channel) {
        Ok(pb::DocumentChannel::Online) => Some(DocumentChannel::Online),
        Ok(pb::DocumentChannel::Fax) => Some(DocumentChannel::Fax),
        Ok(pb::DocumentChannel::Unspecified) | Err(_) => {
            problems.push(Violation::new(
                "channel",
                "MISSING",
                "channel must be ONLINE or FAX",
            ));
            None
        }
    };
    let document = document(given.as_ref(), now.date(), &mut problems);
    let scan_reference = scan_reference.trim().to_owned();
    if !(1..=256).contains(&scan_reference.len()) {
        problems.push(Violation::new(
            "scan_reference",
            "MISSING",
            "scan_reference (1-256 characters) names the scan in the document store",
        ));
    }
    match (channel, document) {
        (Some(channel), Some(document)) if problems.is_empty() => Ok((
            session_token,
            Submission {
                channel,
                document,
                scan_reference,
            },
        )),
        _ => Err(ServiceError::InvalidArgument(problems)),
    }
}

/// The answer to a submission.
pub fn submitted_to_pb(submitted: Submitted) -> pb::SubmitIdentityDocumentResponse {
    pb::SubmitIdentityDocumentResponse {
        review_id: submitted.review_id.to_string(),
        status: pb::ReviewStatus::Pending.into(),
    }
}

/// The page size and position of a `ListPendingReviews` request.
pub fn review_page(
    request: pb::ListPendingReviewsRequest,
) -> Result<(Option<i64>, u64), ServiceError> {
    let pb::ListPendingReviewsRequest {
        page_size,
        page_token,
    } = request;
    page(page_size, &page_token, 50, 500)
}

/// A page of pending reviews.
pub fn pending_to_pb(page: Vec<Review>, more: bool) -> pb::ListPendingReviewsResponse {
    let next_page_token = if more {
        page.last().map(|r| r.id.to_string()).unwrap_or_default()
    } else {
        String::new()
    };
    pb::ListPendingReviewsResponse {
        reviews: page
            .into_iter()
            .map(|review| pb::PendingReview {
                review_id: review.id.to_string(),
                codice_fiscale: review.cf.as_str().to_owned(),
                channel: channel_to_pb(review.channel).into(),
                document: Some(pb::IdentityDocument {
                    kind: match review.kind {
                        pin_domain::DocumentKind::IdentityCard => {
                            pb::IdentityDocumentKind::IdentityCard
                        }
                        pin_domain::DocumentKind::Passport => pb::IdentityDocumentKind::Passport,
                        pin_domain::DocumentKind::DrivingLicence => {
                            pb::IdentityDocumentKind::DrivingLicence
                        }
                    }
                    .into(),
                    number: review.number,
                    issued_by: review.issued_by,
                    expiry: review.expiry,
                }),
                scan_reference: review.scan_reference,
                submitted_at: Some(timestamp(review.submitted_at)),
            })
            .collect(),
        next_page_token,
    }
}

/// The review id and verdict of a decision; a rejection needs its reason (1-500
/// characters).
pub fn decision(
    request: &pb::ReviewIdentityDocumentRequest,
) -> Result<(i64, Verdict), ServiceError> {
    let pb::ReviewIdentityDocumentRequest {
        request_id: _,
        review_id,
        verdict,
        note,
    } = request;
    let id = review_id
        .parse::<i64>()
        .map_err(|_| ServiceError::invalid("review_id", "FORMAT", "review_id is not a review"))?;
    let note = note.trim();
    let verdict = match pb::ReviewVerdict::try_from(*verdict) {
        Ok(pb::ReviewVerdict::Approve) => Verdict::Approve,
        Ok(pb::ReviewVerdict::Reject) if (1..=500).contains(&note.len()) => {
            Verdict::Reject(note.to_owned())
        }
        Ok(pb::ReviewVerdict::Reject) => {
            return Err(ServiceError::invalid(
                "note",
                "MISSING",
                "a rejection needs its reason in note (1-500 characters)",
            ));
        }
        Ok(pb::ReviewVerdict::Unspecified) | Err(_) => {
            return Err(ServiceError::invalid(
                "verdict",
                "MISSING",
                "verdict must be APPROVE or REJECT",
            ));
        }
    };
    Ok((id, verdict))
}

/// The answer to a decision.
pub fn decided_to_pb(decided: Decided) -> pb::ReviewIdentityDocumentResponse {
    pb::ReviewIdentityDocumentResponse {
        status: if decided.approved {
            pb::ReviewStatus::Approved
        } else {
            pb::ReviewStatus::Rejected
        }
        .into(),
        level: level_to_pb(if decided.dispositive {
            pin_domain::Level::Dispositive
        } else {
            pin_domain::Level::Ordinary
        })
        .into(),
        released_applications: decided.released_applications,
    }
}
