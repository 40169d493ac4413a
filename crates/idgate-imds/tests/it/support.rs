//! Shared keys (generating RSA keys is the slow part, so each is made once per test binary),
//! emulators configured for each cloud, and small HTTP helpers.

use std::sync::LazyLock;
use std::time::Duration;

use idgate_imds::aws::AwsSigner;
use idgate_imds::azure::{AzureCaOptions, AzureSigner};
use idgate_imds::faults::Faults;
use idgate_imds::gcp::GcpSigner;
use idgate_imds::server::{
    Clock, CloudSigner, EmulatorConfig, ManualClock, RunningEmulator, spawn,
};
use rsa::RsaPrivateKey;
use time::OffsetDateTime;
use time::macros::datetime;

/// The time of every manual clock.
pub const START: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

/// The AWS key, and the certificate made for it once (so its serial is stable).
pub static AWS_KEY: LazyLock<(RsaPrivateKey, String)> = LazyLock::new(|| {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
    let signer = AwsSigner::from_key(key.clone()).expect("AWS signer");
    (key, signer.certificate_pem().to_owned())
});

/// The Azure test CA, valid around [`START`] and now.
pub static AZURE: LazyLock<AzureSigner> = LazyLock::new(|| {
    AzureSigner::generate(&AzureCaOptions::valid_from(START)).expect("Azure test CA")
});

/// The GCP token key.
pub static GCP_KEY: LazyLock<RsaPrivateKey> =
    LazyLock::new(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key"));

/// An AWS signer with the shared key and certificate.
pub fn aws_signer() -> AwsSigner {
    let (key, pem) = &*AWS_KEY;
    AwsSigner::from_key_and_certificate(key.clone(), pem).expect("AWS signer")
}

/// A GCP signer with the shared key.
pub fn gcp_signer() -> GcpSigner {
    GcpSigner::from_key(GCP_KEY.clone())
}

/// The signer of `cloud` ("aws", "azure" or "gcp").
pub fn signer(cloud: &str) -> CloudSigner {
    match cloud {
        "aws" => CloudSigner::Aws(aws_signer()),
        "azure" => CloudSigner::Azure(AZURE.clone()),
        "gcp" => CloudSigner::Gcp(gcp_signer()),
        other => panic!("no cloud {other}"),
    }
}

/// An emulator of `cloud` on a manual clock at [`START`], with `faults`.
pub async fn start_with(cloud: &str, faults: Faults) -> (RunningEmulator, ManualClock) {
    let clock = ManualClock::new(START);
    let mut config = EmulatorConfig::new(signer(cloud));
    config.clock = Clock::Manual(clock.clone());
    config.faults = faults;
    let emulator = spawn(config).await.expect("start the emulator");
    (emulator, clock)
}

/// An emulator of `cloud` without faults, on a manual clock at [`START`].
pub async fn start(cloud: &str) -> (RunningEmulator, ManualClock) {
    start_with(cloud, Faults::default()).await
}

/// A client with a deadline on every request, so no test can hang.
pub fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(30))
}

/// A client whose requests give up after `timeout`.
pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .expect("HTTP client")
}
