//! The emulator's directory: keys created once and reused, trust files for `idgate server`.

use std::path::Path;

use idgate_imds::Error;
use idgate_imds::aws::AwsSigner;
use idgate_imds::files::{self, prepare};
use idgate_imds::server::{Cloud, CloudSigner};

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn aws_keys_are_reused_and_the_certificate_is_written_for_the_server() {
    let dir = temp_dir();
    let first = prepare(dir.path(), Cloud::Aws).unwrap();
    let CloudSigner::Aws(signer) = &first.signer else {
        panic!("an AWS signer");
    };
    let trusted = dir.path().join("aws-certs/idgate-imds.pem");
    assert_eq!(read(&trusted), signer.certificate_pem());
    assert_eq!(
        first.server_command(),
        format!(
            "idgate server --aws-certs {}",
            dir.path().join("aws-certs").display()
        )
    );

    // Same key and same certificate (so PKCS#7 serials stay valid) on the next start.
    let second = prepare(dir.path(), Cloud::Aws).unwrap();
    let CloudSigner::Aws(again) = &second.signer else {
        panic!("an AWS signer");
    };
    assert_eq!(again.certificate_pem(), signer.certificate_pem());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = dir
            .path()
            .join(files::AWS_KEY_DIR)
            .join("aws-signing-key.pem");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn an_aws_certificate_needs_its_key() {
    let dir = temp_dir();
    let signer = AwsSigner::load_or_create(dir.path()).unwrap();
    let key = dir.path().join("aws-signing-key.pem");
    let certificate = dir.path().join("aws-certificate.pem");

    // A missing certificate is made again for the same key.
    std::fs::remove_file(&certificate).unwrap();
    let remade = AwsSigner::load_or_create(dir.path()).unwrap();
    assert_ne!(remade.certificate_pem(), signer.certificate_pem());

    // A certificate of another key is refused, not replaced.
    let other = tempfile::tempdir().unwrap();
    AwsSigner::load_or_create(other.path()).unwrap();
    std::fs::copy(other.path().join("aws-certificate.pem"), &certificate).unwrap();
    let error = AwsSigner::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(error, Error::InvalidFile { .. }), "{error}");

    // A certificate without its key is refused.
    std::fs::remove_file(&key).unwrap();
    let error = AwsSigner::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(error, Error::InvalidFile { .. }), "{error}");

    // So is a key file that holds no key.
    std::fs::write(&key, "garbage").unwrap();
    let error = AwsSigner::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(error, Error::InvalidFile { .. }), "{error}");
}

#[test]
fn azure_and_gcp_trust_files() {
    let dir = temp_dir();
    let azure = prepare(dir.path(), Cloud::Azure).unwrap();
    let CloudSigner::Azure(signer) = &azure.signer else {
        panic!("an Azure signer");
    };
    assert_eq!(read(&dir.path().join("azure/roots.pem")), signer.root_pem());
    assert_eq!(
        read(&dir.path().join("azure/intermediates.pem")),
        signer.intermediate_pem()
    );
    let flags: Vec<&str> = azure.server_flags.iter().map(|flag| flag.flag).collect();
    assert_eq!(flags, ["--azure-roots", "--azure-intermediates"]);

    let gcp = prepare(dir.path(), Cloud::Gcp).unwrap();
    let CloudSigner::Gcp(signer) = &gcp.signer else {
        panic!("a GCP signer");
    };
    assert_eq!(read(&dir.path().join("gcp/jwks.json")), signer.jwks_json());
    assert_eq!(
        gcp.server_command(),
        format!(
            "idgate server --gcp-jwks {}",
            dir.path().join("gcp/jwks.json").display()
        )
    );
}
