//! The one error type of the SDK, how each error is classified for retrying, and the advice
//! shown to the person who has to fix it.
//!
//! **Invariant:** no variant carries a session token or an identity proof, so an error can be
//! logged or printed as it is.

use std::fmt;
use std::time::Duration;

use idgate_api::ErrorCode;

/// The cloud whose metadata service is asked for the instance's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// Amazon EC2 (IMDSv2).
    Aws,
    /// Azure (attested data).
    Azure,
    /// Google Compute Engine (identity token).
    Google,
}

impl Cloud {
    /// The name people use for the cloud.
    pub fn display_name(self) -> &'static str {
        match self {
            Cloud::Aws => "AWS",
            Cloud::Azure => "Azure",
            Cloud::Google => "GCP",
        }
    }

    /// The environment variable that moves this cloud's metadata endpoint.
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Cloud::Aws => crate::metadata::AWS_ENDPOINT_VARIABLE,
            Cloud::Azure => crate::metadata::AZURE_ENDPOINT_VARIABLE,
            Cloud::Google => crate::metadata::GCE_HOST_VARIABLE,
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// How a failure should be retried (see [`crate::retry::RetryPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// May go away by itself (network, 5xx, 429): back off exponentially with full jitter.
    Transient,
    /// Will not change until someone changes something (400, 401, 404, 409): retry slowly.
    Permanent,
}

/// Everything that can go wrong in the SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configured URL does not parse or is not `http`/`https`.
    #[error("invalid {what} {url:?}: {reason}")]
    InvalidUrl {
        /// Which URL (e.g. "server URL", "AWS metadata endpoint").
        what: &'static str,
        /// The text given.
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// A static session token is empty or cannot be sent in an HTTP header.
    #[error("the session token is {reason}")]
    InvalidToken {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("cannot build the HTTP client: {source}")]
    HttpClient {
        /// The cause.
        #[source]
        source: reqwest::Error,
    },

    /// The metadata service did not answer (connection refused, no route, timeout).
    #[error("cannot reach the {cloud} metadata service at {url}: {reason}")]
    MetadataUnreachable {
        /// Which cloud's service.
        cloud: Cloud,
        /// The URL asked, without credentials.
        url: String,
        /// The innermost cause, as text.
        reason: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },

    /// The metadata service answered with a status other than 200.
    #[error("the {cloud} metadata service answered {status} to {path}")]
    MetadataStatus {
        /// Which cloud's service.
        cloud: Cloud,
        /// The HTTP status.
        status: u16,
        /// The path asked.
        path: String,
        /// Seconds from a `Retry-After` header, if any.
        retry_after: Option<Duration>,
    },

    /// The IMDSv2 token request (`PUT /latest/api/token`) timed out: the classic symptom of a
    /// hop limit of 1 seen from a container.
    #[error(
        "the IMDSv2 token request to {url} timed out: in a container the instance's metadata hop \
         limit is probably 1; raise it with `aws ec2 modify-instance-metadata-options \
         --instance-id <ID> --http-put-response-hop-limit 2`"
    )]
    ImdsHopLimit {
        /// The URL of the token request.
        url: String,
    },

    /// The metadata service answered 200 with a body that is not what that path returns.
    #[error("the {cloud} metadata service's answer to {path} is not usable: {reason}")]
    MetadataBody {
        /// Which cloud's service.
        cloud: Cloud,
        /// The path asked.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The idgate server did not answer.
    #[error("cannot reach the server at {url}: {reason}")]
    ServerUnreachable {
        /// The URL asked, without credentials.
        url: String,
        /// The innermost cause, as text.
        reason: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },

    /// The server answered with an error status.
    #[error("{}", describe_rejection(*status, *code, message, detail.as_deref()))]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The stable reason, when the server sent one.
        code: Option<ErrorCode>,
        /// The server's sentence (or a description of the status when the body was not an
        /// idgate error body).
        message: String,
        /// The server's further explanation.
        detail: Option<String>,
        /// Seconds from a `Retry-After` header, if any.
        retry_after: Option<Duration>,
    },

    /// The server answered 2xx with a body that is not what was expected.
    #[error("the server's answer to {path} ({status}) is not what was expected: {reason}")]
    Decode {
        /// The path asked.
        path: String,
        /// The HTTP status.
        status: u16,
        /// What did not parse.
        reason: String,
    },

    /// The server answered 200 to an exchange but without a usable session token. Never
    /// turned into an empty token.
    #[error("the server answered {path} without a usable session token")]
    EmptyToken {
        /// The path asked.
        path: String,
    },

    /// An identity proof could not be decoded for display (`idgate agent doctor`).
    #[error("cannot decode the {what}: {reason}")]
    IdentityDecode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

fn describe_rejection(
    status: u16,
    code: Option<ErrorCode>,
    message: &str,
    detail: Option<&str>,
) -> String {
    let mut text = format!("the server refused: {message} (HTTP {status}");
    if let Some(code) = code {
        text.push_str(", ");
        text.push_str(code.as_str());
    }
    text.push(')');
    if let Some(detail) = detail {
        text.push_str(": ");
        text.push_str(detail);
    }
    text
}

impl Error {
    /// Whether retrying soon can help ([`FailureClass::Transient`]) or only a change of
    /// configuration or of the workspace can ([`FailureClass::Permanent`]).
    pub fn class(&self) -> FailureClass {
        match self {
            Error::MetadataUnreachable { .. } | Error::ServerUnreachable { .. } => {
                FailureClass::Transient
            }
            Error::MetadataStatus { status, .. } | Error::Rejected { status, .. } => {
                status_class(*status)
            }
            Error::InvalidUrl { .. }
            | Error::InvalidToken { .. }
            | Error::HttpClient { .. }
            | Error::ImdsHopLimit { .. }
            | Error::MetadataBody { .. }
            | Error::Decode { .. }
            | Error::EmptyToken { .. }
            | Error::IdentityDecode { .. } => FailureClass::Permanent,
        }
    }

    /// Shorthand for `class() == FailureClass::Permanent`.
    pub fn is_permanent(&self) -> bool {
        self.class() == FailureClass::Permanent
    }

    /// The delay the other side asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::MetadataStatus { retry_after, .. } | Error::Rejected { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The server's error code, for a rejection.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Rejected { code, .. } => *code,
            _ => None,
        }
    }

    /// The HTTP status of a rejection or a metadata error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Rejected { status, .. } | Error::MetadataStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the session token is not (or no longer) valid.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Rejected { status: 401, code, .. }
            if code.is_none() || *code == Some(ErrorCode::Unauthorized))
    }

    /// The names of the agents on this instance, when the server listed them: in a 409
    /// `ambiguous_agent` ("Set CODER_AGENT_NAME to one of: a, b") or a 404
    /// `agent_name_not_found` ("Agents on this instance: a, b.").
    pub fn candidate_names(&self) -> Vec<String> {
        let Error::Rejected {
            message, detail, ..
        } = self
        else {
            return Vec::new();
        };
        if let Some(names) = parse_candidate_names(message) {
            return names;
        }
        if let Some(names) = detail.as_deref().and_then(parse_candidate_names) {
            return names;
        }
        Vec::new()
    }

    /// What to do about it, in plain words, when there is something to say beyond the
    /// message itself.
    pub fn advice(&self) -> Option<String> {
        match self {
            Error::ImdsHopLimit { .. } => Some(
                "the error says how to raise the hop limit; alternatively run the agent with \
                 host networking"
                    .into(),
            ),
            Error::MetadataUnreachable { cloud, .. } => Some(format!(
                "is this machine on {cloud}, and is --auth (CODER_AGENT_AUTH) right? To use \
                 another metadata endpoint (an emulator), set {}",
                cloud.endpoint_variable()
            )),
            Error::MetadataStatus {
                cloud, status: 404, ..
            } => Some(match cloud {
                Cloud::Google => "the instance may have no service account: identity tokens \
                                  need one (gcloud compute instances set-service-account)"
                    .into(),
                _ => format!(
                    "the metadata service has no such path: is this machine on {cloud}, and is \
                     --auth (CODER_AGENT_AUTH) right?"
                ),
            }),
            Error::MetadataStatus {
                cloud: Cloud::Aws,
                status: 401,
                ..
            } => Some(
                "the metadata service refused the IMDSv2 token; a proxy may be rewriting \
                 headers (the SDK never sends metadata requests through a proxy)"
                    .into(),
            ),
            Error::ServerUnreachable { .. } => Some(
                "check --agent-url (CODER_AGENT_URL) and that the server is running and \
                 reachable from this machine"
                    .into(),
            ),
            Error::Rejected {
                status,
                code,
                detail,
                ..
            } => rejection_advice(*status, *code, detail.as_deref(), &self.candidate_names()),
            Error::Decode { .. } | Error::EmptyToken { .. } => Some(
                "is --agent-url (CODER_AGENT_URL) the URL of an idgate or Coder server?".into(),
            ),
            _ => None,
        }
    }
}

fn rejection_advice(
    status: u16,
    code: Option<ErrorCode>,
    detail: Option<&str>,
    names: &[String],
) -> Option<String> {
    let text = match (status, code) {
        (409, _) if !names.is_empty() => format!(
            "several agents run on this instance; give each its name with --agent-name or \
             CODER_AGENT_NAME, one of: {}",
            names.join(", ")
        ),
        (409, Some(ErrorCode::AmbiguousAgent)) => "this instance ID is in the latest builds of \
             several workspaces: stop, rebuild or delete the stale workspace"
            .into(),
        (404, Some(ErrorCode::InstanceNotFound)) => "no current workspace build declares this \
             instance (for this cloud): the workspace may be stopped, deleted or rebuilt on \
             another instance, or the template's agent auth or instance ID does not match. \
             `idgate workspace show NAME` shows what the latest build declares"
            .into(),
        (404, Some(ErrorCode::AgentNameNotFound)) => format!(
            "--agent-name (CODER_AGENT_NAME) is not the name of an agent on this instance; \
             use one of: {}",
            if names.is_empty() {
                "the names in the server's detail".to_owned()
            } else {
                names.join(", ")
            }
        ),
        (404, _) => "the server has no such endpoint: is --agent-url (CODER_AGENT_URL) the URL \
             of an idgate or Coder server?"
            .into(),
        (401, Some(ErrorCode::Unauthorized) | None) => "the session token is unknown or \
             expired, or its agent's build was replaced; with --auth token, check \
             CODER_AGENT_TOKEN (a build's token is shown only when the build is created)"
            .into(),
        (401, Some(ErrorCode::CertificateUntrusted)) => "the server does not trust the key \
             that signed this instance's identity; if the metadata service is an emulator, \
             start the server with its certificate (idgate server --aws-certs)"
            .into(),
        (401, Some(ErrorCode::TokenExpired | ErrorCode::DocumentExpired)) => "the proof is \
             outside its validity window; check that the clocks of this machine and of the \
             server are right"
            .into(),
        (401, Some(ErrorCode::AudienceMismatch)) => "the server does not accept the GCP \
             token's audience; pass the audience it expects (--gcp-audience), or add ours to \
             the server's --gcp-audiences"
            .into(),
        (401, Some(_)) => format!(
            "the server could not verify this instance's identity{}",
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        ),
        (400, _) => "the server refused the request as malformed: the agent and the server \
             may disagree on the API version"
            .into(),
        (429, _) | (500..=599, _) => return None,
        _ => return None,
    };
    Some(text)
}

/// The failure class of an HTTP status: 408, 425, 429 and 5xx are transient, every other
/// error status is permanent.
pub fn status_class(status: u16) -> FailureClass {
    match status {
        408 | 425 | 429 | 500..=599 => FailureClass::Transient,
        _ => FailureClass::Permanent,
    }
}

/// Extracts the agent names from the server's 409 message ("... Set CODER_AGENT_NAME to one
/// of: a, b") or 404 detail ("Agents on this instance: a, b.").
pub fn parse_candidate_names(text: &str) -> Option<Vec<String>> {
    const MARKERS: [&str; 2] = ["one of: ", "Agents on this instance: "];
    let rest = MARKERS
        .iter()
        .find_map(|marker| text.find(marker).map(|at| &text[at + marker.len()..]))?;
    let rest = rest.trim().trim_end_matches('.');
    let names: Vec<String> = rest
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() { None } else { Some(names) }
}

/// The innermost cause of an error, as text: "Connection refused (os error 111)" rather than
/// "error sending request".
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(status: u16, code: Option<ErrorCode>, message: &str) -> Error {
        Error::Rejected {
            status,
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
        }
    }

    #[test]
    fn names_from_the_409_message() {
        let err = rejected(
            409,
            Some(ErrorCode::AmbiguousAgent),
            r#"Multiple agents found with instance ID "i-0abc". Set CODER_AGENT_NAME to one of: Zed, dev, main"#,
        );
        assert_eq!(err.candidate_names(), ["Zed", "dev", "main"]);
        let advice = err.advice().unwrap();
        assert!(advice.contains("CODER_AGENT_NAME"), "{advice}");
        assert!(advice.contains("Zed, dev, main"), "{advice}");
        assert!(err.is_permanent());
    }

    #[test]
    fn names_from_the_404_detail() {
        let err = Error::Rejected {
            status: 404,
            code: Some(ErrorCode::AgentNameNotFound),
            message: r#"No agent found with instance ID "i-1" and name "x"."#.into(),
            detail: Some("Agents on this instance: a, b.".into()),
            retry_after: None,
        };
        assert_eq!(err.candidate_names(), ["a", "b"]);
        assert!(err.advice().unwrap().contains("a, b"));
    }

    #[test]
    fn no_names_in_other_messages() {
        assert_eq!(
            parse_candidate_names("Instance with id \"i\" not found."),
            None
        );
        assert_eq!(
            parse_candidate_names("Set CODER_AGENT_NAME to one of: "),
            None
        );
        assert_eq!(
            parse_candidate_names("one of: solo"),
            Some(vec!["solo".to_owned()])
        );
        let err = rejected(
            409,
            Some(ErrorCode::AmbiguousAgent),
            "Multiple agents named \"a\" found with instance ID \"i\".",
        );
        assert!(err.candidate_names().is_empty());
        assert!(err.advice().unwrap().contains("stale workspace"));
    }

    #[test]
    fn classes() {
        for status in [400, 401, 403, 404, 409, 413, 422] {
            assert_eq!(status_class(status), FailureClass::Permanent, "{status}");
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(status_class(status), FailureClass::Transient, "{status}");
        }
        let hop = Error::ImdsHopLimit {
            url: "http://169.254.169.254/latest/api/token".into(),
        };
        assert!(hop.is_permanent());
    }

    #[test]
    fn the_hop_limit_message_says_what_to_do() {
        let hop = Error::ImdsHopLimit {
            url: "http://169.254.169.254/latest/api/token".into(),
        };
        let text = hop.to_string();
        assert!(text.contains("IMDSv2 token request"), "{text}");
        assert!(text.contains("hop limit is probably 1"), "{text}");
        assert!(
            text.contains("aws ec2 modify-instance-metadata-options"),
            "{text}"
        );
        assert!(text.contains("--http-put-response-hop-limit 2"), "{text}");
    }

    #[test]
    fn rejections_read_well() {
        let err = Error::Rejected {
            status: 404,
            code: Some(ErrorCode::InstanceNotFound),
            message: "Instance with id \"i-1\" not found.".into(),
            detail: Some("No agent of a current workspace build declares it.".into()),
            retry_after: None,
        };
        assert_eq!(
            err.to_string(),
            "the server refused: Instance with id \"i-1\" not found. (HTTP 404, \
             instance_not_found): No agent of a current workspace build declares it."
        );
        assert!(err.advice().unwrap().contains("no current workspace build"));
        assert!(rejected(401, Some(ErrorCode::Unauthorized), "x").is_unauthorized());
        assert!(!rejected(401, Some(ErrorCode::SignatureInvalid), "x").is_unauthorized());
    }
}
