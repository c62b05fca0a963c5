//! RegistryService through the real server, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{
    self as pb, GetPersonRequest, UpsertPersonsRequest,
    registry_service_client::RegistryServiceClient,
};
use pin_tests::{Backend, as_role, both_backends, sample_persons, spawn_app};
use tonic::Code;
use tonic_types::StatusExt;

fn stream(persons: Vec<pb::Person>) -> impl tokio_stream::Stream<Item = UpsertPersonsRequest> {
    tokio_stream::iter(
        persons
            .into_iter()
            .map(|p| UpsertPersonsRequest { person: Some(p) }),
    )
}

async fn the_sample_registry_imports_and_reads_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = RegistryServiceClient::new(app.channel.clone());
    let persons = sample_persons();
    assert!(persons.len() >= 10);

    let first = client
        .upsert_persons(as_role("admin", stream(persons.clone())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.received as usize, persons.len());
    assert_eq!(
        first.inserted as usize,
        persons.len(),
        "{:?}",
        first.rejected
    );
    assert_eq!(first.rejected_count, 0);

    // Upserting the same records again changes nothing.
    let again = client
        .upsert_persons(as_role("admin", stream(persons.clone())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.unchanged as usize, persons.len());

    // Read back in canonical form, whatever case the caller uses.
    let omocode = persons
        .iter()
        .find(|p| p.codice_fiscale == "BRNMRC79H18D96VG")
        .expect("the sample holds an omocode");
    let read = client
        .get_person(as_role(
            "contact_center",
            GetPersonRequest {
                codice_fiscale: omocode.codice_fiscale.to_lowercase(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .person
        .unwrap();
    assert_eq!(&read, omocode);
    app.stop().await;
}
both_backends!(the_sample_registry_imports_and_reads_back);

async fn invalid_records_are_reported_by_field_while_the_rest_lands(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = RegistryServiceClient::new(app.channel.clone());
    let valid = sample_persons();
    let mario = valid[0].clone();
    assert_eq!(mario.codice_fiscale, "RSSMRA85T10A562S");

    let wrong_check = pb::Person {
        codice_fiscale: "RSSMRA85T10A562X".into(),
        ..mario.clone()
    };
    let thirtieth_february = pb::Person {
        birth_date: "1985-02-30".into(),
        ..mario.clone()
    };
    // Day 50 is 10 + 40: a woman's codice fiscale, on a record that says male.
    let day_against_sex = pb::Person {
        codice_fiscale: "RSSMRA85T50A562W".into(),
        ..mario.clone()
    };
    let batch = vec![
        valid[1].clone(),
        wrong_check,
        valid[2].clone(),
        thirtieth_february,
        day_against_sex,
        valid[3].clone(),
    ];
    let answer = client
        .upsert_persons(as_role("admin", stream(batch)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (answer.received, answer.inserted, answer.rejected_count),
        (6, 3, 3)
    );
    let by_index = |index: u32| {
        answer
            .rejected
            .iter()
            .find(|r| r.index == index)
            .unwrap_or_else(|| panic!("record {index} should be rejected: {answer:?}"))
    };
    let has = |record: &pb::RejectedRecord, field: &str, reason: &str| {
        record
            .problems
            .iter()
            .any(|p| p.field == field && p.reason == reason)
    };
    assert!(
        has(by_index(1), "codice_fiscale", "CHECK_CHARACTER"),
        "{:?}",
        by_index(1)
    );
    assert!(
        has(by_index(3), "birth_date", "CALENDAR_DATE"),
        "{:?}",
        by_index(3)
    );
    assert!(
        by_index(4).problems.iter().any(|p| p.field == "sex"),
        "the day contradicts the sex: {:?}",
        by_index(4)
    );
    for landed in [&valid[1], &valid[2], &valid[3]] {
        let request = GetPersonRequest {
            codice_fiscale: landed.codice_fiscale.clone(),
        };
        client.get_person(as_role("admin", request)).await.unwrap();
    }
    let missing = client
        .get_person(as_role(
            "admin",
            GetPersonRequest {
                codice_fiscale: mario.codice_fiscale,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    app.stop().await;
}
both_backends!(invalid_records_are_reported_by_field_while_the_rest_lands);

async fn a_malformed_codice_fiscale_is_an_invalid_argument_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = RegistryServiceClient::new(app.channel.clone());
    let status = client
        .get_person(as_role(
            "admin",
            GetPersonRequest {
                codice_fiscale: "RSSMRA85".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations;
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "codice_fiscale");
    app.stop().await;
}
both_backends!(a_malformed_codice_fiscale_is_an_invalid_argument_naming_the_field);
