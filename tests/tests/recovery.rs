//! Recovering a lost PIN: codice fiscale plus two **proven** contacts send a single-use
//! link to the e-mail; following it issues a new 16-character PIN at the same level, its
//! first half by SMS and its second half to the e-mail, ends the old PIN and its sessions,
//! and tells every registered contact. The start answers alike, in the same time, whatever
//! matched; the link works once, expires, and is voided by a newer one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pin_proto::v1::{
    self as pb, Channel, CompleteFirstAccessRequest, ConfirmRecoveryRequest, ContactDetails,
    DeliveryPurpose, EventKind, FirstHalfChannel, IdentityDocument, IdentityDocumentKind,
    IntrospectSessionRequest, IssuanceOutcome, RequestPinOnlineRequest,
    RevokeByContactCenterRequest, StartRecoveryRequest, SubscribeRequest, UpgradeAtOfficeRequest,
    authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    event_service_client::EventServiceClient, issuance_service_client::IssuanceServiceClient,
    recovery_service_client::RecoveryServiceClient,
    revocation_service_client::RevocationServiceClient, subscribe_response::Detail,
    upgrade_service_client::UpgradeServiceClient,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends, by_operator,
    citizen::{MARIO, authenticate, import_registry, lease_all, mario_request, session},
    spawn_app, spawn_app_with,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Mario's mobile as he types it, and in the canonical form deliveries carry.
const MARIO_MOBILE: &str = "347 123 4567";
const MARIO_MOBILE_E164: &str = "+393471234567";
/// Mario's e-mail, given with each of his requests.
const MARIO_EMAIL: &str = "mario.rossi@example.org";
/// Mario's PEC, given with some requests and never proven.
const MARIO_PEC: &str = "mario.rossi@pec.example.org";
/// Anna Bianchi: in the registry, holds no PIN.
const ANNA: &str = "BNCNNA50C55F205G";
/// A well-formed codice fiscale the registry does not know.
const UNKNOWN: &str = "VRDGPP13R10B293P";
/// Every start takes at least this long.
const UNIFORM_ANSWER: Duration = Duration::from_millis(250);
/// The link lifetime of the default policy.
const LINK_LIFETIME: time::Duration = time::Duration::minutes(30);

fn contacts(mobile: &str, email: &str, pec: &str) -> Option<ContactDetails> {
    Some(ContactDetails {
        mobile: mobile.into(),
        email: email.into(),
        pec: pec.into(),
    })
}

/// Mario's own mobile and e-mail, as he remembers them.
fn marios_contacts() -> Option<ContactDetails> {
    contacts(MARIO_MOBILE, MARIO_EMAIL, "")
}

/// Mario's online request with the first half by `first_half`, and a PEC if given.
fn mario_online(
    request_id: &str,
    first_half: FirstHalfChannel,
    pec: &str,
) -> RequestPinOnlineRequest {
    let mut request = mario_request(request_id);
    let applicant = request.applicant.as_mut().unwrap();
    applicant.first_half_channel = first_half.into();
    applicant.contacts.as_mut().unwrap().pec = pec.into();
    request
}

/// Empties the outbox: every pending delivery of every channel, acknowledged.
async fn drain(app: &TestApp) -> Vec<pb::Delivery> {
    let mut all = Vec::new();
    for channel in [Channel::Sms, Channel::Email, Channel::Pec, Channel::Post] {
        all.extend(lease_all(&app.channel, channel).await);
    }
    all
}

/// The deliveries of `purpose` among `deliveries`.
fn of(deliveries: &[pb::Delivery], purpose: DeliveryPurpose) -> Vec<pb::Delivery> {
    deliveries
        .iter()
        .filter(|d| d.purpose() == purpose)
        .cloned()
        .collect()
}

/// The one delivery of `purpose` among `deliveries`.
fn only(deliveries: &[pb::Delivery], purpose: DeliveryPurpose) -> pb::Delivery {
    let matching = of(deliveries, purpose);
    assert_eq!(
        matching.len(),
        1,
        "one {purpose:?} expected: {deliveries:?}"
    );
    matching.into_iter().next().unwrap()
}

/// Mario requests a PIN online; both halves are read from the outbox: the 16 characters.
async fn request_pin(app: &TestApp, request: RequestPinOnlineRequest) -> String {
    let first_half = request.applicant.as_ref().unwrap().first_half_channel();
    let answer = IssuanceServiceClient::new(app.channel.clone())
        .request_pin_online(as_role("portal", request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome(), IssuanceOutcome::LetterComing);
    let (channel, recipient) = match first_half {
        FirstHalfChannel::Email => (Channel::Email, MARIO_EMAIL),
        _ => (Channel::Sms, MARIO_MOBILE_E164),
    };
    let first = only(
        &lease_all(&app.channel, channel).await,
        DeliveryPurpose::PinFirstHalf,
    );
    assert_eq!(first.recipient, recipient);
    let second = only(
        &lease_all(&app.channel, Channel::Post).await,
        DeliveryPurpose::PinSecondHalf,
    );
    assert_eq!((first.secret.len(), second.secret.len()), (8, 8));
    format!("{}{}", first.secret, second.secret)
}

/// First access with a 16-character PIN: the 8-character PIN and its session.
async fn first_access(app: &TestApp, initial: &str) -> (String, pb::SessionGrant) {
    let outcome = authenticate(app, initial).await.unwrap();
    let Outcome::FirstAccessRequired(ticket) = outcome else {
        panic!("first access expected, got {outcome:?}")
    };
    let done = AuthenticationServiceClient::new(app.channel.clone())
        .complete_first_access(as_role(
            "portal",
            CompleteFirstAccessRequest {
                ticket: ticket.ticket,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.new_pin.len(), 8);
    (done.new_pin, done.session.unwrap())
}

async fn is_active(app: &TestApp, session_token: &str) -> bool {
    AuthenticationServiceClient::new(app.channel.clone())
        .introspect_session(as_role(
            "portal",
            IntrospectSessionRequest {
                session_token: session_token.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .active
}

/// Mario with two proven contacts, through the RPCs a citizen has today: a first PIN
/// whose first half goes by e-mail (first access proves the e-mail), revoked by the
/// contact center, then a new request with the same contacts and the first half by SMS
/// (first access proves the mobile; the unchanged e-mail stays proven). Returns his
/// 8-character PIN and the session of his last first access; the outbox is empty.
async fn with_two_proven_contacts(app: &TestApp) -> (String, pb::SessionGrant) {
    import_registry(app).await;
    let initial = request_pin(
        app,
        mario_online("proving-email", FirstHalfChannel::Email, ""),
    )
    .await;
    first_access(app, &initial).await;
    RevocationServiceClient::new(app.channel.clone())
        .revoke_by_contact_center(by_operator(
            as_role(
                "contact_center",
                RevokeByContactCenterRequest {
                    request_id: "revoke-for-proving".into(),
                    codice_fiscale: MARIO.into(),
                    reason: "the caller wants a new PIN by SMS".into(),
                },
            ),
            "cc.verdi",
        ))
        .await
        .unwrap();
    let initial = request_pin(
        app,
        mario_online("proving-mobile", FirstHalfChannel::Sms, ""),
    )
    .await;
    let proven = first_access(app, &initial).await;
    drain(app).await;
    proven
}

fn start_request(
    request_id: &str,
    cf: &str,
    contacts: Option<ContactDetails>,
) -> StartRecoveryRequest {
    StartRecoveryRequest {
        request_id: request_id.into(),
        codice_fiscale: cf.into(),
        contacts,
        link_channel: Channel::Unspecified.into(),
    }
}

/// Starts a recovery; also says how long the answer took.
async fn start_timed(
    app: &TestApp,
    request: StartRecoveryRequest,
) -> (Result<(), Status>, Duration) {
    let began = Instant::now();
    let answer = RecoveryServiceClient::new(app.channel.clone())
        .start_recovery(as_role("portal", request))
        .await;
    let took = began.elapsed();
    let answer = answer.map(|answer| {
        assert_eq!(answer.into_inner(), pb::StartRecoveryResponse {});
    });
    (answer, took)
}

/// Starts a recovery that must be answered (never says whether anything matched).
async fn start(app: &TestApp, request: StartRecoveryRequest) -> Duration {
    let (answer, took) = start_timed(app, request).await;
    answer.unwrap();
    assert!(took >= UNIFORM_ANSWER, "answered after {took:?}");
    took
}

/// Mario starts a recovery with his mobile and e-mail; returns the token of the link sent.
async fn link_for_mario(app: &TestApp, request_id: &str) -> String {
    start(app, start_request(request_id, MARIO, marios_contacts())).await;
    let link = only(
        &lease_all(&app.channel, Channel::Email).await,
        DeliveryPurpose::RecoveryLink,
    );
    assert_eq!(link.recipient, MARIO_EMAIL);
    link.secret
}

async fn confirm(app: &TestApp, token: &str) -> Result<(), Status> {
    RecoveryServiceClient::new(app.channel.clone())
        .confirm_recovery(as_role(
            "portal",
            ConfirmRecoveryRequest {
                link_token: token.into(),
            },
        ))
        .await
        .map(|answer| assert_eq!(answer.into_inner(), pb::ConfirmRecoveryResponse {}))
}

/// The `ErrorInfo` reason of a refusal.
fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("ErrorInfo expected: {status:?}"))
        .reason
}

/// What a caller sees of a refusal: code, message and reason.
fn seen(status: &Status) -> (Code, String, String) {
    (status.code(), status.message().to_owned(), reason(status))
}

fn assert_link_invalid(status: &Status) {
    assert_eq!(
        (status.code(), reason(status).as_str()),
        (Code::FailedPrecondition, "LINK_INVALID"),
        "{status:?}"
    );
}

/// Logging in with `pin` fails exactly like logging in with a wrong PIN.
async fn assert_refused_like_a_wrong_pin(app: &TestApp, pin: &str) {
    let refused = authenticate(app, pin).await.unwrap_err();
    let wrong = authenticate(app, "AAAAAAAA").await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(reason(&refused), "AUTHENTICATION_FAILED", "{refused:?}");
    assert_eq!(seen(&refused), seen(&wrong));
}

/// The `PIN_REVOKED` and `SESSIONS_ENDED` events logged so far, oldest first.
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
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(500), stream.message()).await {
        match next.unwrap() {
            Some(event) => events.push(event),
            None => break,
        }
    }
    events
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn a_recovery_replaces_the_pin_at_the_same_level_and_ends_its_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (old_pin, first_session) = with_two_proven_contacts(&app).await;
    // An office makes the PIN dispositive: the recovered one must stay so.
    let upgraded = UpgradeServiceClient::new(app.channel.clone())
        .upgrade_at_office(by_operator(
            as_role(
                "office",
                UpgradeAtOfficeRequest {
                    request_id: "upgrade".into(),
                    codice_fiscale: MARIO.into(),
                    document: Some(IdentityDocument {
                        kind: IdentityDocumentKind::Passport.into(),
                        number: "YA1234567".into(),
                        issued_by: "Questura di Roma".into(),
                        expiry: "2035-06-30".into(),
                    }),
                    mv35_reference: "MV35/2026/0042".into(),
                    office_code: "RM-EUR".into(),
                },
            ),
            "op.bianchi",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(upgraded.level(), pb::Level::Dispositive);
    drain(&app).await;

    // Mario starts a recovery, typing his mobile in another format: the link goes to his
    // e-mail (he registered no PEC), nothing goes to his mobile yet.
    start(
        &app,
        start_request("recovery-1", &MARIO.to_lowercase(), marios_contacts()),
    )
    .await;
    let link = only(
        &lease_all(&app.channel, Channel::Email).await,
        DeliveryPurpose::RecoveryLink,
    );
    assert_eq!(link.recipient, MARIO_EMAIL);
    assert_eq!(link.secret.len(), 64, "{link:?}");
    assert!(
        link.secret.chars().all(|c| c.is_ascii_hexdigit()),
        "{link:?}"
    );
    assert!(link.body.contains(&link.secret), "{link:?}");
    assert!(lease_all(&app.channel, Channel::Sms).await.is_empty());
    assert!(lease_all(&app.channel, Channel::Pec).await.is_empty());
    // Until the link is followed, nothing changes: the old PIN still logs in.
    let second_session = session(&app, &old_pin).await;
    assert!(is_active(&app, &first_session.session_token).await);

    confirm(&app, &link.secret).await.unwrap();

    // The first half goes by SMS to the mobile, the second half to the e-mail the link
    // went to; every registered contact is told.
    let sms = lease_all(&app.channel, Channel::Sms).await;
    let email = lease_all(&app.channel, Channel::Email).await;
    let first = only(&sms, DeliveryPurpose::PinFirstHalf);
    let second = only(&email, DeliveryPurpose::PinSecondHalf);
    assert_eq!(first.recipient, MARIO_MOBILE_E164);
    assert_eq!(second.recipient, MARIO_EMAIL);
    assert_eq!((first.secret.len(), second.secret.len()), (8, 8));
    assert_eq!(
        only(&sms, DeliveryPurpose::Notice).recipient,
        MARIO_MOBILE_E164
    );
    assert_eq!(only(&email, DeliveryPurpose::Notice).recipient, MARIO_EMAIL);
    assert!(
        of(&email, DeliveryPurpose::RecoveryLink).is_empty(),
        "{email:?}"
    );

    // The old PIN fails like a wrong one; its sessions are over.
    assert_refused_like_a_wrong_pin(&app, &old_pin).await;
    assert!(!is_active(&app, &first_session.session_token).await);
    assert!(!is_active(&app, &second_session).await);
    let events = revocation_events(&app).await;
    let recovered = events
        .iter()
        .position(
            |event| matches!(&event.detail, Some(Detail::PinRevoked(how)) if how.via == "RECOVERY"),
        )
        .unwrap_or_else(|| panic!("PIN_REVOKED via RECOVERY expected: {events:?}"));
    assert_eq!(events[recovered].codice_fiscale, MARIO);
    let ended = events
        .get(recovered + 1)
        .unwrap_or_else(|| panic!("SESSIONS_ENDED expected: {events:?}"));
    let Some(Detail::SessionsEnded(ended)) = &ended.detail else {
        panic!("SESSIONS_ENDED expected after the revocation: {events:?}")
    };
    assert_eq!(ended.count, 2, "{events:?}");

    // The new 16 characters open a first access, at the level the old PIN had.
    let new_initial = format!("{}{}", first.secret, second.secret);
    let (new_pin, grant) = first_access(&app, &new_initial).await;
    assert_eq!(grant.level(), pb::Level::Dispositive);
    let again = session(&app, &new_pin).await;
    assert!(is_active(&app, &again).await);

    // The link worked once.
    assert_link_invalid(&confirm(&app, &link.secret).await.unwrap_err());
    app.stop().await;
}
both_backends!(a_recovery_replaces_the_pin_at_the_same_level_and_ends_its_sessions);

async fn a_start_answers_alike_and_sends_nothing_unless_two_proven_contacts_match(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    // Mario proves his mobile only: his e-mail and PEC are registered but unproven, as if
    // someone else had given them in his name.
    let initial = request_pin(
        &app,
        mario_online("request", FirstHalfChannel::Sms, MARIO_PEC),
    )
    .await;
    first_access(&app, &initial).await;
    drain(&app).await;

    let attempts = [
        // Nobody the registry knows.
        start_request("unknown", UNKNOWN, marios_contacts()),
        // In the registry, without a PIN.
        start_request("no-pin", ANNA, marios_contacts()),
        // Mario, with contacts that are not his.
        start_request(
            "wrong",
            MARIO,
            contacts("333 000 0000", "someone@example.org", ""),
        ),
        // Mario's registered e-mail and PEC: both match, neither is proven.
        start_request("unproven", MARIO, contacts("", MARIO_EMAIL, MARIO_PEC)),
        // One proven contact and one unproven.
        start_request("one-proven", MARIO, contacts(MARIO_MOBILE, MARIO_EMAIL, "")),
    ];
    for attempt in attempts {
        start(&app, attempt).await;
    }
    let queued = drain(&app).await;
    assert!(
        of(&queued, DeliveryPurpose::RecoveryLink).is_empty(),
        "no link expected: {queued:?}"
    );
    app.stop().await;
}
both_backends!(a_start_answers_alike_and_sends_nothing_unless_two_proven_contacts_match);

async fn a_start_takes_the_same_time_whether_or_not_anything_matched(backend: Backend) {
    let app = spawn_app(backend).await;
    with_two_proven_contacts(&app).await;
    let (mut unknown, mut wrong, mut matched) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..10 {
        // A new hour each round keeps every codice fiscale under its limit.
        app.clock.advance(time::Duration::minutes(61));
        unknown.push(
            start(
                &app,
                start_request(&format!("unknown-{round}"), UNKNOWN, marios_contacts()),
            )
            .await,
        );
        wrong.push(
            start(
                &app,
                start_request(
                    &format!("wrong-{round}"),
                    MARIO,
                    contacts("333 000 0000", "someone@example.org", ""),
                ),
            )
            .await,
        );
        matched.push(
            start(
                &app,
                start_request(&format!("matched-{round}"), MARIO, marios_contacts()),
            )
            .await,
        );
    }
    let links = of(
        &lease_all(&app.channel, Channel::Email).await,
        DeliveryPurpose::RecoveryLink,
    );
    assert_eq!(links.len(), 10, "one link per matching start");
    let (unknown, wrong, matched) = (median(unknown), median(wrong), median(matched));
    let spread = [unknown, wrong, matched].into_iter().max().unwrap()
        - [unknown, wrong, matched].into_iter().min().unwrap();
    assert!(
        spread < Duration::from_millis(50),
        "medians: unknown {unknown:?}, wrong contacts {wrong:?}, matched {matched:?}"
    );
    app.stop().await;
}
both_backends!(a_start_takes_the_same_time_whether_or_not_anything_matched);

async fn of_concurrent_confirmations_one_wins_and_one_pin_is_issued(backend: Backend) {
    let app = spawn_app(backend).await;
    with_two_proven_contacts(&app).await;
    let token = link_for_mario(&app, "recovery").await;
    let calls = (0..20).map(|_| confirm(&app, &token));
    let outcomes = futures::future::join_all(calls).await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_link_invalid(refused);
    }
    let sms = lease_all(&app.channel, Channel::Sms).await;
    let email = lease_all(&app.channel, Channel::Email).await;
    let first = only(&sms, DeliveryPurpose::PinFirstHalf);
    let second = only(&email, DeliveryPurpose::PinSecondHalf);
    assert_eq!(of(&sms, DeliveryPurpose::Notice).len(), 1, "{sms:?}");
    assert_eq!(of(&email, DeliveryPurpose::Notice).len(), 1, "{email:?}");
    // The halves queued are those of the PIN in force.
    first_access(&app, &format!("{}{}", first.secret, second.secret)).await;
    app.stop().await;
}
both_backends!(of_concurrent_confirmations_one_wins_and_one_pin_is_issued);

async fn voided_used_expired_and_unknown_links_are_refused_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    with_two_proven_contacts(&app).await;
    // A newer link voids the older one.
    let older = link_for_mario(&app, "recovery-1").await;
    let newer = link_for_mario(&app, "recovery-2").await;
    assert_ne!(older, newer);
    let voided = confirm(&app, &older).await.unwrap_err();
    assert_link_invalid(&voided);
    // The newer one works, once.
    confirm(&app, &newer).await.unwrap();
    let used = confirm(&app, &newer).await.unwrap_err();
    assert_link_invalid(&used);
    let unknown = confirm(&app, &"ab".repeat(32)).await.unwrap_err();
    assert_link_invalid(&unknown);
    drain(&app).await;
    // A link not followed within its lifetime (30 minutes by default) has expired.
    let late = link_for_mario(&app, "recovery-3").await;
    app.clock
        .advance(LINK_LIFETIME + time::Duration::seconds(1));
    let expired = confirm(&app, &late).await.unwrap_err();
    assert_link_invalid(&expired);
    for refusal in [&voided, &unknown, &expired] {
        assert_eq!(seen(refusal), seen(&used));
    }
    // Nothing was issued for a refused link.
    let queued = drain(&app).await;
    assert!(
        of(&queued, DeliveryPurpose::PinFirstHalf).is_empty(),
        "{queued:?}"
    );
    app.stop().await;
}
both_backends!(voided_used_expired_and_unknown_links_are_refused_alike);

async fn fewer_than_two_contacts_are_refused_and_starts_are_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    with_two_proven_contacts(&app).await;

    // Fewer than two contacts: refused up front, on `contacts`.
    for (n, given) in [
        None,
        contacts("", "", ""),
        contacts("", MARIO_EMAIL, ""),
        contacts(MARIO_MOBILE, "", ""),
    ]
    .into_iter()
    .enumerate()
    {
        let (answer, _) = start_timed(&app, start_request(&format!("few-{n}"), ANNA, given)).await;
        let status = answer.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            info.metadata.get("contacts").map(String::as_str),
            Some("FEWER_THAN_TWO_CONTACTS"),
            "{status:?}"
        );
        let fields: Vec<String> = status
            .get_details_bad_request()
            .unwrap_or_else(|| panic!("BadRequest expected: {status:?}"))
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["contacts"], "{status:?}");
    }

    // Five starts per codice fiscale per hour, matched or not; a retry is not a new one.
    for cf in [UNKNOWN, MARIO] {
        for n in 0..5 {
            let request_id = format!("{cf}-{n}");
            start(&app, start_request(&request_id, cf, marios_contacts())).await;
            if n == 0 {
                start(&app, start_request(&request_id, cf, marios_contacts())).await;
            }
        }
        let (answer, _) = start_timed(
            &app,
            start_request(&format!("{cf}-5"), cf, marios_contacts()),
        )
        .await;
        let limited = answer.unwrap_err();
        assert_eq!(
            (limited.code(), reason(&limited).as_str()),
            (Code::ResourceExhausted, "TOO_MANY_REQUESTS"),
            "{limited:?}"
        );
        let wait = limited
            .get_details_retry_info()
            .and_then(|info| info.retry_delay)
            .unwrap_or_else(|| panic!("RetryInfo expected: {limited:?}"));
        assert!(wait > Duration::ZERO, "{limited:?}");
        // A retry of an earlier start gets its first answer.
        start(
            &app,
            start_request(&format!("{cf}-0"), cf, marios_contacts()),
        )
        .await;
    }
    // Mario's five starts sent five links (a retry sent nothing), the refused one none.
    let links = of(
        &lease_all(&app.channel, Channel::Email).await,
        DeliveryPurpose::RecoveryLink,
    );
    assert_eq!(links.len(), 5, "{links:?}");

    // An hour later he may ask again.
    app.clock.advance(time::Duration::minutes(61));
    let token = link_for_mario(&app, "after-an-hour").await;
    confirm(&app, &token).await.unwrap();
    app.stop().await;
}
both_backends!(fewer_than_two_contacts_are_refused_and_starts_are_limited);

async fn a_calling_service_is_limited_per_minute_across_codici_fiscali(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PIN_LIMITS__LINK_REQUESTS_PER_CALLER_PER_MINUTE", "3")],
    )
    .await;
    // Three starts for three different people pass; the fourth, for yet another, is
    // refused: the limit is the caller's, whatever the codice fiscale.
    for (n, cf) in [MARIO, ANNA, UNKNOWN].into_iter().enumerate() {
        start(
            &app,
            start_request(&format!("caller-{n}"), cf, marios_contacts()),
        )
        .await;
    }
    let (answer, _) = start_timed(
        &app,
        start_request("caller-3", "SPSGNN48L02F839W", marios_contacts()),
    )
    .await;
    let limited = answer.unwrap_err();
    assert_eq!(
        (limited.code(), reason(&limited).as_str()),
        (Code::ResourceExhausted, "TOO_MANY_REQUESTS")
    );
    assert!(limited.message().contains("caller"), "{limited:?}");
    // A minute later the caller may ask again.
    app.clock.advance(time::Duration::seconds(61));
    start(
        &app,
        start_request("caller-4", "SPSGNN48L02F839W", marios_contacts()),
    )
    .await;
    app.stop().await;
}
both_backends!(a_calling_service_is_limited_per_minute_across_codici_fiscali);

async fn concurrent_starts_for_one_codice_fiscale_cannot_pass_its_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let (channel, barrier) = (app.channel.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                RecoveryServiceClient::new(channel)
                    .start_recovery(as_role(
                        "portal",
                        start_request(&format!("burst-{n}"), UNKNOWN, marios_contacts()),
                    ))
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(status) => assert_eq!(
                (status.code(), reason(&status).as_str()),
                (Code::ResourceExhausted, "TOO_MANY_REQUESTS")
            ),
        }
    }
    assert_eq!(accepted, 5);
    app.stop().await;
}
both_backends!(concurrent_starts_for_one_codice_fiscale_cannot_pass_its_limit);
