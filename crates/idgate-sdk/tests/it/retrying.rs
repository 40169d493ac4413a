//! The retry loop against real services: a metadata service that fails, then recovers.

use std::time::Duration;

use idgate_sdk::RetryPolicy;
use idgate_sdk::retry::retry;

use crate::aws_provider;
use crate::harness::{DEADLINE, FakeImds, TestServer};

#[tokio::test]
async fn the_retry_loop_rides_out_a_failing_metadata_service() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let agents = server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    imds.update(|b| b.document_status = Some(503));
    let provider = aws_provider(&server, &imds, None);
    // Millisecond delays: the test waits for the failures it causes, not for the policy.
    let policy = RetryPolicy {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
        permanent_base: Duration::from_millis(5),
        permanent_cap: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(20),
    };
    let task = tokio::spawn(async move { retry(&policy, "exchange", || provider.session()).await });

    // Wait (with a deadline) until it has failed at least twice, then heal the service.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let failures = imds
            .requests()
            .iter()
            .filter(|r| r.ends_with("/document"))
            .count();
        if failures >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no retries seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    imds.update(|b| b.document_status = None);
    let session = tokio::time::timeout(DEADLINE, task)
        .await
        .expect("recovers within the deadline")
        .expect("task");
    assert_eq!(
        session.agent_id.map(|id| id.to_string()),
        Some(agents["main"].clone())
    );
}
