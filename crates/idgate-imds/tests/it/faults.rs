//! Injected faults: errors, latency, dropped token requests, and their limits.

use std::time::{Duration, Instant};

use idgate_imds::Error;
use idgate_imds::faults::Faults;
use idgate_imds::server::{CloudSigner, EmulatorConfig, spawn};
use reqwest::StatusCode;

use crate::support::{aws_signer, client, client_with_timeout, start_with};

#[tokio::test]
async fn an_error_rate_of_one_fails_every_metadata_answer() {
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let (aws, _) = start_with("aws", faults.clone()).await;
    for _ in 0..5 {
        let put = client()
            .put(format!("{}/latest/api/token", aws.url()))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let get = client()
            .get(format!("{}/latest/meta-data/instance-id", aws.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    aws.stop().await.unwrap();

    let (gcp, _) = start_with("gcp", faults).await;
    let failed = client()
        .get(format!("{}/computeMetadata/v1/instance/id", gcp.url()))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // Still from the metadata server, as far as clients can tell.
    assert_eq!(failed.headers()["Metadata-Flavor"], "Google");
    // The key helpers are not the metadata service: no faults there.
    let jwks = client()
        .get(format!("{}/idgate/gcp/jwks.json", gcp.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    gcp.stop().await.unwrap();
}

#[tokio::test]
async fn an_error_rate_of_zero_fails_nothing() {
    let (aws, _) = start_with("aws", Faults::default()).await;
    for _ in 0..20 {
        let put = client()
            .put(format!("{}/latest/api/token", aws.url()))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::OK);
    }
    aws.stop().await.unwrap();
}

#[tokio::test]
async fn dropped_token_requests_get_no_answer_until_the_client_gives_up() {
    let faults = Faults {
        drop_token_puts: true,
        ..Faults::default()
    };
    let (aws, _) = start_with("aws", faults).await;
    let timeout = Duration::from_millis(300);
    let error = client_with_timeout(timeout)
        .put(format!("{}/latest/api/token", aws.url()))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .expect_err("the token request must not be answered");
    assert!(error.is_timeout(), "{error}");

    // A request still held does not keep the emulator from stopping.
    let held = tokio::spawn(
        client()
            .put(format!("{}/latest/api/token", aws.url()))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
            .send(),
    );
    tokio::time::timeout(Duration::from_secs(30), aws.stop())
        .await
        .expect("the emulator stops with a held request")
        .unwrap();
    let released = held.await.unwrap();
    // Either the connection was answered with a 503 or closed: never a token.
    if let Ok(response) = released {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test]
async fn latency_is_added_to_every_answer() {
    let latency = Duration::from_millis(250);
    let faults = Faults {
        latency,
        ..Faults::default()
    };
    let (aws, _) = start_with("aws", faults).await;
    let started = Instant::now();
    let put = client()
        .put(format!("{}/latest/api/token", aws.url()))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    aws.stop().await.unwrap();
}

#[tokio::test]
async fn an_error_rate_outside_zero_to_one_is_refused() {
    let mut config = EmulatorConfig::new(CloudSigner::Aws(aws_signer()));
    config.faults.error_rate = 1.5;
    let error = spawn(config).await.expect_err("1.5 is not a fraction");
    assert!(
        matches!(
            error,
            Error::InvalidConfig {
                field: "error_rate",
                ..
            }
        ),
        "{error}"
    );
}
