//! One exchange at a time through `TokenProvider`: the happy path, every way it fails, and
//! the class and advice of each failure.

use idgate_api::ErrorCode;
use idgate_sdk::{Auth, AwsConfig, Cloud, Error, FailureClass, Proof, TokenProvider};

use crate::harness::{FakeImds, TestServer};
use crate::{aws_provider, short_timeouts};

#[tokio::test]
async fn an_agent_exchanges_its_instance_identity_for_its_own_token() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let agents = server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;

    let session = aws_provider(&server, &imds, None)
        .session()
        .await
        .expect("exchange");
    assert_eq!(
        session.agent_id.map(|id| id.to_string()),
        Some(agents["main"].clone())
    );
    assert!(session.expires_at.is_some());
    assert!(!session.token.expose().is_empty());
    assert_eq!(
        imds.requests(),
        [
            "PUT /latest/api/token",
            "GET /latest/dynamic/instance-identity/document",
            "GET /latest/dynamic/instance-identity/signature",
            "GET /latest/dynamic/instance-identity/rsa2048",
        ]
    );
    let agent = server.agent(&agents["main"]).await;
    assert!(agent["last_authenticated_at"].is_string(), "{agent}");
}

#[tokio::test]
async fn the_proof_carries_the_rsa2048_pkcs7_and_the_server_verifies_it() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    let provider = aws_provider(&server, &imds, None);

    let proof = provider
        .fetch_proof()
        .await
        .expect("proof")
        .expect("not static");
    let Proof::Aws { pkcs7, .. } = &proof else {
        panic!("an AWS proof: {proof:?}");
    };
    assert!(pkcs7.is_some());
    assert!(
        !format!("{proof:?}").contains("instance"),
        "redacted: {proof:?}"
    );
    // The proof is accepted as sent, PKCS#7 included...
    provider.exchange_proof(&proof).await.expect("exchange");
    // ...and a PKCS#7 for another document is refused: the server checks it.
    let Proof::Aws {
        document,
        signature,
        ..
    } = proof
    else {
        unreachable!()
    };
    let other = harness_signer_rsa2048("i-0bbb");
    let forged = Proof::Aws {
        document,
        signature,
        pkcs7: Some(other),
    };
    let error = provider.exchange_proof(&forged).await.expect_err("refused");
    assert_eq!(error.status(), Some(401), "{error}");
}

fn harness_signer_rsa2048(instance_id: &str) -> String {
    let document = crate::harness::SIGNER.document(instance_id);
    crate::harness::SIGNER.rsa2048(&document)
}

#[tokio::test]
async fn without_rsa2048_the_signature_alone_is_sent() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    imds.update(|b| b.serve_rsa2048 = false);
    aws_provider(&server, &imds, None)
        .session()
        .await
        .expect("exchange with the signature only");
}

#[tokio::test]
async fn two_agents_on_one_instance_without_a_name_is_a_permanent_409_with_the_names() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main", "dev"]).await;
    let imds = FakeImds::start("i-0aaa").await;

    let error = aws_provider(&server, &imds, None)
        .session()
        .await
        .expect_err("ambiguous");
    assert!(
        matches!(
            &error,
            Error::Rejected {
                status: 409,
                code: Some(ErrorCode::AmbiguousAgent),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.candidate_names(), ["dev", "main"]);
    assert!(error.is_permanent());
    let advice = error.advice().expect("advice");
    assert!(advice.contains("CODER_AGENT_NAME"), "{advice}");
    assert!(advice.contains("dev, main"), "{advice}");
}

#[tokio::test]
async fn with_names_each_agent_gets_its_own_token() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let agents = server.build(&ws, "i-0aaa", &["main", "dev"]).await;
    let imds = FakeImds::start("i-0aaa").await;

    let main = aws_provider(&server, &imds, Some("main"))
        .session()
        .await
        .expect("main");
    let dev = aws_provider(&server, &imds, Some(" dev "))
        .session()
        .await
        .expect("dev");
    assert_eq!(
        main.agent_id.map(|id| id.to_string()),
        Some(agents["main"].clone())
    );
    assert_eq!(
        dev.agent_id.map(|id| id.to_string()),
        Some(agents["dev"].clone())
    );
    assert_ne!(main.token, dev.token);
}

#[tokio::test]
async fn a_name_that_is_not_on_the_instance_lists_the_names() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main", "dev"]).await;
    let imds = FakeImds::start("i-0aaa").await;

    let error = aws_provider(&server, &imds, Some("mian"))
        .session()
        .await
        .expect_err("no such name");
    assert_eq!(error.code(), Some(ErrorCode::AgentNameNotFound), "{error}");
    assert_eq!(error.candidate_names(), ["dev", "main"]);
    assert!(error.is_permanent());
}

#[tokio::test]
async fn an_instance_no_build_declares_is_a_permanent_404() {
    let server = TestServer::start().await;
    let imds = FakeImds::start("i-0ccc").await;
    let error = aws_provider(&server, &imds, None)
        .session()
        .await
        .expect_err("unknown instance");
    assert_eq!(error.status(), Some(404));
    assert_eq!(error.code(), Some(ErrorCode::InstanceNotFound));
    assert!(error.is_permanent());
    assert!(
        error
            .advice()
            .expect("advice")
            .contains("no current workspace build")
    );
}

#[tokio::test]
async fn a_metadata_500_is_a_transient_error() {
    let server = TestServer::start().await;
    let imds = FakeImds::start("i-0aaa").await;
    imds.update(|b| b.document_status = Some(500));
    let error = aws_provider(&server, &imds, None)
        .session()
        .await
        .expect_err("metadata failure");
    assert!(
        matches!(
            &error,
            Error::MetadataStatus { cloud: Cloud::Aws, status: 500, path, .. }
                if path == "/latest/dynamic/instance-identity/document"
        ),
        "{error:?}"
    );
    assert_eq!(error.class(), FailureClass::Transient);
}

#[tokio::test]
async fn a_metadata_404_is_permanent_and_asks_whether_this_is_aws() {
    let server = TestServer::start().await;
    let imds = FakeImds::start("i-0aaa").await;
    imds.update(|b| b.document_status = Some(404));
    let error = aws_provider(&server, &imds, None)
        .session()
        .await
        .expect_err("metadata failure");
    assert_eq!(error.status(), Some(404));
    assert!(error.is_permanent());
    assert!(
        error
            .advice()
            .expect("advice")
            .contains("is this machine on AWS")
    );
}

#[tokio::test]
async fn a_token_request_that_never_answers_is_the_hop_limit_problem() {
    let server = TestServer::start().await;
    let imds = FakeImds::start("i-0aaa").await;
    imds.update(|b| b.hang_token = true);
    let config = AwsConfig {
        timeouts: short_timeouts(),
        ..AwsConfig::default().with_endpoint(&imds.url)
    };
    let provider = TokenProvider::new(&server.url, Auth::Aws(config)).expect("provider");
    let error = provider.session().await.expect_err("timeout");
    assert!(matches!(&error, Error::ImdsHopLimit { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("hop limit"), "{text}");
    assert!(text.contains("--http-put-response-hop-limit 2"), "{text}");
    assert_eq!(imds.requests(), ["PUT /latest/api/token"]);
}

#[tokio::test]
async fn an_unreachable_metadata_service_is_transient() {
    let server = TestServer::start().await;
    let closed = closed_port_url().await;
    let config = AwsConfig::default().with_endpoint(&closed);
    let provider = TokenProvider::new(&server.url, Auth::Aws(config)).expect("provider");
    let error = provider.session().await.expect_err("unreachable");
    assert!(
        matches!(
            &error,
            Error::MetadataUnreachable {
                cloud: Cloud::Aws,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.class(), FailureClass::Transient);
    assert!(
        error
            .advice()
            .expect("advice")
            .contains("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    );
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    let imds = FakeImds::start("i-0aaa").await;
    let closed = closed_port_url().await;
    let config = AwsConfig::default().with_endpoint(&imds.url);
    let provider = TokenProvider::new(&closed, Auth::Aws(config)).expect("provider");
    let error = provider.session().await.expect_err("unreachable");
    assert!(
        matches!(&error, Error::ServerUnreachable { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), FailureClass::Transient);
}

#[tokio::test]
async fn a_url_that_is_not_an_idgate_server_is_explained() {
    let imds = FakeImds::start("i-0aaa").await;
    // The metadata service is an HTTP server that knows nothing of the API.
    let config = AwsConfig::default().with_endpoint(&imds.url);
    let provider = TokenProvider::new(&imds.url, Auth::Aws(config)).expect("provider");
    let error = provider.session().await.expect_err("not idgate");
    assert_eq!(error.status(), Some(404), "{error:?}");
    assert_eq!(error.code(), None);
    assert!(error.advice().expect("advice").contains("--agent-url"));
}

#[test]
fn bad_urls_are_refused_up_front() {
    let error = TokenProvider::new("coder.example.com", Auth::Aws(AwsConfig::default()))
        .expect_err("no scheme");
    assert!(
        matches!(
            error,
            Error::InvalidUrl {
                what: "server URL",
                ..
            }
        ),
        "{error:?}"
    );
    let error = TokenProvider::new(
        "https://coder.example.com",
        Auth::Aws(AwsConfig::default().with_endpoint("169.254.169.254")),
    )
    .expect_err("no scheme");
    assert!(
        matches!(
            error,
            Error::InvalidUrl {
                what: "AWS metadata endpoint",
                ..
            }
        ),
        "{error:?}"
    );
}

/// A URL on which nothing listens.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    url
}
