//! Start-up as an operator meets it: the development caller, the loopback rule, reflection
//! for grpcurl, and the JSON-lines import.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{GetPersonRequest, registry_service_client::RegistryServiceClient};
use pin_server::config::Config;
use pin_tests::{Backend, TestDatabase, as_role, spawn_app, test_config, with_token};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_reflection::pb::{v1, v1alpha};

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::load(
        None,
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .unwrap()
}

#[tokio::test]
async fn with_no_callers_a_development_caller_is_created_on_loopback() {
    let database = TestDatabase::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = pin_server::app::start(config(&[
        ("PIN_LISTEN", "127.0.0.1:0"),
        ("PIN_DATA_DIR", data_dir),
        ("PIN_DATABASE_URL", &database.url),
    ]))
    .await
    .unwrap();
    let path = server
        .dev_token_path
        .clone()
        .expect("a development token file");
    assert_eq!(path, dir.path().join("dev-caller.token"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token file is readable by its owner only");
    }
    let token = std::fs::read_to_string(&path).unwrap();
    let channel = Channel::from_shared(format!("http://{}", server.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut registry = RegistryServiceClient::new(channel);
    let request = GetPersonRequest {
        codice_fiscale: "RSSMRA85T10A562S".into(),
    };
    let status = registry
        .get_person(with_token(token.trim(), request))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::NotFound,
        "the token works and holds admin"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn with_no_callers_the_server_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let error = pin_server::app::start(config(&[
        ("PIN_LISTEN", "0.0.0.0:0"),
        ("PIN_DATA_DIR", dir.path().to_str().unwrap()),
    ]))
    .await
    .unwrap_err();
    assert!(
        format!("{error:#}").contains("no callers are configured"),
        "{error:#}"
    );
    assert!(!dir.path().join("dev-caller.token").exists());
}

#[tokio::test]
async fn reflection_lists_every_service_in_both_protocol_versions() {
    let app = spawn_app(Backend::Sqlite).await;
    let expected = [
        "inps.pin.v1.RegistryService",
        "inps.pin.v1.IssuanceService",
        "inps.pin.v1.CallbackService",
        "inps.pin.v1.AuthenticationService",
        "inps.pin.v1.AuthorizationService",
        "inps.pin.v1.UpgradeService",
        "inps.pin.v1.RecoveryService",
        "inps.pin.v1.ContactsService",
        "inps.pin.v1.RevocationService",
        "inps.pin.v1.DeliveryService",
        "inps.pin.v1.EventService",
        "inps.pin.v1.AuditService",
        "grpc.health.v1.Health",
    ];

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(answer)) = answers.next().await else {
        panic!("no v1 answer")
    };
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("unexpected v1 answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in expected {
        assert!(
            names.iter().any(|n| n == service),
            "v1 lacks {service}: {names:?}"
        );
    }

    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(answer)) = answers.next().await else {
        panic!("no v1alpha answer")
    };
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("unexpected v1alpha answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in expected {
        assert!(
            names.iter().any(|n| n == service),
            "v1alpha lacks {service}: {names:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_json_lines_import_lands_valid_lines_and_reports_the_others() {
    let database = TestDatabase::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&database.url, dir.path()).unwrap();
    let sample = include_str!("../../deploy/sample-registry.jsonl");
    let file = dir.path().join("registry.jsonl");

    std::fs::write(&file, sample).unwrap();
    assert!(
        pin_server::cli::import(&config, &file).await.unwrap(),
        "the sample is valid"
    );

    let broken = format!(
        "{}\nnot json\n{}\n",
        sample.lines().next().unwrap(),
        sample
            .lines()
            .nth(1)
            .unwrap()
            .replace("1950-03-15", "1950-02-30")
    );
    std::fs::write(&file, broken).unwrap();
    assert!(
        !pin_server::cli::import(&config, &file).await.unwrap(),
        "two lines are invalid"
    );

    // The records landed: a server on the same database reads them.
    let server = pin_server::app::start(config).await.unwrap();
    let channel = Channel::from_shared(format!("http://{}", server.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut registry = RegistryServiceClient::new(channel);
    let request = GetPersonRequest {
        codice_fiscale: "GLLSRA95M71H501X".into(),
    };
    let person = registry
        .get_person(as_role("admin", request))
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert_eq!(person.given_name, "Sara");
    server.shutdown().await.unwrap();
}

/// Lists the services through reflection v1 with `request`'s metadata; the status if the
/// call is refused.
async fn list_services(
    app: &pin_tests::TestApp,
    request: tonic::Request<()>,
) -> Result<Vec<String>, tonic::Status> {
    let message = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut outgoing = tonic::Request::new(tokio_stream::iter([message]));
    *outgoing.metadata_mut() = request.metadata().clone();
    let mut answers =
        v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone())
            .server_reflection_info(outgoing)
            .await?
            .into_inner();
    match answers.next().await {
        Some(Ok(v1::ServerReflectionResponse {
            message_response:
                Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)),
            ..
        })) => Ok(list.service.into_iter().map(|s| s.name).collect()),
        Some(Err(status)) => Err(status),
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

#[tokio::test]
async fn reflection_can_be_restricted_to_admins_or_switched_off() {
    let app =
        pin_tests::spawn_app_with(Backend::Sqlite, &[("PIN_REFLECTION__ACCESS", "admin")]).await;
    let anonymous = list_services(&app, tonic::Request::new(()))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    let portal = list_services(&app, as_role("portal", ()))
        .await
        .unwrap_err();
    assert_eq!(portal.code(), tonic::Code::PermissionDenied);
    let admin = list_services(&app, as_role("admin", ())).await.unwrap();
    assert!(
        admin
            .iter()
            .any(|name| name == "inps.pin.v1.IssuanceService")
    );
    app.stop().await;

    let app =
        pin_tests::spawn_app_with(Backend::Sqlite, &[("PIN_REFLECTION__ACCESS", "off")]).await;
    let off = list_services(&app, as_role("admin", ())).await.unwrap_err();
    assert_eq!(off.code(), tonic::Code::Unimplemented);
    app.stop().await;
}
