//! Session tokens: the secret itself (redacted `Debug`, no `Display`), what the server said
//! about it, and when to replace it.

use std::time::Duration;

use idgate_api::SessionTokenResponse;
use reqwest::header::HeaderValue;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Error;

/// A session token. Shown only through [`SessionToken::expose`]; `Debug` prints
/// `SessionToken(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// Wraps a token, refusing an empty one (or one that cannot be sent in a header). A
    /// surrounding newline, as in a token file, is trimmed.
    pub fn new(token: impl Into<String>) -> Result<SessionToken, Error> {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.is_empty() {
            return Err(Error::InvalidToken { reason: "empty" });
        }
        if HeaderValue::from_str(trimmed).is_err() || trimmed.chars().any(char::is_whitespace) {
            return Err(Error::InvalidToken {
                reason: "not printable ASCII without spaces",
            });
        }
        Ok(SessionToken(trimmed.to_owned()))
    }

    /// The token, for the `Coder-Session-Token` header or a token file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// A session token and what is known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token.
    pub token: SessionToken,
    /// The agent it belongs to (unknown for a static token until the manifest is read).
    pub agent_id: Option<Uuid>,
    /// When the server said it stops working (unknown for a static token).
    pub expires_at: Option<OffsetDateTime>,
}

impl Session {
    /// A session for a token given by the user (`--auth token`).
    pub fn from_static(token: SessionToken) -> Session {
        Session {
            token,
            agent_id: None,
            expires_at: None,
        }
    }

    /// A session from an exchange answer; an empty token is an error, never a session.
    pub fn from_response(response: SessionTokenResponse, path: &str) -> Result<Session, Error> {
        let token = SessionToken::new(response.session_token).map_err(|_| Error::EmptyToken {
            path: path.to_owned(),
        })?;
        Ok(Session {
            token,
            agent_id: Some(response.agent_id),
            expires_at: Some(response.expires_at),
        })
    }
}

/// The share of a token's remaining lifetime after which it is replaced.
pub const REFRESH_FRACTION: f64 = 0.8;

/// Never plan a refresh sooner than this, whatever the clocks say, so that a server clock far
/// ahead of ours cannot make the agent exchange in a loop.
pub const MIN_REFRESH_DELAY: Duration = Duration::from_secs(30);

/// How long to keep a token received at `now` that expires at `expires_at` before exchanging
/// again: 80% of its remaining lifetime, and at least [`MIN_REFRESH_DELAY`].
pub fn refresh_delay(now: OffsetDateTime, expires_at: OffsetDateTime) -> Duration {
    let remaining = expires_at - now;
    let seconds = remaining.as_seconds_f64() * REFRESH_FRACTION;
    if !seconds.is_finite() || seconds <= MIN_REFRESH_DELAY.as_secs_f64() {
        return MIN_REFRESH_DELAY;
    }
    Duration::try_from_secs_f64(seconds).unwrap_or(MIN_REFRESH_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tokens_are_never_empty_and_never_printed() {
        assert!(matches!(
            SessionToken::new(""),
            Err(Error::InvalidToken { reason: "empty" })
        ));
        assert!(SessionToken::new(" \n").is_err());
        assert!(SessionToken::new("a b").is_err());
        assert!(SessionToken::new("a\u{7f}").is_err());
        let token = SessionToken::new("s3cret\n").unwrap();
        assert_eq!(token.expose(), "s3cret");
        assert_eq!(format!("{token:?}"), "SessionToken(<redacted>)");
        let session = Session::from_static(token);
        assert!(!format!("{session:?}").contains("s3cret"));
    }

    #[test]
    fn an_empty_exchange_answer_is_an_error() {
        let response = SessionTokenResponse {
            session_token: String::new(),
            agent_id: Uuid::nil(),
            expires_at: datetime!(2026-01-01 00:00 UTC),
        };
        assert!(matches!(
            Session::from_response(response, "/x"),
            Err(Error::EmptyToken { .. })
        ));
    }

    #[test]
    fn refresh_at_80_percent() {
        let now = datetime!(2026-12-04 12:00 UTC);
        assert_eq!(
            refresh_delay(now, datetime!(2026-12-05 12:00 UTC)),
            Duration::from_secs(69_120)
        );
        assert_eq!(
            refresh_delay(now, datetime!(2026-12-04 13:00 UTC)),
            Duration::from_secs(2_880)
        );
        // Expired already, or about to: not sooner than the floor.
        assert_eq!(
            refresh_delay(now, datetime!(2026-12-04 11:00 UTC)),
            MIN_REFRESH_DELAY
        );
        assert_eq!(
            refresh_delay(now, datetime!(2026-12-04 12:00:10 UTC)),
            MIN_REFRESH_DELAY
        );
    }
}
