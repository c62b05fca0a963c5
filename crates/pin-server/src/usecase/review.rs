//! Upgrading a PIN through the back office: the holder sends an identity document online
//! or by fax, a reviewer approves it (the PIN becomes dispositive and held applications are
//! released) or rejects it with a reason. Each submission is decided once, even when two
//! reviewers decide it at the same moment.

use std::collections::BTreeMap;

use pin_domain::{
    AuditAction, AuditOutcome, Event, EventDetail, IdentityDocument, Level, Refusal, UpgradeVia,
};
use pin_store::{
    StoreError,
    repo::{
        credentials,
        proofing::{NewProofing, ProofingChannel},
        reviews::{self, DocumentChannel, NewReview, Review},
    },
};
use serde::{Deserialize, Serialize};

use super::{
    Audit, Call, Change, RequestKey, live_session, office::prove_and_release, once, recorded_as_is,
};
use crate::{error::ServiceError, state::AppState};

const SUBMIT: &str = "inps.pin.v1.UpgradeService/SubmitIdentityDocument";
const REVIEW: &str = "inps.pin.v1.UpgradeService/ReviewIdentityDocument";

/// A document submitted by its holder.
#[derive(Debug, Clone)]
pub struct Submission {
    /// How it arrived.
    pub channel: DocumentChannel,
    /// The document, valid today.
    pub document: IdentityDocument,
    /// Where the scan is kept (1-256 characters).
    pub scan_reference: String,
}

/// The answer to a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// The review's id.
    pub review_id: i64,
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The document is valid and matches the registry.
    Approve,
    /// The document is not acceptable, for this reason.
    Reject(String),
}

/// The answer to a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    /// Approved (else rejected).
    pub approved: bool,
    /// The PIN's level after the decision.
    pub dispositive: bool,
    /// How many held applications the approval released.
    pub released_applications: u32,
}

recorded_as_is!(Submitted, Decided);

/// A holder sends an identity document for review.
pub async fn submit(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    session_token: &str,
    submission: &Submission,
) -> Result<Submitted, ServiceError> {
    once(state, call, key, async {
        let live = live_session(state, call, session_token).await?;
        if live.credential.credential.level == Level::Dispositive {
            return Err(Refusal::AlreadyDispositive.into());
        }
        let cf = &live.session.cf;
        let change = Change::begin_once(state, call, key, SUBMIT).await?;
        let review_id = reviews::submit(
            change.txn(),
            NewReview {
                cf,
                credential_id: live.credential.id,
                channel: submission.channel,
                document: &submission.document,
                scan_reference: &submission.scan_reference,
            },
            call.now,
        )
        .await?;
        change
            .audit(Audit {
                action: AuditAction::SubmitIdentityDocument,
                cf: Some(cf),
                citizen_acts: true,
                outcome: AuditOutcome::Ok,
                details: BTreeMap::from([
                    ("review_id".to_owned(), review_id.to_string()),
                    ("channel".to_owned(), submission.channel.as_str().to_owned()),
                ]),
            })
            .await?;
        let answer = Submitted { review_id };
        change.commit_answer(&answer).await?;
        Ok(answer)
    })
    .await
}

/// Up to `limit` pending reviews after `after_id`, oldest first, and whether more follow.
pub async fn pending(
    state: &AppState,
    after_id: Option<i64>,
    limit: u64,
) -> Result<(Vec<Review>, bool), ServiceError> {
    let mut page = reviews::pending(&state.db, after_id, limit + 1).await?;
    let more = page.len() as u64 > limit;
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((page, more))
}

fn already_decided() -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "REVIEW_ALREADY_DECIDED",
        message: "this review was already decided".to_owned(),
    }
}

/// A reviewer decides a pending review.
pub async fn decide(
    state: &AppState,
    call: &Call,
    key: &RequestKey,
    review_id: i64,
    verdict: &Verdict,
) -> Result<Decided, ServiceError> {
    once(state, call, key, async {
        let mut change = Change::begin_once(state, call, key, REVIEW).await?;
        let now = change.now();
        let review = reviews::get(change.txn(), review_id).await?;
        let reviewer = change.operator_id().unwrap_or_default().to_owned();
        let note = match verdict {
            Verdict::Approve => None,
            Verdict::Reject(reason) => Some(reason.as_str()),
        };
        // The one decision: of two reviewers at the same moment, the second finds the
        // review decided (PostgreSQL re-checks the row after the first commits).
        reviews::decide(
            change.txn(),
            review.id,
            *verdict == Verdict::Approve,
            &reviewer,
            note,
            now,
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict { .. } => already_decided(),
            other => other.into(),
        })?;
        let decided = match verdict {
            Verdict::Reject(_) => Decided {
                approved: false,
                dispositive: false,
                released_applications: 0,
            },
            Verdict::Approve => approve(state, &mut change, &review, &reviewer).await?,
        };
        change
            .audit(Audit {
                action: AuditAction::ReviewIdentityDocument,
                cf: Some(&review.cf),
                citizen_acts: false,
                outcome: if decided.approved {
                    AuditOutcome::Upgraded
                } else {
                    AuditOutcome::Rejected
                },
                details: BTreeMap::from([
                    ("review_id".to_owned(), review.id.to_string()),
                    (
                        "released_applications".to_owned(),
                        decided.released_applications.to_string(),
                    ),
                ]),
            })
            .await?;
        change.commit_answer(&decided).await?;
        Ok(decided)
    })
    .await
}

/// Makes the holder's current PIN dispositive, keeps the proof and releases what was held.
async fn approve(
    state: &AppState,
    change: &mut Change<'_>,
    review: &Review,
    reviewer: &str,
) -> Result<Decided, ServiceError> {
    let now = change.now();
    let document = IdentityDocument::parse(
        review.kind,
        &review.number,
        &review.issued_by,
        &review.expiry,
        now.date(),
    )
    .map_err(|_| ServiceError::FailedPrecondition {
        reason: "DOCUMENT_EXPIRED",
        message: "the document expired before it was reviewed: reject it".to_owned(),
    })?;
    credentials::lock_person(change.txn(), &review.cf).await?;
    let no_live_pin = || ServiceError::FailedPrecondition {
        reason: "NO_LIVE_PIN",
        message: "the holder no longer has a PIN that can be upgraded: reject it".to_owned(),
    };
    let current = credentials::find_current(change.txn(), &review.cf)
        .await?
        .ok_or_else(no_live_pin)?;
    let upgraded = current
        .credential
        .apply(Event::Upgrade, now, &state.policy)
        .map_err(|refusal| match refusal {
            Refusal::AlreadyDispositive => refusal.into(),
            _ => no_live_pin(),
        })?;
    let stored = credentials::update(change.txn(), &current, &upgraded.next, now).await?;
    let released = prove_and_release(
        change,
        NewProofing {
            cf: &review.cf,
            credential_id: stored.id,
            channel: ProofingChannel::Review {
                review_id: review.id,
                channel: review.channel,
            },
            document: &document,
            operator_id: Some(reviewer),
            office: None,
            mv35: None,
        },
    )
    .await?;
    change
        .event(
            &review.cf,
            &EventDetail::LevelUpgraded {
                via: UpgradeVia::DocumentReview,
            },
        )
        .await?;
    Ok(Decided {
        approved: true,
        dispositive: true,
        released_applications: released,
    })
}
