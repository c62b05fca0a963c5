//! Requests that take effect once, however a portal retries them: concurrently with one
//! request id, later, or after the first answer was lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pin_proto::v1::{IssuanceOutcome, issuance_service_client::IssuanceServiceClient};
use pin_tests::{
    Backend, as_role, both_backends,
    citizen::{import_registry, mario_request},
    spawn_app,
};
use prost::Message;
use sea_orm::EntityTrait;

async fn concurrent_requests_with_one_id_all_get_the_first_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    import_registry(&app).await;
    let calls = (0..8).map(|_| {
        let mut issuance = IssuanceServiceClient::new(app.channel.clone());
        async move {
            issuance
                .request_pin_online(as_role("portal", mario_request("one-click")))
                .await
                .map(|answer| answer.into_inner().encode_to_vec())
                .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
        }
    });
    let answers = futures::future::join_all(calls).await;
    let first = answers[0].clone().expect("the first answer");
    for answer in &answers {
        assert_eq!(answer.as_ref(), Ok(&first), "{answers:?}");
    }
    let decoded = pin_proto::v1::RequestPinOnlineResponse::decode(&*first).unwrap();
    assert_eq!(decoded.outcome(), IssuanceOutcome::LetterComing);

    // One credential, one pair of halves, one audit record of the request.
    let db = app.database.as_ref().unwrap().connect().await;
    let credentials = pin_store::entity::credential::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(credentials.len(), 1);
    let deliveries = pin_store::entity::delivery::Entity::find()
        .all(&db)
        .await
        .unwrap();
    let purposes: Vec<&str> = deliveries.iter().map(|d| d.purpose.as_str()).collect();
    assert_eq!(purposes, ["PIN_FIRST_HALF", "PIN_SECOND_HALF"]);
    let requests = pin_store::entity::audit_record::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "REQUEST_PIN_ONLINE")
        .count();
    assert_eq!(requests, 1);
    app.stop().await;
}
both_backends!(concurrent_requests_with_one_id_all_get_the_first_answer);
