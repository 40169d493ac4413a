//! GCP identity tokens signed as the metadata server signs them: the RS256 JWT of
//! `.../service-accounts/default/identity?audience=...&format=full`, with a generated RSA-2048
//! key published as a one-key JWKS (for `idgate server --gcp-jwks`).

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use signature::{SignatureEncoding as _, Signer as _};

use crate::Error;

/// The size of generated keys, in bits (Google's are RSA-2048).
pub const KEY_BITS: usize = 2048;

/// The name of the key file [`GcpSigner::load_or_create`] keeps in its directory (PKCS#8 PEM).
pub const KEY_FILE_NAME: &str = "gcp-signing-key.pem";

/// The `iss` of every token.
pub const ISSUER: &str = "https://accounts.google.com";

/// How long a token is valid, in seconds (as Google's: one hour).
pub const TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// How long before `issued_at` the emulated instance was created, in seconds (the token's
/// `instance_creation_timestamp`).
const INSTANCE_AGE_SECONDS: i64 = 300;

/// The identity of one emulated Compute Engine instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpInstance {
    /// `instance_id`: a decimal string, e.g. `2875949485074006138`.
    pub instance_id: String,
    /// `instance_name`, e.g. `dev-vm-1`.
    pub instance_name: String,
    /// `project_id`, e.g. `my-project`.
    pub project_id: String,
    /// `project_number`: decimal digits (written as a JSON number, as Google does; anything
    /// that is not a `u64` is written as a string).
    pub project_number: String,
    /// `zone`, e.g. `us-central1-a`.
    pub zone: String,
}

/// An RSA-2048 signing key and its key ID, standing in for Google's token-signing key.
pub struct GcpSigner {
    key: SigningKey<Sha256>,
    public: RsaPublicKey,
    kid: String,
}

impl std::fmt::Debug for GcpSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpSigner")
            .field("kid", &self.kid)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl GcpSigner {
    /// Generates a new RSA-2048 key.
    pub fn generate() -> Result<GcpSigner, Error> {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)?;
        Ok(GcpSigner::from_key(private))
    }

    /// Wraps an existing key. The key ID is derived from the public key (40 hex digits, like
    /// Google's), so the same key always has the same `kid`.
    pub fn from_key(private: RsaPrivateKey) -> GcpSigner {
        let public = private.to_public_key();
        let kid = key_id(&public);
        GcpSigner {
            key: SigningKey::<Sha256>::new(private),
            public,
            kid,
        }
    }

    /// Loads the key from `dir/`[`KEY_FILE_NAME`] (PKCS#8 PEM), or generates one and writes it
    /// there (creating `dir`; on Unix the file is created with mode 0600). A key file that
    /// exists but does not hold a PKCS#8 RSA key is an [`Error::InvalidFile`], never silently
    /// replaced.
    pub fn load_or_create(dir: &Path) -> Result<GcpSigner, Error> {
        let path = dir.join(KEY_FILE_NAME);
        let io_error = |source: io::Error| Error::Io {
            path: path.clone(),
            source,
        };
        match fs::read_to_string(&path) {
            Ok(pem) => return parse_key_file(&path, &pem),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error(error)),
        }
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)?;
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|error| Error::Certificate(error.to_string()))?;
        fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        match create_private_file(&path) {
            Ok(mut file) => {
                file.write_all(pem.as_bytes()).map_err(io_error)?;
                file.sync_all().map_err(io_error)?;
                Ok(GcpSigner::from_key(private))
            }
            // Another process created it first: use that one.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                let pem = fs::read_to_string(&path).map_err(io_error)?;
                parse_key_file(&path, &pem)
            }
            Err(error) => Err(io_error(error)),
        }
    }

    /// The key ID (`kid`) of the tokens and of the JWKS entry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// A self-signed certificate (PEM) for the public key, valid for ten years from now, as
    /// in Google's `oauth2/v1/certs` map (`{"<kid>": "<certificate PEM>"}`), which some
    /// client libraries verify tokens with. Each call makes a new certificate (a new serial
    /// number) for the same key.
    pub fn certificate_pem(&self) -> Result<String, Error> {
        crate::aws::self_signed_certificate_for(
            &self.key,
            "CN=idgate test GCP token signer,O=idgate emulator,C=US",
        )
    }

    /// The one-key JWKS for `idgate server --gcp-jwks`, in the format of Google's
    /// `oauth2/v3/certs`.
    pub fn jwks_json(&self) -> String {
        let jwk = json!({
            "alg": "RS256",
            "e": URL_SAFE_NO_PAD.encode(self.public.e().to_bytes_be()),
            "kid": self.kid,
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(self.public.n().to_bytes_be()),
            "use": "sig",
        });
        json!({ "keys": [jwk] }).to_string()
    }

    /// The token the metadata server returns for
    /// `.../service-accounts/default/identity?audience=<audience>` (with `&format=full` when
    /// `format_full`): `iss`, `aud`, `azp`, `sub`, `email` and `email_verified` of the
    /// instance's default service account, `iat` = `issued_at`, `exp` = `iat` + 3600, and with
    /// `format_full` the `google.compute_engine` object.
    pub fn identity_token(
        &self,
        claims: &GcpInstance,
        audience: &str,
        issued_at: time::OffsetDateTime,
        format_full: bool,
    ) -> String {
        let iat = issued_at.unix_timestamp();
        let account_id = service_account_id(&claims.project_number);
        // Keys in the order Google writes them (alphabetical), whatever serde_json's map is.
        let mut payload = serde_json::Map::new();
        payload.insert("aud".into(), audience.into());
        payload.insert("azp".into(), account_id.clone().into());
        payload.insert(
            "email".into(),
            format!(
                "{}-compute@developer.gserviceaccount.com",
                claims.project_number
            )
            .into(),
        );
        payload.insert("email_verified".into(), true.into());
        payload.insert(
            "exp".into(),
            iat.saturating_add(TOKEN_LIFETIME_SECONDS).into(),
        );
        if format_full {
            let project_number = match claims.project_number.parse::<u64>() {
                Ok(number) => Value::from(number),
                Err(_) => Value::from(claims.project_number.clone()),
            };
            let mut engine = serde_json::Map::new();
            engine.insert(
                "instance_creation_timestamp".into(),
                iat.saturating_sub(INSTANCE_AGE_SECONDS).into(),
            );
            engine.insert("instance_id".into(), claims.instance_id.clone().into());
            engine.insert("instance_name".into(), claims.instance_name.clone().into());
            engine.insert("project_id".into(), claims.project_id.clone().into());
            engine.insert("project_number".into(), project_number);
            engine.insert("zone".into(), claims.zone.clone().into());
            payload.insert("google".into(), json!({ "compute_engine": engine }));
        }
        payload.insert("iat".into(), iat.into());
        payload.insert("iss".into(), ISSUER.into());
        payload.insert("sub".into(), account_id.into());
        let header = json!({ "alg": "RS256", "kid": self.kid, "typ": "JWT" });
        self.sign_raw(&header.to_string(), &Value::Object(payload).to_string())
    }

    /// Signs arbitrary header and payload text with RS256 (for tests that need odd headers or
    /// claims): `b64url(header).b64url(payload).b64url(RSASSA-PKCS1-v1_5-SHA256(...))`. The
    /// texts are used as given, even when they are not JSON or name another algorithm.
    pub fn sign_raw(&self, header_json: &str, payload_json: &str) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(payload_json)
        );
        let signature = self.key.sign(signing_input.as_bytes()).to_vec();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A PKCS#8 PEM RSA private key, read from `path`.
fn parse_key_file(path: &Path, pem: &str) -> Result<GcpSigner, Error> {
    match RsaPrivateKey::from_pkcs8_pem(pem) {
        Ok(private) => Ok(GcpSigner::from_key(private)),
        Err(_) => Err(Error::InvalidFile {
            path: path.to_path_buf(),
            reason: "not a PKCS#8 PEM RSA private key".to_owned(),
        }),
    }
}

/// Creates a new file that only its owner can read (on Unix).
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// 40 hex digits of SHA-256 over the modulus and exponent.
fn key_id(public: &RsaPublicKey) -> String {
    let mut hasher = Sha256::new();
    hasher.update(public.n().to_bytes_be());
    hasher.update(public.e().to_bytes_be());
    hex(&hasher.finalize()[..20])
}

/// The default service account's numeric ID (`sub`, `azp`): 21 digits derived from the
/// project number, so one project always has the same account.
fn service_account_id(project_number: &str) -> String {
    let digest = Sha256::digest(project_number.as_bytes());
    let mut value = [0u8; 8];
    value.copy_from_slice(&digest[..8]);
    format!("1{:020}", u64::from_be_bytes(value))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> GcpInstance {
        GcpInstance {
            instance_id: "2875949485074006138".into(),
            instance_name: "dev-vm-1".into(),
            project_id: "my-project".into(),
            project_number: "326694433618".into(),
            zone: "europe-west1-b".into(),
        }
    }

    fn decode(segment: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn tokens_look_like_googles() {
        let signer = GcpSigner::generate().unwrap();
        let issued_at = time::macros::datetime!(2025-02-12 01:46:31 UTC);
        let token = signer.identity_token(&instance(), "coder", issued_at, true);
        let segments: Vec<&str> = token.split('.').collect();
        assert_eq!(segments.len(), 3);
        let header = decode(segments[0]);
        assert_eq!(
            header,
            json!({"alg": "RS256", "kid": signer.kid(), "typ": "JWT"})
        );
        let payload = decode(segments[1]);
        assert_eq!(payload["iss"], "https://accounts.google.com");
        assert_eq!(payload["aud"], "coder");
        assert_eq!(payload["iat"], 1_739_324_791);
        assert_eq!(payload["exp"], 1_739_324_791 + 3600);
        assert_eq!(payload["azp"], payload["sub"]);
        assert_eq!(payload["sub"].as_str().unwrap().len(), 21);
        assert_eq!(
            payload["email"],
            "326694433618-compute@developer.gserviceaccount.com"
        );
        let engine = &payload["google"]["compute_engine"];
        assert_eq!(engine["instance_id"], "2875949485074006138");
        assert_eq!(engine["instance_name"], "dev-vm-1");
        assert_eq!(engine["project_id"], "my-project");
        assert_eq!(engine["project_number"], 326_694_433_618u64);
        assert_eq!(engine["zone"], "europe-west1-b");
        assert_eq!(engine["instance_creation_timestamp"], 1_739_324_491);
        // Google writes the claims in alphabetical order.
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(segments[1]).unwrap()).unwrap();
        assert!(text.starts_with(r#"{"aud":"coder","azp":"#), "{text}");
        assert!(text.ends_with(&format!(
            r#""sub":"{}"}}"#,
            payload["sub"].as_str().unwrap()
        )));

        let short = signer.identity_token(&instance(), "coder", issued_at, false);
        let payload = decode(short.split('.').nth(1).unwrap());
        assert!(payload.get("google").is_none());
    }

    #[test]
    fn tokens_verify_with_the_published_key() {
        let signer = GcpSigner::generate().unwrap();
        let token = signer.sign_raw("{\"alg\":\"RS256\"}", "not json");
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let digest = Sha256::digest(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let jwks: Value = serde_json::from_str(&signer.jwks_json()).unwrap();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kid"], signer.kid());
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        let public = RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&n),
            rsa::BigUint::from_bytes_be(&[1, 0, 1]),
        )
        .unwrap();
        public
            .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &signature)
            .unwrap();
        assert_eq!(signer.kid().len(), 40);
        assert!(format!("{signer:?}").contains("redacted"));
    }

    #[test]
    fn load_or_create_keeps_the_key() {
        let dir = std::env::temp_dir().join(format!(
            "idgate-imds-gcp-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let first = GcpSigner::load_or_create(&dir).unwrap();
        let second = GcpSigner::load_or_create(&dir).unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(first.jwks_json(), second.jwks_json());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.join(KEY_FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(dir.join(KEY_FILE_NAME), "garbage").unwrap();
        let error = GcpSigner::load_or_create(&dir).unwrap_err();
        assert!(matches!(error, Error::InvalidFile { .. }), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
