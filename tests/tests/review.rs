//! Upgrading through the back office: a holder sends an identity document, a reviewer
//! approves it (the PIN becomes dispositive, held applications are released) or rejects
//! it with a reason, and each submission is decided exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    self as pb, Action, AuthorizeRequest, Decision, DocumentChannel, EventKind, IdentityDocument,
    IdentityDocumentKind, ListPendingReviewsRequest, ReviewIdentityDocumentRequest, ReviewStatus,
    ReviewVerdict, SubmitIdentityDocumentRequest, SubscribeRequest,
    authorization_service_client::AuthorizationServiceClient,
    event_service_client::EventServiceClient, subscribe_response::Detail,
    upgrade_service_client::UpgradeServiceClient,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends, by_operator,
    citizen::{MARIO, activated, session},
    spawn_app, spawn_on,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

fn submission(request_id: &str, session_token: &str) -> SubmitIdentityDocumentRequest {
    SubmitIdentityDocumentRequest {
        request_id: request_id.into(),
        session_token: session_token.into(),
        channel: DocumentChannel::Online.into(),
        document: Some(IdentityDocument {
            kind: IdentityDocumentKind::IdentityCard.into(),
            number: "CA12345AB".into(),
            issued_by: "Comune di Roma".into(),
            expiry: "2031-05-31".into(),
        }),
        scan_reference: "docstore://2026/12/scan-1".into(),
    }
}

async fn submit(app: &TestApp, request: SubmitIdentityDocumentRequest) -> String {
    UpgradeServiceClient::new(app.channel.clone())
        .submit_identity_document(as_role("portal", request))
        .await
        .unwrap()
        .into_inner()
        .review_id
}

async fn decide(
    app: &TestApp,
    request_id: &str,
    review_id: &str,
    verdict: ReviewVerdict,
    note: &str,
) -> Result<pb::ReviewIdentityDocumentResponse, Status> {
    UpgradeServiceClient::new(app.channel.clone())
        .review_identity_document(by_operator(
            as_role(
                "back_office",
                ReviewIdentityDocumentRequest {
                    request_id: request_id.into(),
                    review_id: review_id.into(),
                    verdict: verdict.into(),
                    note: note.into(),
                },
            ),
            "bo.verdi",
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn pending(app: &TestApp) -> Vec<pb::PendingReview> {
    UpgradeServiceClient::new(app.channel.clone())
        .list_pending_reviews(by_operator(
            as_role("back_office", ListPendingReviewsRequest::default()),
            "bo.verdi",
        ))
        .await
        .unwrap()
        .into_inner()
        .reviews
}

async fn an_approved_document_makes_the_pin_dispositive_and_releases_what_was_held(
    backend: Backend,
) {
    let mut app = spawn_app(backend).await;
    let pin = activated(&app).await;
    let token = session(&app, &pin).await;
    let mut authz = AuthorizationServiceClient::new(app.channel.clone());
    let submit_application = |reference: &str| {
        as_role(
            "benefits",
            AuthorizeRequest {
                session_token: token.clone(),
                service_id: "naspi".into(),
                action: Action::Submit.into(),
                application_reference: reference.into(),
            },
        )
    };
    let mut filed = Vec::new();
    for reference in ["NASPI-A", "NASPI-B"] {
        let held = authz
            .authorize(submit_application(reference))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(held.decision(), Decision::Held);
        filed.push((reference.to_owned(), held.filed_at.unwrap()));
    }

    // The holder sends the document; a retry of the upload records it once.
    let review_id = submit(&app, submission("upload-1", &token)).await;
    assert_eq!(
        submit(&app, submission("upload-1", &token)).await,
        review_id
    );
    let queue = pending(&app).await;
    assert_eq!(queue.len(), 1);
    assert_eq!(
        (
            queue[0].review_id.as_str(),
            queue[0].codice_fiscale.as_str()
        ),
        (review_id.as_str(), MARIO)
    );

    // A subscriber follows the log, then goes away before the approval.
    let other = session(&app, &pin).await;
    pin_proto::v1::authentication_service_client::AuthenticationServiceClient::new(
        app.channel.clone(),
    )
    .logout(as_role(
        "portal",
        pb::LogoutRequest {
            session_token: other,
        },
    ))
    .await
    .unwrap();
    let cursor = {
        let mut stream = EventServiceClient::new(app.channel.clone())
            .subscribe(as_role("benefits", SubscribeRequest::default()))
            .await
            .unwrap()
            .into_inner();
        stream.message().await.unwrap().unwrap().cursor
    };

    let approved = decide(&app, "review-1", &review_id, ReviewVerdict::Approve, "")
        .await
        .unwrap();
    assert_eq!(approved.status(), ReviewStatus::Approved);
    assert_eq!(approved.level(), pb::Level::Dispositive);
    assert_eq!(approved.released_applications, 2);
    assert_eq!(
        decide(&app, "review-1", &review_id, ReviewVerdict::Approve, "")
            .await
            .unwrap(),
        approved,
        "a retry answers the same"
    );
    assert!(pending(&app).await.is_empty());
    let allowed = authz
        .authorize(submit_application("NASPI-C"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed.decision(), Decision::Allow);

    // The server restarts; the subscriber comes back with its cursor and gets both
    // releases, with their original filing times, and the upgrade — once.
    let database = app.database.take().unwrap();
    app.stop().await;
    let app = spawn_on(database, &[]).await;
    let mut stream = EventServiceClient::new(app.channel.clone())
        .subscribe(as_role(
            "benefits",
            SubscribeRequest {
                after_cursor: cursor,
                kinds: Vec::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut released = Vec::new();
    for _ in 0..2 {
        let event = stream.message().await.unwrap().unwrap();
        let Some(Detail::ApplicationReleased(application)) = event.detail else {
            panic!("{event:?}")
        };
        released.push((
            application.application_reference,
            application.filed_at.unwrap(),
        ));
    }
    let upgraded = stream.message().await.unwrap().unwrap();
    assert_eq!(upgraded.kind(), EventKind::LevelUpgraded);
    let nothing_more =
        tokio::time::timeout(std::time::Duration::from_millis(600), stream.message()).await;
    assert!(nothing_more.is_err(), "{nothing_more:?}");
    assert_eq!(released, filed);
    app.stop().await;
}
both_backends!(an_approved_document_makes_the_pin_dispositive_and_releases_what_was_held);

async fn a_rejection_needs_a_reason_and_the_holder_may_send_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let pin = activated(&app).await;
    let token = session(&app, &pin).await;
    let review_id = submit(&app, submission("upload-1", &token)).await;
    let missing = decide(&app, "r-1", &review_id, ReviewVerdict::Reject, " ")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    let rejected = decide(
        &app,
        "r-2",
        &review_id,
        ReviewVerdict::Reject,
        "illegible scan",
    )
    .await
    .unwrap();
    assert_eq!(rejected.status(), ReviewStatus::Rejected);
    assert_eq!(rejected.level(), pb::Level::Ordinary);
    let again = decide(&app, "r-3", &review_id, ReviewVerdict::Approve, "")
        .await
        .unwrap_err();
    assert_eq!(
        again.get_details_error_info().unwrap().reason,
        "REVIEW_ALREADY_DECIDED"
    );
    let second = submit(&app, submission("upload-2", &token)).await;
    assert_ne!(second, review_id);
    app.stop().await;
}
both_backends!(a_rejection_needs_a_reason_and_the_holder_may_send_again);

async fn reviewers_deciding_at_the_same_moment_land_exactly_one_decision(backend: Backend) {
    let app = spawn_app(backend).await;
    let pin = activated(&app).await;
    let token = session(&app, &pin).await;
    let review_id = submit(&app, submission("upload-1", &token)).await;
    let decisions = (0..6).map(|n| {
        let (app, review_id) = (&app, review_id.clone());
        async move {
            let (verdict, note) = if n % 2 == 0 {
                (ReviewVerdict::Approve, "")
            } else {
                (ReviewVerdict::Reject, "blurred")
            };
            decide(app, &format!("reviewer-{n}"), &review_id, verdict, note).await
        }
    });
    let outcomes = futures::future::join_all(decisions).await;
    let landed = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(landed, 1, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert_eq!(
            refused.get_details_error_info().unwrap().reason,
            "REVIEW_ALREADY_DECIDED"
        );
    }
    app.stop().await;
}
both_backends!(reviewers_deciding_at_the_same_moment_land_exactly_one_decision);
