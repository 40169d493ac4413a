//! Shared helpers of the Azure tests: the real samples in `tests/data/azure`, a synthetic
//! certificate authority made with `idgate-imds` (deterministic keys, generated once per test
//! run), and one `check()` that also asserts that error messages echo nothing of the proof.

use std::path::PathBuf;
use std::sync::LazyLock;

use base64::Engine as _;
use der::Encode as _;
use der::asn1::BitString;
use idgate_imds::azure::{
    self, AzureCaOptions, AzureSigner, Issued, LeafSpec, SignerSpec, attested_content,
};
use idgate_verify::azure::{AzureProof, AzureTrust, VerifiedAzureIdentity, verify_azure};
use idgate_verify::{Error, FailureKind, UnixTime};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use sha2::Sha256;
use signature::{SignatureEncoding as _, Signer as _};
use time::OffsetDateTime;
use time::macros::datetime;
use x509_cert::certificate::TbsCertificate;
use x509_cert::{Certificate, time::Validity};

/// 2026-12-04T00:00:00Z, the day the samples were collected: every synthetic check runs at
/// this time.
pub const NOW: UnixTime = UnixTime(1_796_342_400);
/// When the synthetic documents were created: one hour before [`NOW`].
pub const CREATED: OffsetDateTime = datetime!(2026-12-03 23:00 UTC);
/// The AIA caIssuers URL of the synthetic leaf.
pub const AIA_URL: &str = "http://caissuers.idgate.test/pki/Test%20Azure%20TLS%20CA.crt";
/// The synthetic VM.
pub const VM_ID: &str = "6a3c1e2b-8f4d-4c7a-9b1e-0d2f3a4b5c6d";
/// The synthetic subscription.
pub const SUBSCRIPTION_ID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

/// The synthetic certificate authority and the attacker's keys.
pub struct Fixture {
    /// Root, intermediate and `metadata.azure.com` leaf (valid 2026-01-01 to 2027-06-01).
    pub ca: AzureSigner,
    /// A self-signed CA nobody trusts.
    pub attacker_root: Issued,
    /// The attacker's signing key.
    pub attacker_key: RsaPrivateKey,
    /// An RSA-1024 key.
    pub weak_key: RsaPrivateKey,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let mut rng = StdRng::seed_from_u64(0xa2_0e);
    let options = AzureCaOptions {
        not_before: datetime!(2026-01-01 0:00 UTC),
        not_after: datetime!(2027-06-01 0:00 UTC),
        leaf_names: vec!["metadata.azure.com".to_owned()],
        ca_issuers_url: Some(AIA_URL.to_owned()),
    };
    let ca = AzureSigner::generate_with_rng(&mut rng, &options).expect("test CA");
    let attacker_root_key = azure::generate_key(&mut rng).expect("key");
    let attacker_root_cert = azure::root_certificate(
        &attacker_root_key,
        "CN=Attacker Root,O=Evil Corp,C=US",
        window(
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2027-06-01 0:00 UTC),
        ),
        66,
    )
    .expect("attacker root");
    let attacker_key = azure::generate_key(&mut rng).expect("key");
    let weak_key = RsaPrivateKey::new(&mut rng, 1024).expect("key");
    Fixture {
        ca,
        attacker_root: Issued {
            key: attacker_root_key,
            certificate: attacker_root_cert,
        },
        attacker_key,
        weak_key,
    }
});

/// The fixture (keys are generated on first use).
pub fn fixture() -> &'static Fixture {
    &FIXTURE
}

/// A validity window.
pub fn window(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Validity {
    azure::validity(not_before, not_after).expect("validity")
}

/// The validity of the fixture's certificates.
pub fn ca_window() -> Validity {
    window(
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2027-06-01 0:00 UTC),
    )
}

/// The bundled trust plus the synthetic root (an operator root) and intermediate.
pub fn trust() -> AzureTrust {
    let mut trust = trust_without_intermediate();
    trust
        .add_intermediates_pem(fixture().ca.intermediate_pem().as_bytes())
        .expect("intermediate");
    trust
}

/// The bundled trust plus the synthetic root, without the intermediate.
pub fn trust_without_intermediate() -> AzureTrust {
    let mut trust = AzureTrust::bundled();
    trust
        .add_roots_pem(fixture().ca.root_pem().as_bytes())
        .expect("root");
    trust
}

/// The synthetic attested document's content, created at [`CREATED`].
pub fn content() -> String {
    attested_content(VM_ID, SUBSCRIPTION_ID, Some("nonce-1"), CREATED).expect("content")
}

/// A leaf for the fixture's leaf key, issued by the fixture's intermediate.
pub fn leaf(subject: &str, dns_names: &[&str], validity: Validity, serial: u64) -> Certificate {
    let spec = LeafSpec {
        subject: subject.to_owned(),
        dns_names: dns_names.iter().map(|name| (*name).to_owned()).collect(),
        ca_issuers_urls: vec![AIA_URL.to_owned()],
        validity,
        serial,
    };
    azure::leaf_certificate(
        fixture().ca.intermediate(),
        &fixture().ca.leaf().key.to_public_key(),
        &spec,
    )
    .expect("leaf")
}

/// The base64 of a SignedData over `content` (see [`azure::signed_data`]).
pub fn sign(content: &[u8], bag: &[&Certificate], signers: &[SignerSpec<'_>]) -> String {
    b64(&azure::signed_data(content, bag, signers).expect("SignedData"))
}

/// An attested document as Azure makes it, signed by `key` for `certificate`.
pub fn azure_document(content: &[u8], key: &RsaPrivateKey, certificate: &Certificate) -> String {
    sign(
        content,
        &[certificate],
        &[SignerSpec::azure(key, certificate)],
    )
}

/// The fixture's own document: content by [`content`], signed by the fixture leaf.
pub fn good_document() -> String {
    let leaf = fixture().ca.leaf();
    azure_document(content().as_bytes(), &leaf.key, &leaf.certificate)
}

/// Signs `tbs` with `issuer_key` (RSA PKCS#1 v1.5, SHA-256) into a certificate, for
/// certificates the builder would not make.
pub fn resign(mut tbs: TbsCertificate, issuer_key: &RsaPrivateKey) -> Certificate {
    let algorithm = spki::AlgorithmIdentifierOwned {
        oid: azure::SHA256_WITH_RSA,
        parameters: Some(der::Any::null()),
    };
    tbs.signature = algorithm.clone();
    let signing_key = SigningKey::<Sha256>::new(issuer_key.clone());
    let signature = signing_key.sign(&tbs.to_der().expect("TBS"));
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature.to_vec()).expect("bit string"),
    }
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes base64 that may be wrapped.
pub fn unb64(text: &str) -> Vec<u8> {
    let compact: String = text.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .expect("valid base64")
}

/// The PEM of a certificate.
pub fn pem(certificate: &Certificate) -> String {
    der::EncodePem::to_pem(certificate, der::pem::LineEnding::LF).expect("PEM")
}

/// The DER of a certificate.
pub fn der(certificate: &Certificate) -> Vec<u8> {
    certificate.to_der().expect("DER")
}

/// What a check expects: the `vmId`, or the failure kind and the exact error message.
pub type Expected<'a> = Result<&'a str, (FailureKind, &'a str)>;

/// The outcome of [`check`], for tests that look further.
pub struct Checked(Result<VerifiedAzureIdentity, Error>);

impl Checked {
    /// The identity of a check that expected success.
    pub fn identity(self) -> VerifiedAzureIdentity {
        match self.0 {
            Ok(identity) => identity,
            Err(error) => panic!("expected an identity, got {error}"),
        }
    }

    /// The error of a check that expected failure.
    pub fn error(self) -> Error {
        match self.0 {
            Ok(identity) => panic!("expected an error, got {identity:?}"),
            Err(error) => error,
        }
    }
}

/// Verifies `signature` with `trust` at `now`, compares the outcome with `expected`, and
/// returns it. For failures it also checks that the message is plain printable ASCII and
/// echoes no proof bytes.
#[track_caller]
pub fn check(
    signature: &str,
    trust: &AzureTrust,
    now: UnixTime,
    expected: Expected<'_>,
) -> Checked {
    let actual = verify_azure(&AzureProof { signature }, trust, now);
    match (&actual, expected) {
        (Ok(identity), Ok(vm_id)) => assert_eq!(identity.vm_id, vm_id),
        (Err(error), Err((kind, message))) => {
            let text = error.to_string();
            assert_eq!(text, message);
            assert_eq!(error.kind(), kind, "{text}");
            assert_message_is_safe(&text, signature);
        }
        (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
    }
    Checked(actual)
}

#[track_caller]
fn assert_message_is_safe(text: &str, signature: &str) {
    assert!(
        text.bytes().all(|byte| (0x20..0x7f).contains(&byte)),
        "{text:?}"
    );
    assert!(!text.contains('{') && !text.contains('"'), "{text}");
    assert!(!text.contains(VM_ID) && !text.contains("http"), "{text}");
    let compact: String = signature.split_ascii_whitespace().collect();
    for window in compact.as_bytes().windows(12) {
        let window = String::from_utf8_lossy(window);
        assert!(!text.contains(window.as_ref()), "{text} echoes the proof");
    }
}

/// A real Azure sample from `tests/data/azure/<dir>`.
pub struct Sample {
    /// `signature.b64`, as in the source.
    pub signature: String,
    /// `signed-content.json`: the exact signed bytes.
    pub content: Vec<u8>,
}

/// `tests/data/azure`.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/azure")
}

/// Loads `tests/data/azure/<dir>`.
pub fn sample(dir: &str) -> Sample {
    let path = data_dir().join(dir);
    Sample {
        signature: std::fs::read_to_string(path.join("signature.b64")).expect("signature.b64"),
        content: std::fs::read(path.join("signed-content.json")).expect("signed-content.json"),
    }
}

/// A chain file of a sample, `tests/data/azure/<dir>/chain/<file>`.
pub fn chain_pem(dir: &str, file: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(dir).join("chain").join(file)).expect("chain file")
}
