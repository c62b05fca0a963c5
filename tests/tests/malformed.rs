//! Bytes that are not the request message — garbage, a truncated message, a string that
//! is not UTF-8 — get `INVALID_ARGUMENT` with reason `MALFORMED_REQUEST`, on unary,
//! client-streaming and server-streaming RPCs alike, and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Buf, BufMut};
use pin_proto::v1::registry_service_client::RegistryServiceClient;
use pin_tests::{
    Backend, as_role, both_backends,
    citizen::{import_registry, mario_request},
    spawn_app,
};
use prost::Message;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};
use tonic_types::StatusExt;

/// A codec that sends and receives raw bytes: what a broken or hostile client can put on
/// the wire.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

/// Bodies that do not decode as a request message.
fn bad_bodies(valid: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("garbage", vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ("truncated", valid[..valid.len() / 2].to_vec()),
        // Field 1 (a string in every request here) holding bytes that are not UTF-8.
        ("not utf-8", vec![0x0a, 0x02, 0xc3, 0x28]),
    ]
}

#[track_caller]
fn assert_malformed(what: &str, status: &Status) {
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    assert_eq!(
        status.get_details_error_info().map(|i| i.reason),
        Some("MALFORMED_REQUEST".to_owned()),
        "{what}: {status:?}"
    );
}

async fn call_unary(
    app: &pin_tests::TestApp,
    role: &str,
    path: &'static str,
    body: Vec<u8>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.unwrap();
    grpc.unary(
        as_role(role, body),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}

async fn bytes_that_are_not_the_message_are_refused_as_bad_input(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;

    // Unary: an online request (state-changing) and a login.
    let valid = mario_request("raw").encode_to_vec();
    for (what, body) in bad_bodies(&valid) {
        let status = call_unary(
            &app,
            "portal",
            "/inps.pin.v1.IssuanceService/RequestPinOnline",
            body,
        )
        .await
        .unwrap_err();
        assert_malformed(what, &status);
    }
    let status = call_unary(
        &app,
        "portal",
        "/inps.pin.v1.AuthenticationService/Authenticate",
        vec![0x0a, 0x02, 0xc3, 0x28],
    )
    .await
    .unwrap_err();
    assert_malformed("login", &status);
    // The well-formed bytes of the same request still work.
    call_unary(
        &app,
        "portal",
        "/inps.pin.v1.IssuanceService/RequestPinOnline",
        valid,
    )
    .await
    .unwrap();

    // Client streaming: good records, then garbage. The answer names the bad input and
    // tallies what was committed before it.
    let persons = pin_tests::sample_persons();
    let mut moved = persons[1].clone();
    if let Some(residence) = moved.residence.as_mut() {
        residence.street = "Via Nazionale".into();
    }
    let good = [persons[0].clone(), moved.clone()]
        .into_iter()
        .map(|person| {
            pin_proto::v1::UpsertPersonsRequest {
                person: Some(person),
            }
            .encode_to_vec()
        })
        .chain([vec![0xff, 0xff, 0xff, 0xff, 0x0f]]);
    let stream = futures::stream::iter(good.collect::<Vec<_>>());
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.unwrap();
    let status = grpc
        .client_streaming(
            as_role("admin", stream),
            http::uri::PathAndQuery::from_static("/inps.pin.v1.RegistryService/UpsertPersons"),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_malformed("stream", &status);
    let tally = status.get_details_error_info().unwrap().metadata;
    let count = |name: &str| tally.get(name).map(String::as_str);
    assert_eq!(
        [count("received"), count("unchanged"), count("updated")],
        [Some("2"), Some("1"), Some("1")],
        "{status:?}"
    );
    assert!(status.message().contains("committed"), "{status:?}");
    let mut registry = RegistryServiceClient::new(app.channel.clone());
    let stored = registry
        .get_person(as_role(
            "admin",
            pin_proto::v1::GetPersonRequest {
                codice_fiscale: moved.codice_fiscale.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert_eq!(
        stored.residence, moved.residence,
        "what the tally counts landed"
    );

    // Server streaming.
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.unwrap();
    let status = grpc
        .server_streaming(
            as_role("benefits", vec![0x08, 0xff]),
            http::uri::PathAndQuery::from_static("/inps.pin.v1.EventService/Subscribe"),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_malformed("subscribe", &status);

    // The registry client still works: the server is unharmed.
    let mut registry = RegistryServiceClient::new(app.channel.clone());
    registry
        .get_person(as_role(
            "admin",
            pin_proto::v1::GetPersonRequest {
                codice_fiscale: "RSSMRA85T10A562S".into(),
            },
        ))
        .await
        .unwrap();
    app.stop().await;
}
both_backends!(bytes_that_are_not_the_message_are_refused_as_bad_input);

async fn the_new_rpcs_refuse_bytes_that_are_not_their_message(backend: Backend) {
    let app = spawn_app(backend).await;
    // Field 1 (a string in each of these messages) truncated, and holding invalid UTF-8.
    let garbage = [vec![0x0a, 0x10, b'x'], vec![0x0a, 0x02, 0xc3, 0x28]];
    for path in [
        "/inps.pin.v1.RecoveryService/StartRecovery",
        "/inps.pin.v1.RecoveryService/ConfirmRecovery",
        "/inps.pin.v1.RevocationService/StartOnlineRevocation",
        "/inps.pin.v1.RevocationService/ConfirmOnlineRevocation",
        "/inps.pin.v1.ContactsService/GetContacts",
        "/inps.pin.v1.ContactsService/UpdateContacts",
        "/inps.pin.v1.ContactsService/VerifyContact",
    ] {
        for body in &garbage {
            let status = call_unary(&app, "portal", path, body.clone())
                .await
                .unwrap_err();
            assert_malformed(path, &status);
        }
    }
    app.stop().await;
}
both_backends!(the_new_rpcs_refuse_bytes_that_are_not_their_message);
