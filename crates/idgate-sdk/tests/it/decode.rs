//! What `idgate agent doctor` shows: real cloud samples decoded without verification.

use idgate_sdk::{Cloud, decode_aws_document, decode_azure_attested, decode_gcp_token};

fn data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn detail<'a>(details: &'a [(&'static str, String)], label: &str) -> Option<&'a str> {
    details
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, v)| v.as_str())
}

#[test]
fn an_aws_document() {
    let id = decode_aws_document(&data("aws/coder-us-east-1-2022.document.json")).expect("decode");
    assert_eq!(id.cloud, Cloud::Aws);
    assert_eq!(id.instance_id, "i-076e9b91f7c420782");
    assert_eq!(detail(&id.details, "region"), Some("us-east-1"));
    assert_eq!(detail(&id.details, "account"), Some("628783029487"));
    assert_eq!(detail(&id.details, "instance type"), Some("t2.micro"));
}

#[test]
fn an_azure_attested_document() {
    let id = decode_azure_attested(&data("azure/coder-eastus-2026.signature.b64")).expect("decode");
    assert_eq!(id.cloud, Cloud::Azure);
    assert_eq!(id.instance_id, "dc18de58-292f-4794-9a5d-a4192bad0039");
    assert_eq!(
        detail(&id.details, "subscription"),
        Some("05e8b285-4ce1-46a3-b4c9-f51ba67d6acc")
    );
    assert_eq!(detail(&id.details, "sku"), Some("20_04-lts-gen2"));
    assert_eq!(
        detail(&id.details, "expires"),
        Some("06/26/26 00:56:45 -0000")
    );
}

#[test]
fn a_gcp_identity_token() {
    let id = decode_gcp_token(&data("gcp/rhsm-us-east1-b-2021-03.token.jwt")).expect("decode");
    assert_eq!(id.cloud, Cloud::Google);
    assert_eq!(id.instance_id, "2589221140676718026");
    assert_eq!(detail(&id.details, "project"), Some("fair-kingdom-308514"));
    assert_eq!(detail(&id.details, "zone"), Some("us-east1-b"));
    assert_eq!(detail(&id.details, "instance name"), Some("instance-1"));
    assert_eq!(detail(&id.details, "expires"), Some("2021-03-24T15:30:23Z"));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(decode_azure_attested("not base64!").is_err());
    assert!(decode_azure_attested("AAAA").is_err());
    assert!(decode_gcp_token("").is_err());
    assert!(decode_aws_document("[]").is_err());
}

#[tokio::test]
async fn the_fake_metadata_service_proof_decodes_to_its_instance() {
    let server = crate::harness::TestServer::start().await;
    let imds = crate::harness::FakeImds::start("i-0ddd").await;
    let provider = crate::aws_provider(&server, &imds, None);
    let proof = provider
        .fetch_proof()
        .await
        .expect("proof")
        .expect("not static");
    let id = proof.unverified_identity().expect("decode");
    assert_eq!(id.instance_id, "i-0ddd");
    assert_eq!(detail(&id.details, "region"), Some("us-east-1"));
}
