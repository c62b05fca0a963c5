//! A holder's contacts: first access proves the contact that carried the first half and
//! sends a six-digit code to every other; the holder proves a contact with its code (once,
//! within its lifetime and five wrong tries, exactly one of concurrent calls); changes need
//! a recent login, send codes to new values and notices to the previous contacts, and never
//! remove the last contact; a contact-center operator adds a contact for a caller who has
//! one already.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use pin_proto::v1::{
    self as pb, AddContactByContactCenterRequest, Channel, ContactChange, ContactKind,
    DeliveryPurpose, GetContactsRequest, ListAuditEventsRequest, UpdateContactsRequest,
    VerifyContactRequest, audit_service_client::AuditServiceClient,
    contacts_service_client::ContactsServiceClient,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends, by_operator,
    citizen::{MARIO, activated, lease_all, session},
    spawn_app,
};
use tonic::{Code, Status, transport::Channel as GrpcChannel};
use tonic_types::StatusExt;

/// Mario's mobile in canonical form: it carried the first half of his PIN.
const MARIO_MOBILE: &str = "+393471234567";
/// Mario's e-mail, given with his request and sent a code at first access.
const MARIO_EMAIL: &str = "mario.rossi@example.org";
/// A PEC for Mario, as typed and in canonical form (the domain lower-cased).
const MARIO_PEC_TYPED: &str = " mario.rossi@PEC.Example.org ";
const MARIO_PEC: &str = "mario.rossi@pec.example.org";
/// The e-mail Mario moves to.
const NEW_EMAIL: &str = "m.rossi@example.com";
/// Another PEC, given by phone.
const OTHER_PEC: &str = "rossi.mario@pec.example.org";
/// Anna Bianchi: in the registry, holds no PIN and has no contacts.
const ANNA: &str = "BNCNNA50C55F205G";
/// The contact-center operator of these tests.
const OPERATOR: &str = "cc.neri";

/// A delivery as these tests compare it: channel, recipient, purpose.
type Sent = (Channel, String, DeliveryPurpose);

/// A contact as these tests compare it: kind, value, verified.
type Seen = (ContactKind, String, bool);

fn sent(channel: Channel, recipient: &str, purpose: DeliveryPurpose) -> Sent {
    (channel, recipient.to_owned(), purpose)
}

fn seen(kind: ContactKind, value: &str, verified: bool) -> Seen {
    (kind, value.to_owned(), verified)
}

fn client(channel: &GrpcChannel) -> ContactsServiceClient<GrpcChannel> {
    ContactsServiceClient::new(channel.clone())
}

/// Every delivery queued since the last lease, on every channel.
async fn queued(app: &TestApp) -> Vec<pb::Delivery> {
    let mut all = Vec::new();
    for channel in [Channel::Sms, Channel::Email, Channel::Pec, Channel::Post] {
        all.extend(lease_all(&app.channel, channel).await);
    }
    all
}

/// The deliveries in comparable form, sorted.
fn summary(deliveries: &[pb::Delivery]) -> Vec<Sent> {
    let mut all: Vec<Sent> = deliveries
        .iter()
        .map(|d| (d.channel(), d.recipient.clone(), d.purpose()))
        .collect();
    all.sort();
    all
}

/// The code carried by the one verification-code delivery to `recipient`.
fn code_to(deliveries: &[pb::Delivery], recipient: &str) -> String {
    let codes: Vec<_> = deliveries
        .iter()
        .filter(|d| d.purpose() == DeliveryPurpose::VerificationCode && d.recipient == recipient)
        .collect();
    assert_eq!(codes.len(), 1, "one code to {recipient}: {deliveries:?}");
    let code = &codes[0];
    assert_eq!(code.secret.len(), 6, "{code:?}");
    assert!(code.secret.bytes().all(|b| b.is_ascii_digit()), "{code:?}");
    assert!(code.body.contains(&code.secret), "{code:?}");
    code.secret.clone()
}

/// A six-digit code other than `code`.
fn other_than(code: &str, offset: u32) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + offset) % 1_000_000)
}

/// Contacts in comparable form, sorted by kind.
fn view(contacts: &[pb::Contact]) -> Vec<Seen> {
    for contact in contacts {
        assert_eq!(
            contact.verified,
            contact.verified_at.is_some(),
            "verified_at is set exactly when verified: {contact:?}"
        );
    }
    let mut all: Vec<Seen> = contacts
        .iter()
        .map(|c| (c.kind(), c.value.clone(), c.verified))
        .collect();
    all.sort();
    all
}

async fn get(app: &TestApp, session_token: &str) -> Vec<Seen> {
    let answer = client(&app.channel)
        .get_contacts(as_role(
            "portal",
            GetContactsRequest {
                session_token: session_token.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    view(&answer.contacts)
}

fn changes(list: &[(ContactKind, &str)]) -> Vec<ContactChange> {
    list.iter()
        .map(|(kind, value)| ContactChange {
            kind: (*kind).into(),
            value: (*value).into(),
        })
        .collect()
}

async fn update(
    app: &TestApp,
    request_id: &str,
    session_token: &str,
    list: &[(ContactKind, &str)],
) -> Result<Vec<Seen>, Status> {
    client(&app.channel)
        .update_contacts(as_role(
            "portal",
            UpdateContactsRequest {
                request_id: request_id.into(),
                session_token: session_token.into(),
                changes: changes(list),
            },
        ))
        .await
        .map(|answer| view(&answer.into_inner().contacts))
}

async fn verify(
    channel: &GrpcChannel,
    session_token: &str,
    kind: ContactKind,
    code: &str,
) -> Result<pb::Contact, Status> {
    client(channel)
        .verify_contact(as_role(
            "portal",
            VerifyContactRequest {
                session_token: session_token.into(),
                kind: kind.into(),
                code: code.into(),
            },
        ))
        .await
        .map(|answer| answer.into_inner().contact.expect("the contact"))
}

fn addition(
    request_id: &str,
    codice_fiscale: &str,
    kind: ContactKind,
    value: &str,
) -> AddContactByContactCenterRequest {
    AddContactByContactCenterRequest {
        request_id: request_id.into(),
        codice_fiscale: codice_fiscale.into(),
        kind: kind.into(),
        value: value.into(),
    }
}

async fn add_by_operator(
    app: &TestApp,
    request: AddContactByContactCenterRequest,
) -> Result<pb::AddContactByContactCenterResponse, Status> {
    client(&app.channel)
        .add_contact_by_contact_center(by_operator(as_role("contact_center", request), OPERATOR))
        .await
        .map(tonic::Response::into_inner)
}

fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("ErrorInfo expected: {status:?}"))
        .reason
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, expected: &str) {
    let refused = result.expect_err(expected);
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason(&refused), expected, "{refused:?}");
}

#[track_caller]
fn assert_code_invalid<T: std::fmt::Debug>(result: Result<T, Status>) {
    assert_refused(result, "CODE_INVALID");
}

/// The fields named by an `INVALID_ARGUMENT` answer.
#[track_caller]
fn invalid_fields<T: std::fmt::Debug>(result: Result<T, Status>) -> Vec<String> {
    let refused = result.expect_err("INVALID_ARGUMENT expected");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    refused
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("BadRequest expected: {refused:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// Mario after first access, logged in, his outbox drained.
struct Holder {
    pin: String,
    token: String,
    /// The code first access sent to his e-mail.
    email_code: String,
}

/// The registry, Mario's request and first access (his mobile carried the first half),
/// and a fresh session; checks that first access sent exactly one code, to his e-mail.
async fn holder(app: &TestApp) -> Holder {
    let pin = activated(app).await;
    let token = session(app, &pin).await;
    let deliveries = queued(app).await;
    assert_eq!(
        summary(&deliveries),
        vec![sent(
            Channel::Email,
            MARIO_EMAIL,
            DeliveryPurpose::VerificationCode
        )],
        "first access sends a code to the unproven e-mail, nothing to the proven mobile"
    );
    let email_code = code_to(&deliveries, MARIO_EMAIL);
    Holder {
        pin,
        token,
        email_code,
    }
}

/// [`holder`], with his e-mail proven as well.
async fn holder_with_both_proven(app: &TestApp) -> Holder {
    let holder = holder(app).await;
    verify(
        &app.channel,
        &holder.token,
        ContactKind::Email,
        &holder.email_code,
    )
    .await
    .unwrap();
    holder
}

async fn first_access_proves_the_first_half_contact_and_sends_a_code_to_the_other(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let Holder {
        token, email_code, ..
    } = holder(&app).await;
    assert_eq!(
        get(&app, &token).await,
        vec![
            seen(ContactKind::Mobile, MARIO_MOBILE, true),
            seen(ContactKind::Email, MARIO_EMAIL, false),
        ]
    );
    // The mobile has no code pending: it was proven by the first half.
    assert_code_invalid(verify(&app.channel, &token, ContactKind::Mobile, &email_code).await);

    let proven = verify(&app.channel, &token, ContactKind::Email, &email_code)
        .await
        .unwrap();
    assert_eq!(
        (proven.kind(), proven.value.as_str(), proven.verified),
        (ContactKind::Email, MARIO_EMAIL, true)
    );
    assert!(proven.verified_at.is_some(), "{proven:?}");
    assert_eq!(
        get(&app, &token).await,
        vec![
            seen(ContactKind::Mobile, MARIO_MOBILE, true),
            seen(ContactKind::Email, MARIO_EMAIL, true),
        ]
    );
    // A code works once.
    assert_code_invalid(verify(&app.channel, &token, ContactKind::Email, &email_code).await);
    assert!(queued(&app).await.is_empty(), "proving sends nothing");
    app.stop().await;
}
both_backends!(first_access_proves_the_first_half_contact_and_sends_a_code_to_the_other);

async fn changes_send_codes_to_new_values_and_notices_to_the_previous_contacts(backend: Backend) {
    let app = spawn_app(backend).await;
    let Holder { token, .. } = holder_with_both_proven(&app).await;

    // A PEC is added: it gets a code, the two contacts Mario had are told.
    let added = update(&app, "u-1", &token, &[(ContactKind::Pec, MARIO_PEC_TYPED)])
        .await
        .unwrap();
    let three = vec![
        seen(ContactKind::Mobile, MARIO_MOBILE, true),
        seen(ContactKind::Email, MARIO_EMAIL, true),
        seen(ContactKind::Pec, MARIO_PEC, false),
    ];
    assert_eq!(added, three);
    let deliveries = queued(&app).await;
    assert_eq!(
        summary(&deliveries),
        vec![
            sent(Channel::Sms, MARIO_MOBILE, DeliveryPurpose::Notice),
            sent(Channel::Email, MARIO_EMAIL, DeliveryPurpose::Notice),
            sent(Channel::Pec, MARIO_PEC, DeliveryPurpose::VerificationCode),
        ]
    );
    let pec_code = code_to(&deliveries, MARIO_PEC);
    for notice in deliveries
        .iter()
        .filter(|d| d.purpose() == DeliveryPurpose::Notice)
    {
        assert!(notice.secret.is_empty(), "a notice carries no secret");
    }

    // A retry of the same request gets the same answer and sends nothing.
    let retried = update(&app, "u-1", &token, &[(ContactKind::Pec, MARIO_PEC_TYPED)])
        .await
        .unwrap();
    assert_eq!(retried, added);
    assert!(queued(&app).await.is_empty(), "a retry sends nothing");
    assert_eq!(get(&app, &token).await, three);

    verify(&app.channel, &token, ContactKind::Pec, &pec_code)
        .await
        .unwrap();

    // Re-submitting an unchanged proven value changes nothing and sends nothing.
    let unchanged = update(
        &app,
        "u-2",
        &token,
        &[(ContactKind::Mobile, "347 123 4567")],
    )
    .await
    .unwrap();
    let all_proven = vec![
        seen(ContactKind::Mobile, MARIO_MOBILE, true),
        seen(ContactKind::Email, MARIO_EMAIL, true),
        seen(ContactKind::Pec, MARIO_PEC, true),
    ];
    assert_eq!(unchanged, all_proven);
    assert!(queued(&app).await.is_empty(), "nothing changed");

    // The e-mail is replaced: the new one is unproven and gets a code; the old one, the
    // mobile and the PEC are told.
    let replaced = update(&app, "u-3", &token, &[(ContactKind::Email, NEW_EMAIL)])
        .await
        .unwrap();
    let moved = vec![
        seen(ContactKind::Mobile, MARIO_MOBILE, true),
        seen(ContactKind::Email, NEW_EMAIL, false),
        seen(ContactKind::Pec, MARIO_PEC, true),
    ];
    assert_eq!(replaced, moved);
    assert_eq!(get(&app, &token).await, moved);
    let deliveries = queued(&app).await;
    assert_eq!(
        summary(&deliveries),
        vec![
            sent(Channel::Sms, MARIO_MOBILE, DeliveryPurpose::Notice),
            sent(Channel::Email, NEW_EMAIL, DeliveryPurpose::VerificationCode),
            sent(Channel::Email, MARIO_EMAIL, DeliveryPurpose::Notice),
            sent(Channel::Pec, MARIO_PEC, DeliveryPurpose::Notice),
        ]
    );
    let first_code = code_to(&deliveries, NEW_EMAIL);

    // Re-submitting the unchanged, still unproven e-mail sends a new code and voids the
    // old one; it is no change, so nobody is told.
    let again = update(&app, "u-4", &token, &[(ContactKind::Email, NEW_EMAIL)])
        .await
        .unwrap();
    assert_eq!(again, moved);
    let deliveries = queued(&app).await;
    assert_eq!(
        summary(&deliveries),
        vec![sent(
            Channel::Email,
            NEW_EMAIL,
            DeliveryPurpose::VerificationCode
        )]
    );
    let second_code = code_to(&deliveries, NEW_EMAIL);
    if second_code != first_code {
        assert_code_invalid(verify(&app.channel, &token, ContactKind::Email, &first_code).await);
    }
    let proven = verify(&app.channel, &token, ContactKind::Email, &second_code)
        .await
        .unwrap();
    assert_eq!((proven.value.as_str(), proven.verified), (NEW_EMAIL, true));

    // Two contacts are removed in one request: one is left; all three are told.
    let removed = update(
        &app,
        "u-5",
        &token,
        &[(ContactKind::Email, ""), (ContactKind::Pec, "")],
    )
    .await
    .unwrap();
    let only_mobile = vec![seen(ContactKind::Mobile, MARIO_MOBILE, true)];
    assert_eq!(removed, only_mobile);
    assert_eq!(get(&app, &token).await, only_mobile);
    assert_eq!(
        summary(&queued(&app).await),
        vec![
            sent(Channel::Sms, MARIO_MOBILE, DeliveryPurpose::Notice),
            sent(Channel::Email, NEW_EMAIL, DeliveryPurpose::Notice),
            sent(Channel::Pec, MARIO_PEC, DeliveryPurpose::Notice),
        ]
    );

    // The last contact is not removed, and nothing is sent.
    assert_refused(
        update(&app, "u-6", &token, &[(ContactKind::Mobile, "")]).await,
        "LAST_CONTACT",
    );
    assert_eq!(get(&app, &token).await, only_mobile);
    assert!(
        queued(&app).await.is_empty(),
        "a refused change sends nothing"
    );
    app.stop().await;
}
both_backends!(changes_send_codes_to_new_values_and_notices_to_the_previous_contacts);

async fn codes_die_after_five_wrong_tries_or_their_lifetime_and_changes_need_a_recent_login(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let Holder {
        pin,
        token,
        email_code,
    } = holder(&app).await;

    // Five wrong tries kill the code: the right one is refused after them.
    for offset in 1..=5 {
        assert_code_invalid(
            verify(
                &app.channel,
                &token,
                ContactKind::Email,
                &other_than(&email_code, offset),
            )
            .await,
        );
    }
    assert_code_invalid(verify(&app.channel, &token, ContactKind::Email, &email_code).await);
    assert_eq!(
        get(&app, &token).await,
        vec![
            seen(ContactKind::Mobile, MARIO_MOBILE, true),
            seen(ContactKind::Email, MARIO_EMAIL, false),
        ]
    );

    // Re-submitting the e-mail sends a new code; four wrong tries leave it working.
    update(&app, "u-1", &token, &[(ContactKind::Email, MARIO_EMAIL)])
        .await
        .unwrap();
    let code = code_to(&queued(&app).await, MARIO_EMAIL);
    for offset in 1..=4 {
        assert_code_invalid(
            verify(
                &app.channel,
                &token,
                ContactKind::Email,
                &other_than(&code, offset),
            )
            .await,
        );
    }
    let proven = verify(&app.channel, &token, ContactKind::Email, &code)
        .await
        .unwrap();
    assert!(proven.verified, "{proven:?}");

    // A code past its lifetime (10 minutes) is refused.
    update(&app, "u-2", &token, &[(ContactKind::Pec, MARIO_PEC)])
        .await
        .unwrap();
    let pec_code = code_to(&queued(&app).await, MARIO_PEC);
    app.clock.advance(time::Duration::minutes(11));
    assert_code_invalid(verify(&app.channel, &token, ContactKind::Pec, &pec_code).await);

    // The session, opened 11 minutes ago, is still alive (idle timeout 30 minutes) but too
    // old to change contacts; nothing changes, nothing is sent.
    let before = get(&app, &token).await;
    assert_eq!(
        before,
        vec![
            seen(ContactKind::Mobile, MARIO_MOBILE, true),
            seen(ContactKind::Email, MARIO_EMAIL, true),
            seen(ContactKind::Pec, MARIO_PEC, false),
        ]
    );
    assert_refused(
        update(&app, "u-3", &token, &[(ContactKind::Pec, MARIO_PEC)]).await,
        "LOGIN_TOO_OLD",
    );
    assert_refused(
        update(&app, "u-4", &token, &[(ContactKind::Email, NEW_EMAIL)]).await,
        "LOGIN_TOO_OLD",
    );
    assert_eq!(get(&app, &token).await, before);
    assert!(
        queued(&app).await.is_empty(),
        "a refused change sends nothing"
    );

    // Logged in again, Mario asks for a new PEC code and proves it 9 minutes later, within
    // its lifetime.
    let fresh = session(&app, &pin).await;
    update(&app, "u-5", &fresh, &[(ContactKind::Pec, MARIO_PEC)])
        .await
        .unwrap();
    let pec_code = code_to(&queued(&app).await, MARIO_PEC);
    app.clock.advance(time::Duration::minutes(9));
    let proven = verify(&app.channel, &fresh, ContactKind::Pec, &pec_code)
        .await
        .unwrap();
    assert_eq!((proven.value.as_str(), proven.verified), (MARIO_PEC, true));
    app.stop().await;
}
both_backends!(codes_die_after_five_wrong_tries_or_their_lifetime_and_changes_need_a_recent_login);

async fn of_concurrent_calls_with_the_right_code_exactly_one_succeeds(backend: Backend) {
    const ATTEMPTS: usize = 20;
    let app = spawn_app(backend).await;
    let Holder {
        token, email_code, ..
    } = holder(&app).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(ATTEMPTS));
    let tasks: Vec<_> = (0..ATTEMPTS)
        .map(|_| {
            let (channel, barrier, token, code) = (
                app.channel.clone(),
                barrier.clone(),
                token.clone(),
                email_code.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                verify(&channel, &token, ContactKind::Email, &code).await
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
        assert_eq!(reason(refused), "CODE_INVALID", "{refused:?}");
    }
    assert_eq!(
        get(&app, &token).await,
        vec![
            seen(ContactKind::Mobile, MARIO_MOBILE, true),
            seen(ContactKind::Email, MARIO_EMAIL, true),
        ]
    );
    app.stop().await;
}
both_backends!(of_concurrent_calls_with_the_right_code_exactly_one_succeeds);

async fn a_contact_center_operator_adds_a_contact_for_a_caller_who_has_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let Holder { token, .. } = holder_with_both_proven(&app).await;

    let added = add_by_operator(&app, addition("cc-1", MARIO, ContactKind::Pec, MARIO_PEC))
        .await
        .unwrap();
    let contact = added.contact.clone().expect("the added contact");
    assert_eq!(
        (contact.kind(), contact.value.as_str(), contact.verified),
        (ContactKind::Pec, MARIO_PEC, false)
    );
    assert!(contact.verified_at.is_none(), "{contact:?}");
    let deliveries = queued(&app).await;
    assert_eq!(
        summary(&deliveries),
        vec![
            sent(Channel::Sms, MARIO_MOBILE, DeliveryPurpose::Notice),
            sent(Channel::Email, MARIO_EMAIL, DeliveryPurpose::Notice),
            sent(Channel::Pec, MARIO_PEC, DeliveryPurpose::VerificationCode),
        ]
    );
    let pec_code = code_to(&deliveries, MARIO_PEC);

    // A retry gets the same answer and sends nothing.
    let retried = add_by_operator(&app, addition("cc-1", MARIO, ContactKind::Pec, MARIO_PEC))
        .await
        .unwrap();
    assert_eq!(retried, added);
    assert!(queued(&app).await.is_empty(), "a retry sends nothing");

    // Mario proves it with the code.
    assert_eq!(
        get(&app, &token).await,
        vec![
            seen(ContactKind::Mobile, MARIO_MOBILE, true),
            seen(ContactKind::Email, MARIO_EMAIL, true),
            seen(ContactKind::Pec, MARIO_PEC, false),
        ]
    );
    verify(&app.channel, &token, ContactKind::Pec, &pec_code)
        .await
        .unwrap();

    // The operator is in the audit trail.
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
        .filter(|e| e.action == "ADD_CONTACT_BY_CONTACT_CENTER" && e.outcome == "OK")
        .collect();
    assert_eq!(recorded.len(), 1, "{trail:?}");
    assert_eq!(
        (recorded[0].actor_kind(), recorded[0].actor_id.as_str()),
        (pb::ActorKind::Operator, OPERATOR)
    );

    // A person without contacts cannot be given one by phone.
    assert_refused(
        add_by_operator(
            &app,
            addition("cc-2", ANNA, ContactKind::Email, "anna.bianchi@example.org"),
        )
        .await,
        "NO_CONTACT",
    );

    // Only the contact center may call it.
    let denied = client(&app.channel)
        .add_contact_by_contact_center(by_operator(
            as_role(
                "portal",
                addition("cc-3", MARIO, ContactKind::Email, NEW_EMAIL),
            ),
            OPERATOR,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(queued(&app).await.is_empty(), "refusals send nothing");
    assert_eq!(
        get(&app, &token).await,
        vec![
            seen(ContactKind::Mobile, MARIO_MOBILE, true),
            seen(ContactKind::Email, MARIO_EMAIL, true),
            seen(ContactKind::Pec, MARIO_PEC, true),
        ]
    );
    app.stop().await;
}
both_backends!(a_contact_center_operator_adds_a_contact_for_a_caller_who_has_one);

async fn malformed_requests_are_refused_field_by_field_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let Holder {
        token, email_code, ..
    } = holder(&app).await;
    let before = get(&app, &token).await;

    let duplicate = update(
        &app,
        "bad-1",
        &token,
        &[
            (ContactKind::Email, "a@example.org"),
            (ContactKind::Email, "b@example.org"),
        ],
    )
    .await;
    assert_eq!(invalid_fields(duplicate), vec!["changes[1].kind"]);
    assert_eq!(
        invalid_fields(update(&app, "bad-2", &token, &[]).await),
        vec!["changes"]
    );
    assert_eq!(
        invalid_fields(
            update(
                &app,
                "bad-3",
                &token,
                &[(ContactKind::Email, "not-an-email")]
            )
            .await
        ),
        vec!["changes[0].value"]
    );
    assert_eq!(
        invalid_fields(
            update(
                &app,
                "bad-4",
                &token,
                &[(ContactKind::Mobile, "06 1234 5678")]
            )
            .await
        ),
        vec!["changes[0].value"]
    );
    assert_eq!(
        invalid_fields(
            update(
                &app,
                "bad-5",
                &token,
                &[(ContactKind::Unspecified, "x@example.org")],
            )
            .await
        ),
        vec!["changes[0].kind"]
    );

    for code in ["12345", "1234567", "12a456", ""] {
        assert_eq!(
            invalid_fields(verify(&app.channel, &token, ContactKind::Email, code).await),
            vec!["code"],
            "code {code:?}"
        );
    }
    assert_eq!(
        invalid_fields(verify(&app.channel, &token, ContactKind::Unspecified, &email_code).await),
        vec!["kind"]
    );

    assert_eq!(
        invalid_fields(
            add_by_operator(&app, addition("bad-6", MARIO, ContactKind::Email, "mario@")).await
        ),
        vec!["value"]
    );
    assert_eq!(
        invalid_fields(
            add_by_operator(
                &app,
                addition("bad-7", MARIO, ContactKind::Unspecified, MARIO_PEC),
            )
            .await
        ),
        vec!["kind"]
    );

    // Nothing changed, nothing was sent, and the malformed codes cost no try: the code
    // still works.
    assert_eq!(get(&app, &token).await, before);
    assert!(queued(&app).await.is_empty(), "refusals send nothing");
    verify(&app.channel, &token, ContactKind::Email, &email_code)
        .await
        .unwrap();
    app.stop().await;
}
both_backends!(malformed_requests_are_refused_field_by_field_and_change_nothing);

/// The contacts proto: "A contact counts — for recovery, revocation and notices — only once
/// proven". An unproven contact (which may be an impostor's, given with the request) is not
/// told of changes, whether made by the holder or by the contact center.
async fn notices_go_only_to_proven_contacts(backend: Backend) {
    let app = spawn_app(backend).await;
    // Mario's mobile is proven, his e-mail is not.
    let Holder { token, .. } = holder(&app).await;

    update(&app, "u-1", &token, &[(ContactKind::Pec, MARIO_PEC)])
        .await
        .unwrap();
    let by_holder = summary(&queued(&app).await);

    add_by_operator(&app, addition("cc-1", MARIO, ContactKind::Pec, OTHER_PEC))
        .await
        .unwrap();
    let by_operator = summary(&queued(&app).await);

    assert_eq!(
        (by_holder, by_operator),
        (
            vec![
                sent(Channel::Sms, MARIO_MOBILE, DeliveryPurpose::Notice),
                sent(Channel::Pec, MARIO_PEC, DeliveryPurpose::VerificationCode),
            ],
            vec![
                sent(Channel::Sms, MARIO_MOBILE, DeliveryPurpose::Notice),
                sent(Channel::Pec, OTHER_PEC, DeliveryPurpose::VerificationCode),
            ],
        ),
        "notices only to the proven mobile, not to the unproven e-mail or PEC"
    );
    app.stop().await;
}
both_backends!(notices_go_only_to_proven_contacts);

/// The answer of `AddContactByContactCenter` is "the added contact": its kind, even when
/// another kind of contact has the same address.
async fn the_contact_center_answers_with_the_contact_of_the_kind_it_added(backend: Backend) {
    let app = spawn_app(backend).await;
    let Holder { token, .. } = holder_with_both_proven(&app).await;
    // The PEC given has the address of Mario's proven e-mail.
    let added = add_by_operator(&app, addition("cc-1", MARIO, ContactKind::Pec, MARIO_EMAIL))
        .await
        .unwrap()
        .contact
        .expect("the added contact");
    assert_eq!(
        (added.kind(), added.value.as_str(), added.verified),
        (ContactKind::Pec, MARIO_EMAIL, false),
        "{added:?}"
    );
    assert_eq!(
        get(&app, &token).await,
        vec![
            seen(ContactKind::Mobile, MARIO_MOBILE, true),
            seen(ContactKind::Email, MARIO_EMAIL, true),
            seen(ContactKind::Pec, MARIO_EMAIL, false),
        ]
    );
    app.stop().await;
}
both_backends!(the_contact_center_answers_with_the_contact_of_the_kind_it_added);
