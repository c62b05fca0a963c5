//! Ending a PIN: online, confirmed through a single-use link sent to a proven e-mail, or
//! by a contact-center operator. Afterwards the PIN fails like a wrong one, its sessions
//! are refused, subscribers see `PIN_REVOKED` and `SESSIONS_ENDED`, and a new PIN can be
//! requested. The start answers alike whatever the data, and is limited per codice fiscale.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use pin_proto::v1::{
    self as pb, Action, AuthorizeRequest, Channel, CompleteFirstAccessRequest,
    ConfirmOnlineRevocationRequest, Decision, DeliveryPurpose, DenyReason, EventKind,
    FirstHalfChannel, IntrospectSessionRequest, IssuanceOutcome, ListAuditEventsRequest,
    RequestPinOnlineRequest, RevokeByContactCenterRequest, StartOnlineRevocationRequest,
    SubscribeRequest, audit_service_client::AuditServiceClient,
    authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    authorization_service_client::AuthorizationServiceClient,
    event_service_client::EventServiceClient, issuance_service_client::IssuanceServiceClient,
    revocation_service_client::RevocationServiceClient, subscribe_response::Detail,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends, by_operator,
    citizen::{MARIO, authenticate, import_registry, lease_all, mario_request, session},
    spawn_app, spawn_app_with,
};
use tonic::{Code, Status, transport::Channel as GrpcChannel};
use tonic_types::StatusExt;

/// Mario's e-mail: it carries the first half of his PIN, so first access proves it.
const MARIO_EMAIL: &str = "mario.rossi@example.org";
/// Mario's PEC: registered with his request, never proven.
const MARIO_PEC: &str = "mario.rossi@pec.example.org";
/// Mario's health card, as in the sample registry.
const MARIOS_CARD: (&str, &str) = ("80380000000000000001", "2029-06-30");
/// Anna Bianchi: in the registry, holds no PIN.
const ANNA: &str = "BNCNNA50C55F205G";
const ANNAS_CARD: (&str, &str) = ("80380000000000000002", "2027-09-30");
/// A well-formed codice fiscale the registry does not know.
const UNKNOWN: &str = "VRDGPP13R10B293P";
/// Every answer to a start takes at least this long.
const UNIFORM_ANSWER: Duration = Duration::from_millis(250);

/// Mario's online request, with the first half by e-mail and a PEC given as well.
fn mario_by_email(request_id: &str) -> RequestPinOnlineRequest {
    let mut request = mario_request(request_id);
    let applicant = request.applicant.as_mut().unwrap();
    applicant.first_half_channel = FirstHalfChannel::Email.into();
    applicant.contacts.as_mut().unwrap().pec = MARIO_PEC.into();
    request
}

/// The one delivery of `purpose` among `deliveries`.
fn only(deliveries: &[pb::Delivery], purpose: DeliveryPurpose) -> pb::Delivery {
    let matching: Vec<_> = deliveries
        .iter()
        .filter(|d| d.purpose() == purpose)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one {purpose:?} expected: {deliveries:?}"
    );
    matching[0].clone()
}

/// Mario requests a PIN online (`request_id`), the first half by e-mail; both halves are
/// read from the outbox: the 16-character initial PIN.
async fn request_by_email(app: &TestApp, request_id: &str) -> String {
    let answer = IssuanceServiceClient::new(app.channel.clone())
        .request_pin_online(as_role("portal", mario_by_email(request_id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome(), IssuanceOutcome::LetterComing);
    let first = only(
        &lease_all(&app.channel, Channel::Email).await,
        DeliveryPurpose::PinFirstHalf,
    );
    assert_eq!(first.recipient, MARIO_EMAIL);
    let second = only(
        &lease_all(&app.channel, Channel::Post).await,
        DeliveryPurpose::PinSecondHalf,
    );
    assert_eq!((first.secret.len(), second.secret.len()), (8, 8));
    format!("{}{}", first.secret, second.secret)
}

/// First access with the 16-character PIN: the 8-character PIN.
async fn first_access(app: &TestApp, initial: &str) -> String {
    let Outcome::FirstAccessRequired(ticket) = authenticate(app, initial).await.unwrap() else {
        panic!("first access expected")
    };
    AuthenticationServiceClient::new(app.channel.clone())
        .complete_first_access(as_role(
            "portal",
            CompleteFirstAccessRequest {
                ticket: ticket.ticket,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .new_pin
}

/// The registry, and Mario holding an activated PIN whose first half came by e-mail, so
/// that his e-mail is proven: his 8-character PIN. First access also sent a code to his
/// PEC, which stays unproven; that code is taken out of the outbox here.
async fn holder(app: &TestApp) -> String {
    import_registry(app).await;
    let initial = request_by_email(app, "req-1").await;
    let pin = first_access(app, &initial).await;
    let code = only(
        &lease_all(&app.channel, Channel::Pec).await,
        DeliveryPurpose::VerificationCode,
    );
    assert_eq!(code.recipient, MARIO_PEC);
    pin
}

fn start_request(
    request_id: &str,
    codice_fiscale: &str,
    (number, expiry): (&str, &str),
    email_or_pec: &str,
) -> StartOnlineRevocationRequest {
    StartOnlineRevocationRequest {
        request_id: request_id.into(),
        codice_fiscale: codice_fiscale.into(),
        health_card: Some(pb::HealthCard {
            number: number.into(),
            expiry: expiry.into(),
        }),
        email_or_pec: email_or_pec.into(),
    }
}

/// Mario's right data.
fn mario_start(request_id: &str) -> StartOnlineRevocationRequest {
    start_request(request_id, MARIO, MARIOS_CARD, MARIO_EMAIL)
}

/// Starts an online revocation; an accepted start is checked to answer empty and to take
/// at least [`UNIFORM_ANSWER`].
async fn start(app: &TestApp, request: StartOnlineRevocationRequest) -> Result<(), Status> {
    let began = Instant::now();
    let answer = RevocationServiceClient::new(app.channel.clone())
        .start_online_revocation(as_role("portal", request.clone()))
        .await?;
    let took = began.elapsed();
    assert_eq!(answer.into_inner(), pb::StartOnlineRevocationResponse {});
    assert!(
        took >= UNIFORM_ANSWER,
        "answered in {took:?}, before {UNIFORM_ANSWER:?}: {request:?}"
    );
    Ok(())
}

async fn confirm(channel: &GrpcChannel, link_token: &str) -> Result<(), Status> {
    RevocationServiceClient::new(channel.clone())
        .confirm_online_revocation(as_role(
            "portal",
            ConfirmOnlineRevocationRequest {
                link_token: link_token.into(),
            },
        ))
        .await
        .map(|answer| assert_eq!(answer.into_inner(), pb::ConfirmOnlineRevocationResponse {}))
}

/// The revocation links queued since the last lease, of both e-mail channels.
async fn queued_links(app: &TestApp) -> Vec<pb::Delivery> {
    let mut all = lease_all(&app.channel, Channel::Email).await;
    all.extend(lease_all(&app.channel, Channel::Pec).await);
    for delivery in &all {
        assert_eq!(
            delivery.purpose(),
            DeliveryPurpose::RevocationLink,
            "{delivery:?}"
        );
    }
    all
}

/// The token of the one revocation link queued, sent to Mario's proven e-mail.
async fn link_token(app: &TestApp) -> String {
    let links = queued_links(app).await;
    assert_eq!(links.len(), 1, "one revocation link expected: {links:?}");
    let link = &links[0];
    assert_eq!(
        (link.channel(), link.recipient.as_str()),
        (Channel::Email, MARIO_EMAIL)
    );
    assert_eq!(link.secret.len(), 64, "{link:?}");
    assert!(
        link.secret.bytes().all(|b| b.is_ascii_hexdigit()),
        "{link:?}"
    );
    assert!(link.body.contains(&link.secret), "{link:?}");
    link.secret.clone()
}

fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("ErrorInfo expected: {status:?}"))
        .reason
}

fn assert_link_invalid(result: Result<(), Status>) {
    let refused = result.expect_err("the link should be refused");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason(&refused), "LINK_INVALID", "{refused:?}");
}

/// Logging in with `pin` fails exactly like logging in with a wrong PIN.
async fn assert_refused_like_a_wrong_pin(app: &TestApp, pin: &str) {
    let refused = authenticate(app, pin).await.unwrap_err();
    let wrong = authenticate(app, "AAAAAAAA").await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(reason(&refused), "AUTHENTICATION_FAILED", "{refused:?}");
    assert_eq!(
        (refused.code(), refused.message(), reason(&refused)),
        (wrong.code(), wrong.message(), reason(&wrong))
    );
}

async fn is_active(app: &TestApp, session_token: &str) -> bool {
    AuthenticationServiceClient::new(app.channel.clone())
        .introspect_session(as_role(
            "benefits",
            IntrospectSessionRequest {
                session_token: session_token.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .active
}

async fn consult(app: &TestApp, session_token: &str) -> pb::AuthorizeResponse {
    AuthorizationServiceClient::new(app.channel.clone())
        .authorize(as_role(
            "benefits",
            AuthorizeRequest {
                session_token: session_token.into(),
                service_id: "estratto-conto-contributivo".into(),
                action: Action::Consult.into(),
                application_reference: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn assert_session_open(app: &TestApp, session_token: &str) {
    assert!(is_active(app, session_token).await);
    assert_eq!(
        consult(app, session_token).await.decision(),
        Decision::Allow
    );
}

async fn assert_session_refused(app: &TestApp, session_token: &str) {
    assert!(!is_active(app, session_token).await);
    let denied = consult(app, session_token).await;
    assert_eq!(
        (denied.decision(), denied.deny_reason()),
        (Decision::Deny, DenyReason::SessionInvalid)
    );
}

/// Every revocation and sessions-ended event in the log, oldest first.
async fn revocation_events(app: &TestApp) -> Vec<pb::SubscribeResponse> {
    let mut stream = EventServiceClient::new(app.channel.clone())
        .subscribe(as_role(
            "benefits",
            SubscribeRequest {
                after_cursor: 0,
                kinds: vec![
                    EventKind::PinRevoked.into(),
                    EventKind::SessionsEnded.into(),
                ],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(600), stream.message()).await {
        events.push(next.unwrap().expect("the stream stays open"));
    }
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].cursor < pair[1].cursor)
    );
    events
}

/// The events of one revocation of Mario's PIN `via`: `PIN_REVOKED`, then `SESSIONS_ENDED`
/// for the sessions it ended; returns how many.
fn assert_revoked(events: &[pb::SubscribeResponse], via: &str) -> u32 {
    assert_eq!(events.len(), 2, "{events:?}");
    let (revoked, ended) = (&events[0], &events[1]);
    assert_eq!(revoked.kind(), EventKind::PinRevoked, "{events:?}");
    assert_eq!(revoked.codice_fiscale, MARIO);
    let Some(Detail::PinRevoked(detail)) = &revoked.detail else {
        panic!("{revoked:?}")
    };
    assert_eq!(detail.via, via);
    assert_eq!(ended.kind(), EventKind::SessionsEnded, "{events:?}");
    assert_eq!(ended.codice_fiscale, MARIO);
    let Some(Detail::SessionsEnded(detail)) = &ended.detail else {
        panic!("{ended:?}")
    };
    assert_eq!(detail.reason, "PIN_REVOKED");
    assert!(detail.count >= 1, "{ended:?}");
    detail.count
}

async fn online_revocation_ends_the_pin_and_its_sessions_and_a_new_pin_can_be_requested(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let pin = holder(&app).await;
    let open = session(&app, &pin).await;
    assert_session_open(&app, &open).await;
    assert!(revocation_events(&app).await.is_empty());

    start(&app, mario_start("rev-1")).await.unwrap();
    let token = link_token(&app).await;
    // Following the link revokes the PIN.
    confirm(&app.channel, &token).await.unwrap();

    assert_refused_like_a_wrong_pin(&app, &pin).await;
    assert_session_refused(&app, &open).await;
    assert_revoked(&revocation_events(&app).await, "ONLINE");
    // The link worked once.
    assert_link_invalid(confirm(&app.channel, &token).await);

    // A new PIN can be requested online: new halves go out, and they open first access.
    let initial = request_by_email(&app, "req-2").await;
    let new_pin = first_access(&app, &initial).await;
    assert_ne!(new_pin, pin);
    let Outcome::Session(_) = authenticate(&app, &new_pin).await.unwrap() else {
        panic!("the new PIN opens a session")
    };
    assert_refused_like_a_wrong_pin(&app, &pin).await;
    app.stop().await;
}
both_backends!(online_revocation_ends_the_pin_and_its_sessions_and_a_new_pin_can_be_requested);

async fn a_start_answers_alike_whatever_the_data_and_only_the_right_data_sends_a_link(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let pin = holder(&app).await;
    let wrong_number = ("80380000000000000009", MARIOS_CARD.1);
    let wrong_expiry = (MARIOS_CARD.0, "2029-07-31");
    // Five starts for Mario (the hourly limit), one each for two other people.
    for request in [
        start_request("unknown-person", UNKNOWN, MARIOS_CARD, MARIO_EMAIL),
        start_request("no-pin", ANNA, ANNAS_CARD, "anna.bianchi@example.org"),
        start_request("wrong-number", MARIO, wrong_number, MARIO_EMAIL),
        start_request("wrong-expiry", MARIO, wrong_expiry, MARIO_EMAIL),
        start_request("unproven-pec", MARIO, MARIOS_CARD, MARIO_PEC),
        mario_start("right-data"),
        start_request("unknown-email", MARIO, MARIOS_CARD, "someone@example.org"),
    ] {
        start(&app, request).await.unwrap();
    }
    // Only the right data sent a link, to the proven e-mail; nothing went to the PEC.
    let token = link_token(&app).await;
    assert!(revocation_events(&app).await.is_empty());
    let Outcome::Session(_) = authenticate(&app, &pin).await.unwrap() else {
        panic!("nothing was revoked by a start")
    };
    confirm(&app.channel, &token).await.unwrap();
    assert_refused_like_a_wrong_pin(&app, &pin).await;
    app.stop().await;
}
both_backends!(a_start_answers_alike_whatever_the_data_and_only_the_right_data_sends_a_link);

async fn a_newer_link_voids_the_older_one_and_a_retried_start_sends_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let pin = holder(&app).await;
    start(&app, mario_start("rev-1")).await.unwrap();
    let older = link_token(&app).await;
    start(&app, mario_start("rev-2")).await.unwrap();
    let newer = link_token(&app).await;
    assert_ne!(older, newer);
    // A retry of the second start sends nothing new.
    start(&app, mario_start("rev-2")).await.unwrap();
    assert!(queued_links(&app).await.is_empty());

    assert_link_invalid(confirm(&app.channel, &older).await);
    let Outcome::Session(_) = authenticate(&app, &pin).await.unwrap() else {
        panic!("a refused link revokes nothing")
    };
    confirm(&app.channel, &newer).await.unwrap();
    assert_refused_like_a_wrong_pin(&app, &pin).await;
    assert_link_invalid(confirm(&app.channel, &older).await);
    app.stop().await;
}
both_backends!(a_newer_link_voids_the_older_one_and_a_retried_start_sends_nothing);

fn assert_too_many(status: &Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(status), "TOO_MANY_REQUESTS", "{status:?}");
    let retry = status.get_details_retry_info().expect("the time to wait");
    assert!(
        retry
            .retry_delay
            .is_some_and(|delay| delay > Duration::ZERO),
        "{status:?}"
    );
}

async fn more_than_five_starts_an_hour_for_one_codice_fiscale_are_refused_matched_or_not(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    holder(&app).await;
    let wrong_card = ("80380000000000000009", MARIOS_CARD.1);
    for n in 0..5 {
        start(
            &app,
            start_request(&format!("mario-{n}"), MARIO, wrong_card, MARIO_EMAIL),
        )
        .await
        .unwrap();
        start(
            &app,
            start_request(&format!("unknown-{n}"), UNKNOWN, MARIOS_CARD, MARIO_EMAIL),
        )
        .await
        .unwrap();
    }
    // The sixth is refused even with the right data, and sends nothing.
    let mario = start(&app, mario_start("mario-5")).await.unwrap_err();
    assert_too_many(&mario);
    // An unknown codice fiscale is refused alike: the limit says nothing about the person.
    let unknown = start(
        &app,
        start_request("unknown-5", UNKNOWN, MARIOS_CARD, MARIO_EMAIL),
    )
    .await
    .unwrap_err();
    assert_too_many(&unknown);
    assert_eq!(
        (unknown.code(), unknown.message(), reason(&unknown)),
        (mario.code(), mario.message(), reason(&mario))
    );
    // The limit is per codice fiscale.
    start(
        &app,
        start_request("anna-0", ANNA, ANNAS_CARD, "anna.bianchi@example.org"),
    )
    .await
    .unwrap();
    assert!(queued_links(&app).await.is_empty());

    // An hour later Mario may ask again.
    app.clock.advance(time::Duration::minutes(61));
    start(&app, mario_start("mario-6")).await.unwrap();
    link_token(&app).await;
    app.stop().await;
}
both_backends!(more_than_five_starts_an_hour_for_one_codice_fiscale_are_refused_matched_or_not);

async fn concurrent_confirmations_of_one_link_revoke_exactly_once(backend: Backend) {
    const ATTEMPTS: usize = 20;
    let app = spawn_app(backend).await;
    let pin = holder(&app).await;
    session(&app, &pin).await;
    start(&app, mario_start("rev-1")).await.unwrap();
    let token = link_token(&app).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(ATTEMPTS));
    let tasks: Vec<_> = (0..ATTEMPTS)
        .map(|_| {
            let (channel, barrier, token) = (app.channel.clone(), barrier.clone(), token.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                confirm(&channel, &token).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(won, 1, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert_eq!(reason(refused), "LINK_INVALID", "{refused:?}");
    }
    // One revocation: one PIN_REVOKED, one SESSIONS_ENDED.
    assert_revoked(&revocation_events(&app).await, "ONLINE");
    assert_refused_like_a_wrong_pin(&app, &pin).await;
    app.stop().await;
}
both_backends!(concurrent_confirmations_of_one_link_revoke_exactly_once);

fn by_contact_center(
    request_id: &str,
    codice_fiscale: &str,
    why: &str,
) -> RevokeByContactCenterRequest {
    RevokeByContactCenterRequest {
        request_id: request_id.into(),
        codice_fiscale: codice_fiscale.into(),
        reason: why.into(),
    }
}

async fn revoke_as(
    app: &TestApp,
    role: &str,
    request: RevokeByContactCenterRequest,
) -> Result<pb::RevokeByContactCenterResponse, Status> {
    RevocationServiceClient::new(app.channel.clone())
        .revoke_by_contact_center(by_operator(as_role(role, request), "cc.rossi"))
        .await
        .map(tonic::Response::into_inner)
}

async fn a_contact_center_operator_revokes_a_pin_once_for_a_reason(backend: Backend) {
    const WHY: &str = "the caller reports the PIN letter stolen";
    let app = spawn_app(backend).await;
    let pin = holder(&app).await;
    let open = session(&app, &pin).await;

    // Only the contact center may.
    for role in ["portal", "office", "benefits"] {
        let refused = revoke_as(&app, role, by_contact_center("cc-0", MARIO, WHY))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{role}: {refused:?}"
        );
    }
    // The reason is required, 1-500 characters.
    let too_long = "x".repeat(501);
    for (n, why) in ["", "   ", too_long.as_str()].into_iter().enumerate() {
        let refused = revoke_as(
            &app,
            "contact_center",
            by_contact_center(&format!("no-reason-{n}"), MARIO, why),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        let fields: Vec<String> = refused
            .get_details_bad_request()
            .unwrap_or_else(|| panic!("BadRequest expected: {refused:?}"))
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["reason"], "{refused:?}");
    }
    assert_session_open(&app, &open).await;

    let revoked = revoke_as(
        &app,
        "contact_center",
        by_contact_center("cc-1", MARIO, WHY),
    )
    .await
    .unwrap();
    assert!(revoked.sessions_ended >= 1, "{revoked:?}");
    // A retry gets the first answer.
    assert_eq!(
        revoke_as(
            &app,
            "contact_center",
            by_contact_center("cc-1", MARIO, WHY)
        )
        .await
        .unwrap(),
        revoked
    );
    // A new request finds no live PIN; nor for a person who never had one.
    for (request_id, cf) in [("cc-2", MARIO), ("cc-3", ANNA), ("cc-4", UNKNOWN)] {
        let missing = revoke_as(
            &app,
            "contact_center",
            by_contact_center(request_id, cf, WHY),
        )
        .await
        .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{cf}: {missing:?}");
    }

    assert_refused_like_a_wrong_pin(&app, &pin).await;
    assert_session_refused(&app, &open).await;
    let ended = assert_revoked(&revocation_events(&app).await, "CONTACT_CENTER");
    assert_eq!(ended, revoked.sessions_ended);

    // The operator and the reason are in the audit trail.
    let trail = AuditServiceClient::new(app.channel.clone())
        .list_audit_events(as_role(
            "admin",
            ListAuditEventsRequest {
                codice_fiscale: MARIO.into(),
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let recorded: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "REVOKE_BY_CONTACT_CENTER" && e.outcome == "OK")
        .collect();
    assert_eq!(recorded.len(), 1, "{trail:?}");
    assert_eq!(
        (recorded[0].actor_kind(), recorded[0].actor_id.as_str()),
        (pb::ActorKind::Operator, "cc.rossi")
    );
    assert_eq!(
        recorded[0].details.get("reason").map(String::as_str),
        Some(WHY)
    );
    app.stop().await;
}
both_backends!(a_contact_center_operator_revokes_a_pin_once_for_a_reason);

/// A link followed after `lifetime` is refused and revokes nothing; one followed just
/// before works.
async fn links_expire(app: &TestApp, lifetime: time::Duration) {
    let pin = holder(app).await;
    start(app, mario_start("rev-1")).await.unwrap();
    let expired = link_token(app).await;
    app.clock.advance(lifetime + time::Duration::minutes(1));
    assert_link_invalid(confirm(&app.channel, &expired).await);
    let Outcome::Session(_) = authenticate(app, &pin).await.unwrap() else {
        panic!("an expired link revokes nothing")
    };

    start(app, mario_start("rev-2")).await.unwrap();
    let fresh = link_token(app).await;
    app.clock.advance(lifetime - time::Duration::minutes(1));
    confirm(&app.channel, &fresh).await.unwrap();
    assert_refused_like_a_wrong_pin(app, &pin).await;
}

async fn a_link_expires_after_thirty_minutes_by_default(backend: Backend) {
    let app = spawn_app(backend).await;
    links_expire(&app, time::Duration::minutes(30)).await;
    app.stop().await;
}
both_backends!(a_link_expires_after_thirty_minutes_by_default);

async fn a_link_expires_after_the_configured_lifetime(backend: Backend) {
    let app = spawn_app_with(backend, &[("PIN_POLICY__LINK_LIFETIME", "10m")]).await;
    links_expire(&app, time::Duration::minutes(10)).await;
    app.stop().await;
}
both_backends!(a_link_expires_after_the_configured_lifetime);
