//! The contact center's callback queue: requests filed by an operator, cases opened by a
//! registry check that failed or by a PIN half that could not be delivered, and their
//! resolution — a PIN issued as for a matched online request, or a rejection — exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use pin_proto::v1::{
    self as pb, AckDeliveryRequest, Applicant, CallbackCase, CallbackCaseStatus, CallbackReason,
    Channel, CompleteFirstAccessRequest, ContactDetails, DeliveryPurpose, DeliveryResult,
    EventKind, FirstHalfChannel, IssuanceOutcome, LeaseDeliveriesRequest, ListCallbackCasesRequest,
    ListCallbackCasesResponse, PostalAddress, RequestPinByContactCenterRequest,
    RequestPinByContactCenterResponse, ResolveCallbackCaseRequest, SubscribeRequest,
    authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    callback_service_client::CallbackServiceClient,
    delivery_service_client::DeliveryServiceClient,
    event_service_client::EventServiceClient,
    issuance_service_client::IssuanceServiceClient,
    resolve_callback_case_request::{IssuePin, Reject, Resolution},
    subscribe_response::Detail,
};
use pin_tests::{
    Backend, TestApp, as_role, both_backends, by_operator,
    citizen::{MARIO, authenticate, import_registry, lease_all, lease_one, mario_request, session},
    spawn_app,
};
use tonic::{Code, Status, transport::Channel as GrpcChannel};
use tonic_types::StatusExt;

/// The operator at the contact-center desk.
const OPERATOR: &str = "cc.bianchi";
/// A colleague working the same queue.
const COLLEAGUE: &str = "cc.ferrari";
/// Anna Bianchi, another person of the sample registry.
const ANNA: &str = "BNCNNA50C55F205G";
/// A valid codice fiscale that agrees with its data but is not in the registry.
const STRANGER: &str = "VRDGPP13R10B293P";

// ---------------------------------------------------------------------------------------
// Requests and addresses.
// ---------------------------------------------------------------------------------------

/// Mario's residence as the registry has it.
fn mario_registry_address() -> PostalAddress {
    PostalAddress {
        street: "Via Giuseppe Verdi".into(),
        number: "10".into(),
        cap: "00184".into(),
        municipality: "Roma".into(),
        province: "RM".into(),
    }
}

/// Anna's residence as the registry has it.
fn anna_registry_address() -> PostalAddress {
    PostalAddress {
        street: "Corso Buenos Aires".into(),
        number: "12".into(),
        cap: "20124".into(),
        municipality: "Milano".into(),
        province: "MI".into(),
    }
}

/// An address the registry has for nobody of the sample.
fn elsewhere() -> PostalAddress {
    PostalAddress {
        street: "Via Nazionale".into(),
        number: "1".into(),
        cap: "00184".into(),
        municipality: "Roma".into(),
        province: "RM".into(),
    }
}

/// Mario's data as told on the phone, with `applicant` adjusted.
fn by_phone(
    request_id: &str,
    adjust: impl FnOnce(&mut Applicant),
) -> RequestPinByContactCenterRequest {
    let mut applicant = mario_request(request_id).applicant.unwrap();
    adjust(&mut applicant);
    RequestPinByContactCenterRequest {
        request_id: request_id.into(),
        applicant: Some(applicant),
    }
}

/// Mario on the phone, stating his registry address (written differently).
fn mario_matching(request_id: &str) -> RequestPinByContactCenterRequest {
    by_phone(request_id, |_| {})
}

/// Mario on the phone, stating an address the registry does not have for him.
fn mario_moved(request_id: &str) -> RequestPinByContactCenterRequest {
    by_phone(request_id, |a| a.residence = Some(elsewhere()))
}

/// Anna on the phone, stating an address the registry does not have for her.
fn anna_moved(request_id: &str) -> RequestPinByContactCenterRequest {
    by_phone(request_id, |a| {
        a.codice_fiscale = ANNA.into();
        a.family_name = "Bianchi".into();
        a.given_name = "Anna".into();
        a.sex = pb::Sex::Female.into();
        a.birth_date = "1950-03-15".into();
        a.residence = Some(PostalAddress {
            street: "Via Torino".into(),
            number: "5".into(),
            cap: "20123".into(),
            municipality: "Milano".into(),
            province: "MI".into(),
        });
        a.callback_phone = "02 8765 4321".into();
        a.contacts = Some(ContactDetails {
            mobile: "348 765 4321".into(),
            email: "anna.bianchi@example.org".into(),
            pec: String::new(),
        });
    })
}

/// Someone the registry does not know, on the phone.
fn stranger(request_id: &str) -> RequestPinByContactCenterRequest {
    by_phone(request_id, |a| {
        a.codice_fiscale = STRANGER.into();
        a.family_name = "Verdi".into();
        a.given_name = "Giuseppe".into();
        a.birth_date = "1913-10-10".into();
    })
}

fn approve(note: &str, residence: Option<PostalAddress>) -> Resolution {
    Resolution::Issue(IssuePin {
        note: note.into(),
        confirmed_residence: residence,
        first_half_channel: FirstHalfChannel::Unspecified.into(),
        contacts: None,
    })
}

fn reject(reason: &str) -> Resolution {
    Resolution::Reject(Reject {
        reason: reason.into(),
    })
}

/// Only the digits of a phone number (the server may store it normalised).
fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

// ---------------------------------------------------------------------------------------
// Calls.
// ---------------------------------------------------------------------------------------

async fn file(
    app: &TestApp,
    operator: &str,
    request: RequestPinByContactCenterRequest,
) -> Result<RequestPinByContactCenterResponse, Status> {
    IssuanceServiceClient::new(app.channel.clone())
        .request_pin_by_contact_center(by_operator(as_role("contact_center", request), operator))
        .await
        .map(tonic::Response::into_inner)
}

/// Files a request whose registry check fails: the id of the case opened.
async fn file_for_callback(app: &TestApp, request: RequestPinByContactCenterRequest) -> String {
    let answer = file(app, OPERATOR, request).await.unwrap();
    assert_eq!(answer.outcome(), IssuanceOutcome::CallbackScheduled);
    assert!(!answer.callback_case_id.is_empty(), "{answer:?}");
    answer.callback_case_id
}

async fn list(
    app: &TestApp,
    status: CallbackCaseStatus,
    page_size: u32,
    page_token: &str,
) -> Result<ListCallbackCasesResponse, Status> {
    CallbackServiceClient::new(app.channel.clone())
        .list_callback_cases(by_operator(
            as_role(
                "contact_center",
                ListCallbackCasesRequest {
                    status: status.into(),
                    page_size,
                    page_token: page_token.into(),
                },
            ),
            OPERATOR,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// The whole first page of cases in `status` (UNSPECIFIED: the open ones).
async fn cases(app: &TestApp, status: CallbackCaseStatus) -> Vec<CallbackCase> {
    let page = list(app, status, 0, "").await.unwrap();
    assert!(page.next_page_token.is_empty(), "{page:?}");
    page.cases
}

async fn resolve(
    channel: &GrpcChannel,
    operator: &str,
    request_id: &str,
    case_id: &str,
    resolution: Option<Resolution>,
) -> Result<CallbackCase, Status> {
    CallbackServiceClient::new(channel.clone())
        .resolve_callback_case(by_operator(
            as_role(
                "contact_center",
                ResolveCallbackCaseRequest {
                    request_id: request_id.into(),
                    case_id: case_id.into(),
                    resolution,
                },
            ),
            operator,
        ))
        .await
        .map(|answer| answer.into_inner().callback_case.expect("the closed case"))
}

/// The `ErrorInfo` reason of a refusal.
fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("ErrorInfo expected: {status:?}"))
        .reason
}

/// The fields a refusal names.
fn fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("BadRequest expected: {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert!(!fields.is_empty(), "{status:?}");
    fields
}

fn assert_refused(outcome: Result<CallbackCase, Status>, code: Code, why: &str) {
    let status = outcome.expect_err(why);
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (code, why),
        "{status:?}"
    );
}

/// Nothing is waiting in the outbox for a PIN half, on any channel.
async fn assert_no_pin_halves(app: &TestApp) {
    for kind in [Channel::Sms, Channel::Email, Channel::Post] {
        let halves: Vec<_> = lease_all(&app.channel, kind)
            .await
            .into_iter()
            .filter(|d| {
                matches!(
                    d.purpose(),
                    DeliveryPurpose::PinFirstHalf | DeliveryPurpose::PinSecondHalf
                )
            })
            .collect();
        assert!(halves.is_empty(), "{kind:?}: {halves:?}");
    }
}

/// Reads one half of each kind from the outbox: the SMS to `mobile` and the letter to
/// `street`; returns the 16-character initial PIN they form.
async fn halves_by_sms_and_post(app: &TestApp, mobile: &str, street: &str) -> String {
    let first = lease_one(&app.channel, Channel::Sms).await;
    assert_eq!(first.recipient, mobile);
    assert_eq!(first.purpose(), DeliveryPurpose::PinFirstHalf);
    let second = lease_one(&app.channel, Channel::Post).await;
    assert_eq!(second.purpose(), DeliveryPurpose::PinSecondHalf);
    assert!(second.recipient.contains(street), "{}", second.recipient);
    assert_eq!((first.secret.len(), second.secret.len()), (8, 8));
    format!("{}{}", first.secret, second.secret)
}

/// Mario's first access with a 16-character initial PIN: his 8-character PIN.
async fn first_access(app: &TestApp, initial: &str) -> String {
    let Outcome::FirstAccessRequired(ticket) = authenticate(app, initial).await.unwrap() else {
        panic!("first access expected")
    };
    let new_pin = AuthenticationServiceClient::new(app.channel.clone())
        .complete_first_access(as_role(
            "portal",
            CompleteFirstAccessRequest {
                ticket: ticket.ticket,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .new_pin;
    assert_eq!(new_pin.len(), 8);
    new_pin
}

// ---------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------

async fn a_matched_contact_center_request_sends_both_halves_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let answer = file(&app, OPERATOR, mario_matching("cc-1")).await.unwrap();
    assert_eq!(answer.outcome(), IssuanceOutcome::LetterComing);
    assert!(answer.callback_case_id.is_empty(), "{answer:?}");
    assert!(answer.warnings.is_empty(), "two contacts were given");
    // The operator's retry gets the same answer and queues nothing new.
    assert_eq!(
        file(&app, OPERATOR, mario_matching("cc-1")).await.unwrap(),
        answer
    );
    assert!(
        cases(&app, CallbackCaseStatus::Unspecified)
            .await
            .is_empty()
    );
    let initial = halves_by_sms_and_post(&app, "+393471234567", "Via Giuseppe Verdi 10").await;
    let pin = first_access(&app, &initial).await;
    session(&app, &pin).await;
    app.stop().await;
}
both_backends!(a_matched_contact_center_request_sends_both_halves_at_once);

async fn a_mismatched_request_is_called_back_and_approved_with_the_registry_address(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let answer = file(&app, OPERATOR, mario_moved("cc-1")).await.unwrap();
    assert_eq!(answer.outcome(), IssuanceOutcome::CallbackScheduled);
    assert!(!answer.callback_case_id.is_empty(), "{answer:?}");
    // A retry with the same request id names the same case and opens no other.
    assert_eq!(
        file(&app, OPERATOR, mario_moved("cc-1")).await.unwrap(),
        answer
    );
    assert_no_pin_halves(&app).await;

    let queue = cases(&app, CallbackCaseStatus::Unspecified).await;
    assert_eq!(queue.len(), 1, "{queue:?}");
    let case = &queue[0];
    assert_eq!(case.id, answer.callback_case_id);
    assert_eq!(case.codice_fiscale, MARIO);
    assert_eq!(case.status(), CallbackCaseStatus::Open);
    assert_eq!(case.reason(), CallbackReason::AddressMismatch);
    assert_eq!(digits(&case.callback_phone), "0612345678");
    assert_eq!(
        (case.family_name.as_str(), case.given_name.as_str()),
        ("ROSSI", "Mario")
    );
    assert_eq!(case.opened_by, OPERATOR);
    assert!(case.delivery_failure.is_empty(), "{case:?}");
    assert!(case.created_at.is_some());
    assert!(case.resolved_at.is_none());
    assert!(case.resolved_by.is_empty() && case.resolution_note.is_empty());
    // The same queue, asked for explicitly.
    assert_eq!(cases(&app, CallbackCaseStatus::Open).await, queue);

    // The operator calls back, checks the caller and the registry address.
    let note = "caller identified by birth date and health card; moved, registry address confirmed";
    let approved = resolve(
        &app.channel,
        COLLEAGUE,
        "approve-1",
        &case.id,
        Some(approve(note, Some(mario_registry_address()))),
    )
    .await
    .unwrap();
    assert_eq!(approved.id, case.id);
    assert_eq!(approved.status(), CallbackCaseStatus::Issued);
    assert_eq!(approved.reason(), CallbackReason::AddressMismatch);
    assert_eq!(approved.resolved_by, COLLEAGUE);
    assert_eq!(approved.resolution_note, note);
    assert_eq!(approved.opened_by, OPERATOR);
    assert!(approved.resolved_at.is_some());
    // A retry gets the first answer and issues nothing new (one half of each kind below).
    assert_eq!(
        resolve(
            &app.channel,
            COLLEAGUE,
            "approve-1",
            &case.id,
            Some(approve(note, Some(mario_registry_address()))),
        )
        .await
        .unwrap(),
        approved
    );
    assert!(
        cases(&app, CallbackCaseStatus::Unspecified)
            .await
            .is_empty()
    );
    assert_eq!(
        cases(&app, CallbackCaseStatus::Issued).await,
        vec![approved.clone()]
    );

    // The first half by SMS to the mobile given with the request, the second by post to
    // the registry address; together they open first access.
    let initial = halves_by_sms_and_post(&app, "+393471234567", "Via Giuseppe Verdi 10").await;
    assert_no_pin_halves(&app).await;
    let pin = first_access(&app, &initial).await;
    session(&app, &pin).await;
    app.stop().await;
}
both_backends!(a_mismatched_request_is_called_back_and_approved_with_the_registry_address);

async fn an_approval_can_send_the_first_half_to_a_contact_given_on_the_phone(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let case_id = file_for_callback(&app, mario_moved("cc-1")).await;
    let resolution = Resolution::Issue(IssuePin {
        note: "caller identified; gave a new e-mail address".into(),
        confirmed_residence: Some(mario_registry_address()),
        first_half_channel: FirstHalfChannel::Email.into(),
        contacts: Some(ContactDetails {
            mobile: String::new(),
            email: "mario.nuovo@example.org".into(),
            pec: String::new(),
        }),
    });
    let approved = resolve(
        &app.channel,
        OPERATOR,
        "approve",
        &case_id,
        Some(resolution),
    )
    .await
    .unwrap();
    assert_eq!(approved.status(), CallbackCaseStatus::Issued);
    let first = lease_one(&app.channel, Channel::Email).await;
    assert_eq!(first.recipient, "mario.nuovo@example.org");
    assert_eq!(first.purpose(), DeliveryPurpose::PinFirstHalf);
    assert!(lease_all(&app.channel, Channel::Sms).await.is_empty());
    let second = lease_one(&app.channel, Channel::Post).await;
    assert_eq!(second.purpose(), DeliveryPurpose::PinSecondHalf);
    assert!(second.recipient.contains("Via Giuseppe Verdi 10"));
    first_access(&app, &format!("{}{}", first.secret, second.secret)).await;
    app.stop().await;
}
both_backends!(an_approval_can_send_the_first_half_to_a_contact_given_on_the_phone);

async fn an_approval_the_registry_does_not_support_leaves_the_case_open_and_a_rejection_closes_it(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let unknown = file_for_callback(&app, stranger("cc-stranger")).await;
    app.clock.advance(time::Duration::minutes(1));
    let moved = file_for_callback(&app, mario_moved("cc-mario")).await;
    let queue = cases(&app, CallbackCaseStatus::Unspecified).await;
    let reasons: Vec<_> = queue.iter().map(|c| (c.id.clone(), c.reason())).collect();
    assert_eq!(
        reasons,
        [
            (unknown.clone(), CallbackReason::UnknownPerson),
            (moved.clone(), CallbackReason::AddressMismatch)
        ]
    );

    // The registry does not know the stranger: no PIN, whatever the address.
    assert_refused(
        resolve(
            &app.channel,
            OPERATOR,
            "approve-stranger",
            &unknown,
            Some(approve("caller identified", Some(elsewhere()))),
        )
        .await,
        Code::FailedPrecondition,
        "PERSON_NOT_IN_REGISTRY",
    );
    // Mario confirms the address he gave, not the registry's: no PIN either.
    assert_refused(
        resolve(
            &app.channel,
            OPERATOR,
            "approve-mario",
            &moved,
            Some(approve("caller identified", Some(elsewhere()))),
        )
        .await,
        Code::FailedPrecondition,
        "ADDRESS_MISMATCH",
    );
    // Both refusals leave the cases open, and nothing was issued.
    let still = cases(&app, CallbackCaseStatus::Unspecified).await;
    assert_eq!(still, queue);
    assert!(still.iter().all(|c| c.status() == CallbackCaseStatus::Open));
    assert_no_pin_halves(&app).await;

    // The operator rejects Mario's case with what the caller was told.
    let told = "the registry must be corrected by the municipality first, or visit an office";
    let rejected = resolve(
        &app.channel,
        OPERATOR,
        "reject-1",
        &moved,
        Some(reject(told)),
    )
    .await
    .unwrap();
    assert_eq!(rejected.id, moved);
    assert_eq!(rejected.status(), CallbackCaseStatus::Rejected);
    assert_eq!(rejected.resolution_note, told);
    assert_eq!(rejected.resolved_by, OPERATOR);
    assert!(rejected.resolved_at.is_some());

    // A second resolution, by anyone and either way, is refused and changes nothing.
    assert_refused(
        resolve(
            &app.channel,
            COLLEAGUE,
            "approve-late",
            &moved,
            Some(approve("caller identified", Some(mario_registry_address()))),
        )
        .await,
        Code::FailedPrecondition,
        "CASE_ALREADY_RESOLVED",
    );
    assert_refused(
        resolve(
            &app.channel,
            OPERATOR,
            "reject-2",
            &moved,
            Some(reject("another reason")),
        )
        .await,
        Code::FailedPrecondition,
        "CASE_ALREADY_RESOLVED",
    );
    // The retry of the rejection gets the first answer.
    assert_eq!(
        resolve(
            &app.channel,
            OPERATOR,
            "reject-1",
            &moved,
            Some(reject(told))
        )
        .await
        .unwrap(),
        rejected
    );
    assert_eq!(
        cases(&app, CallbackCaseStatus::Rejected).await,
        vec![rejected]
    );
    assert_no_pin_halves(&app).await;

    // The stranger's case is still there to work; a case that does not exist is not found.
    let open = cases(&app, CallbackCaseStatus::Unspecified).await;
    assert_eq!(
        open.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [unknown.as_str()]
    );
    assert_eq!(open[0].status(), CallbackCaseStatus::Open);
    let missing = resolve(
        &app.channel,
        OPERATOR,
        "reject-missing",
        "987654321",
        Some(reject("no such case")),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    app.stop().await;
}
both_backends!(
    an_approval_the_registry_does_not_support_leaves_the_case_open_and_a_rejection_closes_it
);

async fn resolutions_are_checked_field_by_field(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let case_id = file_for_callback(&app, mario_moved("cc-1")).await;

    // An approval needs the note and the confirmed address.
    let status = resolve(
        &app.channel,
        OPERATOR,
        "bad-approve",
        &case_id,
        Some(approve(" ", None)),
    )
    .await
    .unwrap_err();
    let named = fields(&status);
    for wanted in ["issue.note", "issue.confirmed_residence"] {
        assert!(
            named.iter().any(|f| f == wanted),
            "{wanted} missing from {named:?}"
        );
    }
    // A note alone is not enough either.
    let status = resolve(
        &app.channel,
        OPERATOR,
        "bad-approve-2",
        &case_id,
        Some(approve("caller identified", None)),
    )
    .await
    .unwrap_err();
    let named = fields(&status);
    assert!(
        named.iter().any(|f| f == "issue.confirmed_residence"),
        "{named:?}"
    );
    // A rejection needs its reason.
    let status = resolve(
        &app.channel,
        OPERATOR,
        "bad-reject",
        &case_id,
        Some(reject("")),
    )
    .await
    .unwrap_err();
    let named = fields(&status);
    assert_eq!(named, ["reject.reason"]);
    // One of the two is required.
    let status = resolve(&app.channel, OPERATOR, "bad-none", &case_id, None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // None of it touched the case.
    let open = cases(&app, CallbackCaseStatus::Unspecified).await;
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].id.as_str(), open[0].status()),
        (case_id.as_str(), CallbackCaseStatus::Open)
    );
    assert_no_pin_halves(&app).await;
    app.stop().await;
}
both_backends!(resolutions_are_checked_field_by_field);

/// `attempts` operators resolve `case_id` at the same moment, attempt `n` approving when
/// `approves(n)`; exactly one lands: the closed case.
async fn resolve_at_once(
    app: &TestApp,
    case_id: &str,
    attempts: usize,
    approves: fn(usize) -> bool,
    residence: PostalAddress,
) -> CallbackCase {
    let barrier = Arc::new(tokio::sync::Barrier::new(attempts));
    let tasks: Vec<_> = (0..attempts)
        .map(|n| {
            let (channel, barrier) = (app.channel.clone(), barrier.clone());
            let (case_id, residence) = (case_id.to_owned(), residence.clone());
            tokio::spawn(async move {
                let resolution = if approves(n) {
                    approve("caller identified on the phone", Some(residence))
                } else {
                    reject("the caller could not be identified")
                };
                let operator = format!("cc.operator-{n}");
                barrier.wait().await;
                resolve(
                    &channel,
                    &operator,
                    &format!("attempt-{case_id}-{n}"),
                    &case_id,
                    Some(resolution),
                )
                .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let landed: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(landed.len(), 1, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert_eq!(reason(refused), "CASE_ALREADY_RESOLVED", "{refused:?}");
    }
    landed[0].clone()
}

async fn operators_resolving_one_case_at_the_same_moment_land_exactly_one_resolution(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;

    // Eight approvals of Mario's case: one PIN, one set of halves.
    let mario = file_for_callback(&app, mario_moved("cc-mario")).await;
    let closed = resolve_at_once(&app, &mario, 8, |_| true, mario_registry_address()).await;
    assert_eq!(closed.status(), CallbackCaseStatus::Issued);
    assert!(closed.resolved_by.starts_with("cc.operator-"), "{closed:?}");
    let first = lease_all(&app.channel, Channel::Sms).await;
    let second = lease_all(&app.channel, Channel::Post).await;
    assert_eq!((first.len(), second.len()), (1, 1), "{first:?} {second:?}");
    assert_eq!(first[0].purpose(), DeliveryPurpose::PinFirstHalf);
    assert_eq!(second[0].purpose(), DeliveryPurpose::PinSecondHalf);
    assert_eq!(
        cases(&app, CallbackCaseStatus::Issued).await,
        vec![closed.clone()]
    );
    // The halves that went out open first access.
    first_access(&app, &format!("{}{}", first[0].secret, second[0].secret)).await;

    // Approvals and rejections of Anna's case: whichever lands, only its effects remain.
    let anna = file_for_callback(&app, anna_moved("cc-anna")).await;
    let closed = resolve_at_once(&app, &anna, 8, |n| n % 2 == 0, anna_registry_address()).await;
    let sms = lease_all(&app.channel, Channel::Sms).await;
    let post = lease_all(&app.channel, Channel::Post).await;
    match closed.status() {
        CallbackCaseStatus::Issued => {
            assert_eq!((sms.len(), post.len()), (1, 1), "{sms:?} {post:?}");
            assert_eq!(sms[0].recipient, "+393487654321");
            assert_eq!(sms[0].purpose(), DeliveryPurpose::PinFirstHalf);
            assert_eq!(post[0].purpose(), DeliveryPurpose::PinSecondHalf);
            assert!(post[0].recipient.contains("Corso Buenos Aires 12"));
            assert_eq!(closed.resolution_note, "caller identified on the phone");
        }
        CallbackCaseStatus::Rejected => {
            assert!(sms.is_empty() && post.is_empty(), "{sms:?} {post:?}");
            assert_eq!(closed.resolution_note, "the caller could not be identified");
        }
        other => panic!("closed as {other:?}: {closed:?}"),
    }
    assert!(
        cases(&app, CallbackCaseStatus::Unspecified)
            .await
            .is_empty()
    );
    assert_eq!(cases(&app, closed.status()).await.last(), Some(&closed));
    app.stop().await;
}
both_backends!(operators_resolving_one_case_at_the_same_moment_land_exactly_one_resolution);

async fn an_undelivered_half_is_called_back_and_replaced_by_a_new_pin(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let answer = IssuanceServiceClient::new(app.channel.clone())
        .request_pin_online(as_role("portal", mario_request("online-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome(), IssuanceOutcome::LetterComing);

    // The SMS with the first half cannot be delivered; the letter goes out.
    let mut delivery = DeliveryServiceClient::new(app.channel.clone());
    let mut leased = delivery
        .lease_deliveries(as_role(
            "delivery",
            LeaseDeliveriesRequest {
                channel: Channel::Sms.into(),
                max_deliveries: 10,
                lease_duration: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert_eq!(leased.len(), 1, "{leased:?}");
    let sms = leased.remove(0);
    assert_eq!(sms.purpose(), DeliveryPurpose::PinFirstHalf);
    let failure = "number not reachable (SMSC error 27)";
    delivery
        .ack_delivery(as_role(
            "delivery",
            AckDeliveryRequest {
                delivery_id: sms.id.clone(),
                result: DeliveryResult::FailedPermanently.into(),
                failure_reason: failure.into(),
            },
        ))
        .await
        .unwrap();
    let letter = lease_one(&app.channel, Channel::Post).await;
    assert_eq!(letter.purpose(), DeliveryPurpose::PinSecondHalf);
    let old_pin = format!("{}{}", sms.secret, letter.secret);

    // A case for the contact center, with the number given with the request.
    let queue = cases(&app, CallbackCaseStatus::Unspecified).await;
    assert_eq!(queue.len(), 1, "{queue:?}");
    let case = &queue[0];
    assert_eq!(case.reason(), CallbackReason::DeliveryFailed);
    assert_eq!(case.codice_fiscale, MARIO);
    assert_eq!(case.status(), CallbackCaseStatus::Open);
    assert_eq!(digits(&case.callback_phone), "0612345678", "{case:?}");
    assert!(case.opened_by.is_empty(), "{case:?}");
    assert!(!case.delivery_failure.is_empty(), "{case:?}");
    assert!(case.delivery_failure.contains(failure), "{case:?}");
    assert!(case.family_name.eq_ignore_ascii_case("Rossi"), "{case:?}");
    assert!(case.given_name.eq_ignore_ascii_case("Mario"), "{case:?}");

    // The operator calls, checks the caller and issues a new PIN.
    let approved = resolve(
        &app.channel,
        OPERATOR,
        "approve-1",
        &case.id,
        Some(approve(
            "caller identified; the mobile number works again",
            Some(mario_registry_address()),
        )),
    )
    .await
    .unwrap();
    assert_eq!(approved.status(), CallbackCaseStatus::Issued);
    assert_eq!(approved.reason(), CallbackReason::DeliveryFailed);
    assert_eq!(approved.resolved_by, OPERATOR);

    // New halves, to the contact the undelivered first half went to and by post.
    let new_pin = halves_by_sms_and_post(&app, "+393471234567", "Via Giuseppe Verdi 10").await;
    assert_ne!(new_pin, old_pin);
    assert_no_pin_halves(&app).await;

    // The undelivered PIN was replaced, and subscribers hear of it.
    let mut events = EventServiceClient::new(app.channel.clone())
        .subscribe(as_role(
            "benefits",
            SubscribeRequest {
                after_cursor: 0,
                kinds: vec![EventKind::PinRevoked.into()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let revoked = tokio::time::timeout(Duration::from_secs(20), events.message())
        .await
        .expect("a PIN_REVOKED event")
        .unwrap()
        .unwrap();
    assert_eq!(revoked.codice_fiscale, MARIO);
    let Some(Detail::PinRevoked(how)) = revoked.detail else {
        panic!("{revoked:?}")
    };
    assert_eq!(how.via, "REPLACED");

    // The old PIN is dead, the new one opens first access.
    let refused = authenticate(&app, &old_pin).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let pin = first_access(&app, &new_pin).await;
    session(&app, &pin).await;
    app.stop().await;
}
both_backends!(an_undelivered_half_is_called_back_and_replaced_by_a_new_pin);

async fn the_queue_is_read_oldest_first_a_page_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    // A portal request, then two filed by the operator, a minute apart.
    let mut moved_online = mario_request("online-1");
    moved_online.applicant.as_mut().unwrap().residence = Some(elsewhere());
    let online = IssuanceServiceClient::new(app.channel.clone())
        .request_pin_online(as_role("portal", moved_online))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(online.outcome(), IssuanceOutcome::CallbackScheduled);
    app.clock.advance(time::Duration::minutes(1));
    let anna = file_for_callback(&app, anna_moved("cc-anna")).await;
    app.clock.advance(time::Duration::minutes(1));
    let unknown = file_for_callback(&app, stranger("cc-stranger")).await;

    let first = list(&app, CallbackCaseStatus::Unspecified, 2, "")
        .await
        .unwrap();
    assert_eq!(first.cases.len(), 2, "{first:?}");
    assert!(!first.next_page_token.is_empty());
    let second = list(
        &app,
        CallbackCaseStatus::Unspecified,
        2,
        &first.next_page_token,
    )
    .await
    .unwrap();
    assert_eq!(second.cases.len(), 1, "{second:?}");
    assert!(second.next_page_token.is_empty(), "{second:?}");

    let all: Vec<CallbackCase> = first.cases.into_iter().chain(second.cases).collect();
    let who: Vec<_> = all
        .iter()
        .map(|c| (c.codice_fiscale.as_str(), c.reason(), c.opened_by.as_str()))
        .collect();
    assert_eq!(
        who,
        [
            (MARIO, CallbackReason::AddressMismatch, ""),
            (ANNA, CallbackReason::AddressMismatch, OPERATOR),
            (STRANGER, CallbackReason::UnknownPerson, OPERATOR),
        ]
    );
    assert_eq!(
        (all[1].id.as_str(), all[2].id.as_str()),
        (anna.as_str(), unknown.as_str())
    );
    assert_eq!(digits(&all[0].callback_phone), "0612345678");
    assert_eq!(digits(&all[1].callback_phone), "0287654321");
    let created: Vec<_> = all.iter().map(|c| c.created_at.unwrap().seconds).collect();
    assert!(
        created[0] < created[1] && created[1] < created[2],
        "{created:?}"
    );
    // Page size 0 means the default page, which holds them all; OPEN is the default.
    assert_eq!(cases(&app, CallbackCaseStatus::Unspecified).await, all);
    assert_eq!(cases(&app, CallbackCaseStatus::Open).await, all);
    assert!(cases(&app, CallbackCaseStatus::Issued).await.is_empty());
    assert!(cases(&app, CallbackCaseStatus::Rejected).await.is_empty());

    // A token this service did not hand out is refused.
    let status = list(&app, CallbackCaseStatus::Unspecified, 2, "not-a-token")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    app.stop().await;
}
both_backends!(the_queue_is_read_oldest_first_a_page_at_a_time);

async fn only_contact_center_operators_work_the_queue(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut callbacks = CallbackServiceClient::new(app.channel.clone());
    let resolution = || ResolveCallbackCaseRequest {
        request_id: "r-1".into(),
        case_id: "1".into(),
        resolution: Some(reject("no")),
    };
    for role in ["portal", "office", "back_office"] {
        let status = callbacks
            .list_callback_cases(by_operator(
                as_role(role, ListCallbackCasesRequest::default()),
                OPERATOR,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
        assert_eq!(reason(&status), "ROLE_NOT_ALLOWED", "{role}");
        let status = callbacks
            .resolve_callback_case(by_operator(as_role(role, resolution()), OPERATOR))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}");
    }
    let status = callbacks
        .list_callback_cases(as_role("portal", ListCallbackCasesRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = IssuanceServiceClient::new(app.channel.clone())
        .request_pin_by_contact_center(by_operator(as_role("portal", mario_moved("p-1")), OPERATOR))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // The contact center without naming the operator at the desk.
    let status = callbacks
        .list_callback_cases(as_role(
            "contact_center",
            ListCallbackCasesRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(reason(&status), "MISSING_OPERATOR_ID");
    let status = callbacks
        .resolve_callback_case(as_role("contact_center", resolution()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(reason(&status), "MISSING_OPERATOR_ID");
    let status = IssuanceServiceClient::new(app.channel.clone())
        .request_pin_by_contact_center(as_role("contact_center", mario_moved("cc-1")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(reason(&status), "MISSING_OPERATOR_ID");

    // With the operator named, an empty queue.
    assert!(
        list(&app, CallbackCaseStatus::Unspecified, 0, "")
            .await
            .unwrap()
            .cases
            .is_empty()
    );
    app.stop().await;
}
both_backends!(only_contact_center_operators_work_the_queue);
