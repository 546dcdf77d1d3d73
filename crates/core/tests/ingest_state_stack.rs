//! The incremental state's compare-and-swap against a real S3 server (SeaweedFS from
//! `scripts/stack`): `If-None-Match: *` for the first write, `If-Match: <etag>` after. Never
//! skips: without the stack's environment the test fails.
#![cfg(feature = "native")]

mod support;

use std::sync::Arc;

use icepipe_core::clock::SystemClock;
use icepipe_core::http::ReqwestHttpClient;
use icepipe_core::ingest::state::{ResourceState, StateError, StateStore};
use icepipe_core::storage::s3::S3Store;

fn state(cursor: i64) -> ResourceState {
    ResourceState {
        cursor: Some(cursor.into()),
        last_load_id: format!("load{cursor}"),
        updated_at: "2024-01-01T00:00:00Z".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn only_the_first_of_two_overlapping_runs_advances_the_state_on_s3() {
    let store = S3Store::new(
        &support::s3_config(),
        "raw",
        Arc::new(ReqwestHttpClient::new()),
        Arc::new(SystemClock),
    )
    .unwrap();
    let states = StateStore::new(Arc::new(store));
    let source = support::unique("ingest_state");

    let (a, b) = (
        states.load(&source, "r").await.unwrap(),
        states.load(&source, "r").await.unwrap(),
    );
    assert!(a.state.is_none());
    states.save(&source, "r", &a, &state(1)).await.unwrap();
    let lost = states.save(&source, "r", &b, &state(2)).await;
    assert!(matches!(lost, Err(StateError::Conflict { .. })), "{lost:?}");

    let (c, d) = (
        states.load(&source, "r").await.unwrap(),
        states.load(&source, "r").await.unwrap(),
    );
    assert_eq!(c.state, Some(state(1)));
    states.save(&source, "r", &c, &state(3)).await.unwrap();
    let lost = states.save(&source, "r", &d, &state(4)).await;
    assert!(matches!(lost, Err(StateError::Conflict { .. })), "{lost:?}");
    assert_eq!(
        states.load(&source, "r").await.unwrap().state,
        Some(state(3))
    );
}
