//! The cloud metadata services: where they are, how long to wait for them, and how each
//! cloud's identity proof is fetched.
//!
//! Every endpoint defaults to `http://169.254.169.254` and can be moved (to an emulator on a
//! local port, or an IPv6 address) through the same variables the clouds' own SDKs read. The
//! SDK never reads the environment itself: the binary passes its environment to
//! `from_env_map`, and tests build the configs directly.
//!
//! **Invariant:** metadata requests never go through a proxy, are bounded by short timeouts,
//! and every answer's status is checked before its body is used.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;

use crate::error::{Cloud, Error, root_cause};
use crate::proof::Proof;

/// The link-local address every cloud's metadata service answers on.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";

/// A full URL that replaces the AWS metadata endpoint (as in the AWS SDKs).
pub const AWS_ENDPOINT_VARIABLE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// `host[:port]` of the GCE metadata server, spoken to over plain HTTP (as in Google's SDKs).
pub const GCE_HOST_VARIABLE: &str = "GCE_METADATA_HOST";
/// A full URL that replaces the Azure metadata endpoint.
pub const AZURE_ENDPOINT_VARIABLE: &str = "IDGATE_AZURE_IMDS_ENDPOINT";

/// The audience Coder's agents ask Google for, accepted by default by idgate and Coder.
pub const DEFAULT_GCP_AUDIENCE: &str = "coder";

/// The largest metadata answer read, in bytes; real ones are a few KiB.
const MAX_METADATA_BODY: usize = 256 * 1024;

/// The IMDSv2 token request.
pub const AWS_TOKEN_PATH: &str = "/latest/api/token";
/// The AWS identity document.
pub const AWS_DOCUMENT_PATH: &str = "/latest/dynamic/instance-identity/document";
/// The base64 RSA signature of the document.
pub const AWS_SIGNATURE_PATH: &str = "/latest/dynamic/instance-identity/signature";
/// The base64 PKCS#7 (RSA-2048) whose content is the document.
pub const AWS_RSA2048_PATH: &str = "/latest/dynamic/instance-identity/rsa2048";
/// The Azure attested document.
pub const AZURE_ATTESTED_PATH: &str = "/metadata/attested/document?api-version=2020-09-01";
/// The GCP identity token, without its query.
pub const GCP_IDENTITY_PATH: &str =
    "/computeMetadata/v1/instance/service-accounts/default/identity";

const AWS_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const AWS_TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";

/// How long to wait for a metadata service. It is on the same host, so it answers in
/// milliseconds or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataTimeouts {
    /// To open the connection.
    pub connect: Duration,
    /// For a whole request, answer included.
    pub total: Duration,
}

impl Default for MetadataTimeouts {
    /// 2 s to connect, 5 s in all.
    fn default() -> Self {
        MetadataTimeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(5),
        }
    }
}

/// Where and how to ask AWS's instance metadata service (IMDSv2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    /// Base URL, e.g. `http://169.254.169.254` or `http://127.0.0.1:8080`.
    pub endpoint: String,
    /// Lifetime asked for the IMDSv2 token.
    pub token_ttl: Duration,
    /// Timeouts.
    pub timeouts: MetadataTimeouts,
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            endpoint: DEFAULT_METADATA_ENDPOINT.into(),
            token_ttl: Duration::from_secs(21_600),
            timeouts: MetadataTimeouts::default(),
        }
    }
}

impl AwsConfig {
    /// The default configuration, with the endpoint from `AWS_EC2_METADATA_SERVICE_ENDPOINT`
    /// when `env` has it (non-empty).
    pub fn from_env_map(env: &HashMap<String, String>) -> AwsConfig {
        let mut config = AwsConfig::default();
        if let Some(url) = non_empty(env, AWS_ENDPOINT_VARIABLE) {
            config.endpoint = url.to_owned();
        }
        config
    }

    /// The same configuration with another endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> AwsConfig {
        self.endpoint = endpoint.into();
        self
    }
}

/// Where and how to ask Azure's instance metadata service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureConfig {
    /// Base URL, e.g. `http://169.254.169.254`.
    pub endpoint: String,
    /// Timeouts.
    pub timeouts: MetadataTimeouts,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            endpoint: DEFAULT_METADATA_ENDPOINT.into(),
            timeouts: MetadataTimeouts::default(),
        }
    }
}

impl AzureConfig {
    /// The default configuration, with the endpoint from `IDGATE_AZURE_IMDS_ENDPOINT` when
    /// `env` has it (non-empty).
    pub fn from_env_map(env: &HashMap<String, String>) -> AzureConfig {
        let mut config = AzureConfig::default();
        if let Some(url) = non_empty(env, AZURE_ENDPOINT_VARIABLE) {
            config.endpoint = url.to_owned();
        }
        config
    }

    /// The same configuration with another endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> AzureConfig {
        self.endpoint = endpoint.into();
        self
    }
}

/// Where and how to ask the GCE metadata server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleConfig {
    /// Base URL, e.g. `http://169.254.169.254` or `http://metadata.google.internal`.
    pub endpoint: String,
    /// The `aud` asked for; the server must accept it (idgate and Coder accept `coder`).
    pub audience: String,
    /// Timeouts.
    pub timeouts: MetadataTimeouts,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            endpoint: DEFAULT_METADATA_ENDPOINT.into(),
            audience: DEFAULT_GCP_AUDIENCE.into(),
            timeouts: MetadataTimeouts::default(),
        }
    }
}

impl GoogleConfig {
    /// The default configuration, with the endpoint `http://<GCE_METADATA_HOST>` when `env`
    /// has that variable (non-empty).
    pub fn from_env_map(env: &HashMap<String, String>) -> GoogleConfig {
        let mut config = GoogleConfig::default();
        if let Some(host) = non_empty(env, GCE_HOST_VARIABLE) {
            config.endpoint = format!("http://{host}");
        }
        config
    }

    /// The same configuration with another endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> GoogleConfig {
        self.endpoint = endpoint.into();
        self
    }

    /// The same configuration with another audience.
    pub fn with_audience(mut self, audience: impl Into<String>) -> GoogleConfig {
        self.audience = audience.into();
        self
    }
}

fn non_empty<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
}

/// Parses a base URL (`http` or `https`, no query) and drops a trailing slash.
pub(crate) fn base_url(what: &'static str, text: &str) -> Result<String, Error> {
    let invalid = |reason: &str| Error::InvalidUrl {
        what,
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(invalid("a host is required"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A URL for messages: scheme, host, port and path, never user information.
pub(crate) fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// Parses `Retry-After` given in seconds (the only form servers send to agents in practice;
/// an HTTP date is ignored and the policy's own backoff applies).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// Reads a body up to `limit` bytes; a longer one is an error rather than a memory hazard.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            body.extend_from_slice(&chunk[..limit - body.len()]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A client for one cloud's metadata service.
#[derive(Debug, Clone)]
pub(crate) struct MetadataClient {
    cloud: Cloud,
    base: String,
    http: reqwest::Client,
}

impl MetadataClient {
    pub(crate) fn new(
        cloud: Cloud,
        endpoint: &str,
        timeouts: MetadataTimeouts,
    ) -> Result<MetadataClient, Error> {
        let what = match cloud {
            Cloud::Aws => "AWS metadata endpoint",
            Cloud::Azure => "Azure metadata endpoint",
            Cloud::Google => "GCP metadata endpoint",
        };
        let base = base_url(what, endpoint)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| Error::HttpClient { source })?;
        Ok(MetadataClient { cloud, base, http })
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns the body of a 200 answer as text.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
        on_timeout: impl FnOnce(String) -> Option<Error>,
    ) -> Result<String, Error> {
        let url = self.url(path);
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Err(self.unreachable(&url, error, on_timeout)),
        };
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(Error::MetadataStatus {
                cloud: self.cloud,
                status: status.as_u16(),
                path: path.to_owned(),
                retry_after: retry_after(response.headers()),
            });
        }
        let body = match read_limited(response, MAX_METADATA_BODY).await {
            Ok(body) => body,
            Err(error) => return Err(self.unreachable(&url, error, on_timeout)),
        };
        String::from_utf8(body).map_err(|_| Error::MetadataBody {
            cloud: self.cloud,
            path: path.to_owned(),
            reason: "the body is not UTF-8".into(),
        })
    }

    fn unreachable(
        &self,
        url: &str,
        error: reqwest::Error,
        on_timeout: impl FnOnce(String) -> Option<Error>,
    ) -> Error {
        // A connection that opens but whose answer never arrives is the IMDSv2 hop-limit
        // symptom; a connection that never opens means no metadata service at all (not on
        // this cloud, or blocked), which the ordinary error describes.
        if error.is_timeout()
            && !error.is_connect()
            && let Some(special) = on_timeout(display_url(url))
        {
            return special;
        }
        let error = error.without_url();
        Error::MetadataUnreachable {
            cloud: self.cloud,
            url: display_url(url),
            reason: root_cause(&error),
            source: error,
        }
    }

    fn non_empty(&self, path: &str, text: String) -> Result<String, Error> {
        if text.trim().is_empty() {
            return Err(Error::MetadataBody {
                cloud: self.cloud,
                path: path.to_owned(),
                reason: "the body is empty".into(),
            });
        }
        Ok(text)
    }

    /// IMDSv2: a session token, then the document, its signature and its PKCS#7.
    pub(crate) async fn aws_proof(&self, token_ttl: Duration) -> Result<Proof, Error> {
        let ttl = token_ttl.as_secs().clamp(1, 21_600).to_string();
        let request = self
            .http
            .put(self.url(AWS_TOKEN_PATH))
            .header(AWS_TTL_HEADER, ttl);
        let token = self
            .send(request, AWS_TOKEN_PATH, |url| {
                Some(Error::ImdsHopLimit { url })
            })
            .await?;
        let token = self.non_empty(AWS_TOKEN_PATH, token)?;
        let token = HeaderValue::from_str(token.trim()).map_err(|_| Error::MetadataBody {
            cloud: Cloud::Aws,
            path: AWS_TOKEN_PATH.into(),
            reason: "the IMDSv2 token is not a valid header value".into(),
        })?;
        let get = |path: &str| {
            self.http
                .get(self.url(path))
                .header(AWS_TOKEN_HEADER, token.clone())
        };
        let document = self
            .send(get(AWS_DOCUMENT_PATH), AWS_DOCUMENT_PATH, |_| None)
            .await?;
        let document = self.non_empty(AWS_DOCUMENT_PATH, document)?;
        let signature = self
            .send(get(AWS_SIGNATURE_PATH), AWS_SIGNATURE_PATH, |_| None)
            .await?;
        let signature = self.non_empty(AWS_SIGNATURE_PATH, signature)?;
        // Every EC2 region serves rsa2048; an emulator or an AWS-compatible cloud may not. A 404
        // there is the only answer that is tolerated: the signature alone is a full proof.
        let pkcs7 = match self
            .send(get(AWS_RSA2048_PATH), AWS_RSA2048_PATH, |_| None)
            .await
        {
            Ok(pkcs7) => Some(self.non_empty(AWS_RSA2048_PATH, pkcs7)?),
            Err(Error::MetadataStatus { status: 404, .. }) => {
                tracing::debug!(
                    "the metadata service has no rsa2048 signature; sending the RSA signature only"
                );
                None
            }
            Err(error) => return Err(error),
        };
        Ok(Proof::Aws {
            document,
            signature,
            pkcs7,
        })
    }

    /// Azure: the attested document, `{"encoding": "pkcs7", "signature": "..."}`.
    pub(crate) async fn azure_proof(&self) -> Result<Proof, Error> {
        let request = self
            .http
            .get(self.url(AZURE_ATTESTED_PATH))
            .header("Metadata", "true");
        let body = self.send(request, AZURE_ATTESTED_PATH, |_| None).await?;

        #[derive(Deserialize)]
        struct Attested {
            encoding: Option<String>,
            signature: Option<String>,
        }
        let invalid = |reason: String| Error::MetadataBody {
            cloud: Cloud::Azure,
            path: AZURE_ATTESTED_PATH.into(),
            reason,
        };
        let attested: Attested = serde_json::from_str(&body)
            .map_err(|e| invalid(format!("not the expected JSON: {e}")))?;
        let encoding = attested.encoding.unwrap_or_else(|| "pkcs7".into());
        if encoding != "pkcs7" {
            return Err(invalid(format!(
                "the encoding is {encoding:?}, not \"pkcs7\""
            )));
        }
        let signature = attested
            .signature
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| invalid("the signature is missing or empty".into()))?;
        Ok(Proof::Azure {
            signature,
            encoding,
        })
    }

    /// GCP: an identity token for `audience`, in the full format (with the instance claims).
    pub(crate) async fn google_proof(&self, audience: &str) -> Result<Proof, Error> {
        let request = self
            .http
            .get(self.url(GCP_IDENTITY_PATH))
            .query(&[("audience", audience), ("format", "full")])
            .header("Metadata-Flavor", "Google");
        let token = self.send(request, GCP_IDENTITY_PATH, |_| None).await?;
        let token = self.non_empty(GCP_IDENTITY_PATH, token)?;
        let token = token.trim().to_owned();
        if token.split('.').count() != 3 {
            return Err(Error::MetadataBody {
                cloud: Cloud::Google,
                path: GCP_IDENTITY_PATH.into(),
                reason: "the body is not a JWT (three dot-separated parts)".into(),
            });
        }
        Ok(Proof::Google {
            json_web_token: token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn endpoints_from_the_cloud_sdks_variables() {
        assert_eq!(
            AwsConfig::from_env_map(&env(&[])).endpoint,
            "http://169.254.169.254"
        );
        assert_eq!(
            AwsConfig::from_env_map(&env(&[(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                "http://[fd00:ec2::254]"
            )]))
            .endpoint,
            "http://[fd00:ec2::254]"
        );
        assert_eq!(
            AwsConfig::from_env_map(&env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", " ")])).endpoint,
            "http://169.254.169.254"
        );
        let gcp = GoogleConfig::from_env_map(&env(&[("GCE_METADATA_HOST", "127.0.0.1:8081")]));
        assert_eq!(gcp.endpoint, "http://127.0.0.1:8081");
        assert_eq!(gcp.audience, "coder");
        assert_eq!(
            AzureConfig::from_env_map(&env(&[(
                "IDGATE_AZURE_IMDS_ENDPOINT",
                "http://localhost:9000/"
            )]))
            .endpoint,
            "http://localhost:9000/"
        );
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            base_url("x", "http://localhost:9000/").unwrap(),
            "http://localhost:9000"
        );
        assert_eq!(
            base_url("x", "https://idgate.example.com/prefix/").unwrap(),
            "https://idgate.example.com/prefix"
        );
        assert!(matches!(
            base_url("x", "ftp://host"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(base_url("x", "localhost:9000").is_err());
        assert!(base_url("x", "http://host/?q=1").is_err());
    }

    #[test]
    fn urls_in_messages_carry_no_credentials() {
        assert_eq!(
            display_url("https://user:secret@host:8443/api?token=x"),
            "https://host:8443/api"
        );
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
