//! The checks on the signer certificate itself: validity, key, name, and what the chain
//! check needs from it (issuer, authority key identifier, AIA caIssuers URLs).
//!
//! Every accessor reads the certificate when called, so an extension is only decoded by the
//! check that needs it and a broken extension fails that check with its own error.

use der::asn1::{Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use der::referenced::OwnedToRef as _;
use der::{Encode as _, Tag, Tagged as _};
use rsa::RsaPublicKey;
use rsa::traits::PublicKeyParts as _;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, SubjectAltName};

use super::chain;
use super::pkcs7::BagCertificate;
use crate::oid::RSA_ENCRYPTION;
use crate::{Error, UnixTime};

/// The Azure metadata service names; the signer must be one of them or a subdomain of one.
pub(super) const AZURE_NAMES: [&str; 4] = [
    "metadata.azure.com",
    "metadata.azure.us",
    "metadata.azure.cn",
    "metadata.microsoftazure.de",
];

/// The most AIA caIssuers URLs reported, and the longest one kept.
const MAX_URLS: usize = 4;
const MAX_URL_LEN: usize = 1024;

const ID_AT_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const ID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// The certificate the SignerInfo names (not yet trusted).
pub(super) struct SignerCertificate<'a> {
    certificate: &'a Certificate,
    der: &'a [u8],
}

impl<'a> SignerCertificate<'a> {
    pub(super) fn new(bag_certificate: &'a BagCertificate) -> SignerCertificate<'a> {
        SignerCertificate {
            certificate: &bag_certificate.certificate,
            der: &bag_certificate.der,
        }
    }

    /// The certificate's DER.
    pub(super) fn der(&self) -> &'a [u8] {
        self.der
    }

    /// The certificate's own validity at `now`, checked before anything else about it.
    pub(super) fn check_validity(&self, now: UnixTime) -> Result<(), Error> {
        let validity = &self.certificate.tbs_certificate.validity;
        if now < UnixTime::from_x509(validity.not_before) {
            return Err(Error::AzureSignerNotYetValid);
        }
        if now > UnixTime::from_x509(validity.not_after) {
            return Err(Error::AzureSignerExpired);
        }
        Ok(())
    }

    /// The certificate's RSA key, 2048 to 4096 bits.
    pub(super) fn rsa_key(&self) -> Result<RsaPublicKey, Error> {
        let spki = &self.certificate.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(Error::AzureSignerKey);
        }
        // rsa refuses moduli over 4096 bits when decoding.
        let key = RsaPublicKey::try_from(spki.owned_to_ref()).map_err(|_| Error::AzureSignerKey)?;
        if key.size() * 8 < 2048 {
            return Err(Error::AzureSignerKey);
        }
        Ok(key)
    }

    /// The first of the certificate's names that is an Azure metadata service name,
    /// lowercased. The names are the SAN dNSNames when the certificate has a SAN extension,
    /// else its one CN.
    pub(super) fn azure_name(&self) -> Result<String, Error> {
        let names = self.names()?;
        names
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .find(|name| is_azure_name(name))
            .ok_or(Error::AzureSignerName)
    }

    fn names(&self) -> Result<Vec<String>, Error> {
        let tbs = &self.certificate.tbs_certificate;
        let san = tbs
            .get::<SubjectAltName>()
            .map_err(|_| Error::AzureSignerExtension {
                extension: "subject alternative name",
            })?;
        if let Some((_, san)) = san {
            let names = san
                .0
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DnsName(name) => Some(name.as_str().to_owned()),
                    _ => None,
                })
                .collect();
            return Ok(names);
        }
        let mut common_names = tbs
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .filter(|attribute| attribute.oid == ID_AT_COMMON_NAME);
        match (common_names.next(), common_names.next()) {
            (Some(attribute), None) => Ok(directory_string(&attribute.value).into_iter().collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// The DER of the issuer name.
    pub(super) fn issuer_der(&self) -> Option<Vec<u8>> {
        self.certificate.tbs_certificate.issuer.to_der().ok()
    }

    /// Whether the certificate names itself as its issuer.
    pub(super) fn is_self_issued(&self) -> bool {
        let tbs = &self.certificate.tbs_certificate;
        tbs.issuer == tbs.subject
    }

    /// The key identifier of the authority key identifier extension, if any (a broken
    /// extension counts as none: it only narrows which known certificate is the issuer).
    pub(super) fn authority_key_id(&self) -> Option<Vec<u8>> {
        chain::authority_key_id(self.certificate)
    }

    /// The AIA caIssuers URLs with an `http` or `https` scheme (at most four, each at most
    /// 1024 printable ASCII characters); others are skipped.
    pub(super) fn ca_issuers_urls(&self) -> Result<Vec<String>, Error> {
        let aia = self
            .certificate
            .tbs_certificate
            .get::<AuthorityInfoAccessSyntax>()
            .map_err(|_| Error::AzureSignerExtension {
                extension: "authority information access",
            })?;
        let Some((_, aia)) = aia else {
            return Ok(Vec::new());
        };
        let urls = aia
            .0
            .iter()
            .filter(|access| access.access_method == ID_AD_CA_ISSUERS)
            .filter_map(|access| match &access.access_location {
                GeneralName::UniformResourceIdentifier(url) => Some(url.as_str()),
                _ => None,
            })
            .filter(|url| is_fetchable_url(url))
            .take(MAX_URLS)
            .map(str::to_owned)
            .collect();
        Ok(urls)
    }
}

/// Whether `name` (lowercase) is an Azure metadata service name or a subdomain of one, on a
/// label boundary: `x.metadata.azure.com` is, `evilmetadata.azure.com` and
/// `metadata.azure.com.evil.net` are not. Names must be ASCII letters, digits, `-` and `.`
/// with non-empty labels; a leftmost `*` label is allowed.
pub(super) fn is_azure_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 || !is_dns_name(name) {
        return false;
    }
    AZURE_NAMES.iter().any(|base| {
        name == *base
            || name
                .strip_suffix(base)
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
    })
}

fn is_dns_name(name: &str) -> bool {
    name.split('.').enumerate().all(|(index, label)| {
        let wildcard = index == 0 && label == "*";
        wildcard
            || (!label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-'))
    })
}

/// `http://` or `https://` (any case), printable ASCII without spaces, at most 1024 bytes.
fn is_fetchable_url(url: &str) -> bool {
    let lower = url
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && url.len() <= MAX_URL_LEN
        && url.bytes().all(|byte| byte.is_ascii_graphic())
}

/// The text of a CN attribute value (PrintableString, UTF8String or IA5String).
fn directory_string(value: &der::Any) -> Option<String> {
    match value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(value)
            .ok()
            .map(|text| text.as_str().to_owned()),
        Tag::Utf8String => Utf8StringRef::try_from(value)
            .ok()
            .map(|text| text.as_str().to_owned()),
        Tag::Ia5String => Ia5StringRef::try_from(value)
            .ok()
            .map(|text| text.as_str().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_names_match_on_label_boundaries() {
        for good in [
            "metadata.azure.com",
            "eastus.metadata.azure.com",
            "x.y.metadata.azure.com",
            "metadata.azure.us",
            "usgovvirginia.metadata.azure.us",
            "metadata.azure.cn",
            "metadata.microsoftazure.de",
            "*.metadata.azure.com",
        ] {
            assert!(is_azure_name(good), "{good}");
        }
        for bad in [
            "",
            "evilmetadata.azure.com",
            "metadata.azure.com.evil.net",
            ".metadata.azure.com",
            "a..metadata.azure.com",
            "metadata.azure.com.",
            "metadata.azure.org",
            "azure.com",
            "x.*.metadata.azure.com",
            "x y.metadata.azure.com",
            "metadata.microsoftazure.com",
            "metadata-azure.com",
        ] {
            assert!(!is_azure_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_http_urls_are_fetchable() {
        assert!(is_fetchable_url(
            "http://www.microsoft.com/pkiops/certs/Microsoft%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt"
        ));
        assert!(is_fetchable_url("HTTPS://caissuers.microsoft.com/x.crt"));
        for bad in [
            "ldap://example.com/x",
            "file:///etc/passwd",
            "http://a b",
            "http",
            "",
        ] {
            assert!(!is_fetchable_url(bad), "{bad:?}");
        }
        assert!(!is_fetchable_url(&format!(
            "http://{}",
            "a".repeat(MAX_URL_LEN)
        )));
    }
}
