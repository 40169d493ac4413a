//! [`GcpKeys`]: Google's token-signing keys, by key ID.
//!
//! Two formats are read, both served by Google:
//!
//! * a JWKS (`https://www.googleapis.com/oauth2/v3/certs`): `{"keys": [{"kty": "RSA", "alg":
//!   "RS256", "use": "sig", "kid", "n", "e"}, ...]}`. Entries that are not for RS256 signatures
//!   (another `kty`, an `alg` other than `RS256`, a `use` other than `sig`, or no `kid`) are
//!   skipped; an entry that claims to be an RS256 key but is not a valid one is an error.
//! * the v1 map (`https://www.googleapis.com/oauth2/v1/certs`): `{"<kid>": "-----BEGIN
//!   CERTIFICATE-----..."}`. Certificates are containers of keys here, like JWKS entries:
//!   their validity dates are not checked (a JWKS has none, and the token's own `exp` bounds
//!   its life).
//!
//! Keys must be RSA with a modulus of at least [`MIN_KEY_BITS`] bits (Google's are 2048).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use der::DecodePem as _;
use der::referenced::OwnedToRef as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};
use x509_cert::Certificate;

use crate::oid::RSA_ENCRYPTION;
use crate::{Error, json};

/// The smallest RSA modulus accepted, in bits.
pub const MIN_KEY_BITS: usize = 2048;

/// Google's token-signing keys, by key ID (`kid`).
#[derive(Clone)]
pub struct GcpKeys {
    keys: BTreeMap<String, RsaPublicKey>,
}

impl GcpKeys {
    /// Reads a JWKS, or Google's v1 map of key IDs to PEM certificates.
    ///
    /// Fails with [`Error::GcpKeySetFormat`] when the JSON is neither, with
    /// [`Error::InvalidGcpKey`], [`Error::InvalidCertificate`] or [`Error::DuplicateKeyId`] when
    /// an entry is broken (positions are 1-based: in the `keys` array, or in key-ID order for
    /// the v1 map), and with [`Error::NoUsableGcpKeys`] when no usable key remains.
    pub fn from_jwks_json(bytes: &[u8]) -> Result<GcpKeys, Error> {
        let object = json::object(bytes).ok_or(Error::GcpKeySetFormat)?;
        let keys = match object.get("keys") {
            Some(Value::Array(entries)) => from_jwks(entries)?,
            Some(_) => return Err(Error::GcpKeySetFormat),
            None => from_certificate_map(&object)?,
        };
        if keys.is_empty() {
            return Err(Error::NoUsableGcpKeys);
        }
        Ok(GcpKeys { keys })
    }

    /// The key IDs, sorted.
    pub fn kids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// Whether the set holds a key with this ID.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty (never true for a set made by [`GcpKeys::from_jwks_json`]).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with this ID.
    pub(super) fn get(&self, kid: &str) -> Option<&RsaPublicKey> {
        self.keys.get(kid)
    }
}

impl fmt::Debug for GcpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpKeys")
            .field("kids", &self.kids())
            .finish()
    }
}

/// The usable entries of a JWKS `keys` array.
fn from_jwks(entries: &[Value]) -> Result<BTreeMap<String, RsaPublicKey>, Error> {
    let mut keys = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let position = index + 1;
        let Value::Object(jwk) = entry else {
            return Err(Error::InvalidGcpKey { position });
        };
        let Some(kid) = rs256_signing_kid(jwk) else {
            continue;
        };
        let key = jwk_public_key(jwk).ok_or(Error::InvalidGcpKey { position })?;
        insert(&mut keys, kid, key, position)?;
    }
    Ok(keys)
}

/// The `kid` of a JWK meant for RS256 signatures, or `None` for an entry to skip: `kty` must
/// be `RSA`, `alg` and `use` (optional in JWKs) must be `RS256` and `sig` when present, and
/// `kid` a non-empty string.
fn rs256_signing_kid(jwk: &Map<String, Value>) -> Option<&str> {
    let is = |field: &str, expected: &str| jwk.get(field).and_then(Value::as_str) == Some(expected);
    if !is("kty", "RSA") {
        return None;
    }
    if jwk.contains_key("alg") && !is("alg", "RS256") {
        return None;
    }
    if jwk.contains_key("use") && !is("use", "sig") {
        return None;
    }
    match jwk.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Some(kid),
        _ => None,
    }
}

/// The RSA key of a JWK: `n` and `e` as unpadded base64url big-endian integers.
fn jwk_public_key(jwk: &Map<String, Value>) -> Option<RsaPublicKey> {
    let integer = |field: &str| {
        let text = jwk.get(field)?.as_str()?;
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(BigUint::from_bytes_be(&bytes))
    };
    let key = RsaPublicKey::new(integer("n")?, integer("e")?).ok()?;
    is_large_enough(&key).then_some(key)
}

/// The keys of a v1 map: every value a PEM certificate with an RSA key.
fn from_certificate_map(
    object: &Map<String, Value>,
) -> Result<BTreeMap<String, RsaPublicKey>, Error> {
    let mut keys = BTreeMap::new();
    for (index, (kid, value)) in object.iter().enumerate() {
        let position = index + 1;
        // A map whose values are not PEM certificates (a single JWK, say) is another format.
        let Some(pem) = value.as_str().filter(|text| is_pem_certificate(text)) else {
            return Err(Error::GcpKeySetFormat);
        };
        if kid.is_empty() {
            return Err(Error::InvalidGcpKey { position });
        }
        let cert = Certificate::from_pem(pem.as_bytes())
            .map_err(|source| Error::InvalidCertificate { position, source })?;
        let key = certificate_public_key(&cert).ok_or(Error::InvalidGcpKey { position })?;
        insert(&mut keys, kid, key, position)?;
    }
    Ok(keys)
}

/// Whether `text` looks like a PEM certificate (whose body may still be invalid).
fn is_pem_certificate(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN CERTIFICATE-----")
}

/// The RSA key of a certificate (the algorithm is read from the certificate).
fn certificate_public_key(cert: &Certificate) -> Option<RsaPublicKey> {
    let spki = cert.tbs_certificate.subject_public_key_info.owned_to_ref();
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return None;
    }
    let key = RsaPublicKey::try_from(spki).ok()?;
    is_large_enough(&key).then_some(key)
}

fn is_large_enough(key: &RsaPublicKey) -> bool {
    key.n().bits() >= MIN_KEY_BITS
}

/// Adds a key; a key ID may occur only once.
fn insert(
    keys: &mut BTreeMap<String, RsaPublicKey>,
    kid: &str,
    key: RsaPublicKey,
    position: usize,
) -> Result<(), Error> {
    if keys.insert(kid.to_owned(), key).is_some() {
        return Err(Error::DuplicateKeyId { position });
    }
    Ok(())
}
