//! What `idgate imds` serves is accepted by idgate's own verifiers, trusting exactly the
//! files the emulator writes for `idgate server` (`--aws-certs`, `--azure-roots` and
//! `--azure-intermediates`, `--gcp-jwks`); and what it should not prove is refused.

use std::path::Path;
use std::time::Duration;

use idgate_imds::files::prepare;
use idgate_imds::server::{Cloud, EmulatorConfig, RunningEmulator, spawn};
use idgate_verify::UnixTime;
use idgate_verify::aws::{AwsProof, AwsTrust, verify_aws};
use idgate_verify::azure::{AzureProof, AzureTrust, verify_azure};
use idgate_verify::gcp::{GcpKeys, verify_gcp};

fn now() -> UnixTime {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    UnixTime(i64::try_from(seconds).unwrap())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap()
}

/// Prepares `cloud` in `dir` (as `idgate imds` does) and starts its emulator in-process.
async fn start(dir: &Path, cloud: Cloud) -> RunningEmulator {
    let prepared = prepare(dir, cloud).unwrap();
    spawn(EmulatorConfig::new(prepared.signer)).await.unwrap()
}

#[tokio::test]
async fn aws_signature_and_rsa2048_verify_with_the_written_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(dir.path(), Cloud::Aws).await;
    let url = emulator.url();
    let client = client();
    let token = client
        .put(format!("{url}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let read = |path: &'static str| {
        let request = client
            .get(format!("{url}/latest/dynamic/instance-identity/{path}"))
            .header("X-aws-ec2-metadata-token", &token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.unwrap()
        }
    };
    let document = read("document").await;
    let signature = read("signature").await;
    let rsa2048 = read("rsa2048").await;
    let pkcs7 = read("pkcs7").await;

    let mut trust = AwsTrust::empty();
    let pem = std::fs::read(dir.path().join("aws-certs/idgate-imds.pem")).unwrap();
    assert_eq!(trust.add_extra_pem(&pem).unwrap(), 1);

    for (signature, pkcs7) in [
        (Some(signature.as_str()), None),
        (None, Some(rsa2048.as_str())),
        (None, Some(pkcs7.as_str())),
        (Some(signature.as_str()), Some(rsa2048.as_str())),
    ] {
        let proof = AwsProof {
            document: document.as_bytes(),
            signature,
            pkcs7,
        };
        let verified = verify_aws(&proof, &trust, now()).unwrap();
        assert_eq!(verified.instance_id, "i-0123456789abcdef0");
        assert_eq!(verified.region, "us-east-1");
        assert_eq!(verified.account_id.as_deref(), Some("123456789012"));
    }

    // The PKCS#7 vouches for this document only.
    let other = document.replace("i-0123456789abcdef0", "i-0000000000000000f");
    let proof = AwsProof {
        document: other.as_bytes(),
        signature: None,
        pkcs7: Some(&rsa2048),
    };
    assert!(verify_aws(&proof, &trust, now()).is_err());
    // Without the emulator's certificate nothing verifies.
    let proof = AwsProof {
        document: document.as_bytes(),
        signature: None,
        pkcs7: Some(&rsa2048),
    };
    assert!(verify_aws(&proof, &AwsTrust::bundled(), now()).is_err());
    emulator.stop().await.unwrap();
}

#[tokio::test]
async fn azure_attested_documents_verify_with_the_written_roots_and_intermediates() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(dir.path(), Cloud::Azure).await;
    let response = client()
        .get(format!(
            "{}/metadata/attested/document?api-version=2020-09-01&nonce=1234567890",
            emulator.url()
        ))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let signature = body["signature"].as_str().unwrap();

    let mut trust = AzureTrust::empty();
    let roots = std::fs::read(dir.path().join("azure/roots.pem")).unwrap();
    assert_eq!(trust.add_roots_pem(&roots).unwrap(), 1);
    // Without the intermediate, the verifier asks for it at the emulator's AIA URL.
    let error = verify_azure(&AzureProof { signature }, &trust, now()).unwrap_err();
    let urls = error.missing_intermediate_urls().unwrap();
    assert_eq!(
        urls,
        [format!("{}/idgate/azure/intermediate.cer", emulator.url())]
    );

    let intermediates = std::fs::read(dir.path().join("azure/intermediates.pem")).unwrap();
    assert_eq!(trust.add_intermediates_pem(&intermediates).unwrap(), 1);
    let verified = verify_azure(&AzureProof { signature }, &trust, now()).unwrap();
    assert_eq!(verified.vm_id, "6d7a1e5c-2b8f-4c3a-9e4d-0f1a2b3c4d5e");
    assert_eq!(verified.nonce.as_deref(), Some("1234567890"));
    assert_eq!(verified.signer_name, "metadata.azure.com");
    emulator.stop().await.unwrap();
}

#[tokio::test]
async fn gcp_identity_tokens_verify_with_the_written_jwks_for_their_audience_only() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(dir.path(), Cloud::Gcp).await;
    let response = client()
        .get(format!(
            "{}/computeMetadata/v1/instance/service-accounts/default/identity?audience=coder&format=full",
            emulator.url()
        ))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.text().await.unwrap();

    let jwks = std::fs::read(dir.path().join("gcp/jwks.json")).unwrap();
    let keys = GcpKeys::from_jwks_json(&jwks).unwrap();
    let verified = verify_gcp(&token, &keys, &["coder".to_owned()], now()).unwrap();
    assert_eq!(verified.instance_id, "1234567890123456789");
    assert_eq!(verified.project_id.as_deref(), Some("idgate-test"));
    assert_eq!(verified.zone.as_deref(), Some("us-central1-a"));
    assert!(verify_gcp(&token, &keys, &["https://elsewhere".to_owned()], now()).is_err());
    emulator.stop().await.unwrap();
}
