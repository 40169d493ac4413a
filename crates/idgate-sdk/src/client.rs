//! [`AgentClient`]: the agent API (manifest, heartbeat, lifecycle) with a session token that
//! is obtained on first use, replaced at 80% of its lifetime, and exchanged again when the
//! server answers 401 (the agent's build was replaced, or the token expired).
//!
//! **Invariant:** one exchange at a time. Concurrent callers wait for the exchange in flight
//! instead of starting their own, and a 401 triggers a new exchange only if the token that
//! got it is still the current one.

use idgate_api::{LifecycleState, Manifest, paths};
use reqwest::Method;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use crate::error::Error;
use crate::provider::{Answer, ServerHttp, TokenProvider};
use crate::session::{MIN_REFRESH_DELAY, Session, refresh_delay};

/// The current token and when to replace it.
struct Current {
    session: Session,
    generation: u64,
    refresh_at: Option<Instant>,
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    generation: u64,
}

/// A client of the agent API for one agent.
pub struct AgentClient {
    provider: TokenProvider,
    state: Mutex<State>,
    sessions: watch::Sender<Option<Session>>,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl AgentClient {
    /// A client that gets its tokens from `provider`. Nothing is sent until the first call.
    pub fn new(provider: TokenProvider) -> AgentClient {
        let (sessions, _) = watch::channel(None);
        AgentClient {
            provider,
            state: Mutex::new(State::default()),
            sessions,
        }
    }

    /// The token provider.
    pub fn provider(&self) -> &TokenProvider {
        &self.provider
    }

    /// Every new session, as it is obtained (`None` before the first, or after a failed
    /// re-exchange). The agent writes its token file and notices a replaced build from this.
    pub fn subscribe(&self) -> watch::Receiver<Option<Session>> {
        self.sessions.subscribe()
    }

    /// When the current token is due to be replaced, if there is one that expires.
    pub async fn refresh_due_at(&self) -> Option<Instant> {
        let state = self.state.lock().await;
        state.current.as_ref().and_then(|c| c.refresh_at)
    }

    fn install(&self, state: &mut State, session: Session) -> (Session, u64) {
        state.generation += 1;
        let refresh_at = session.expires_at.map(|expires_at| {
            Instant::now() + refresh_delay(OffsetDateTime::now_utc(), expires_at)
        });
        state.current = Some(Current {
            session: session.clone(),
            generation: state.generation,
            refresh_at,
        });
        self.sessions.send_replace(Some(session.clone()));
        (session, state.generation)
    }

    async fn current(&self) -> Result<(Session, u64), Error> {
        let mut state = self.state.lock().await;
        let Some(current) = &state.current else {
            let session = self.provider.session().await?;
            return Ok(self.install(&mut state, session));
        };
        let due = current
            .refresh_at
            .is_some_and(|refresh_at| Instant::now() >= refresh_at);
        if !due {
            return Ok((current.session.clone(), current.generation));
        }
        match self.provider.session().await {
            Ok(session) => {
                tracing::debug!("replaced the session token before it expires");
                Ok(self.install(&mut state, session))
            }
            Err(error) => {
                // The old token still works until it expires: keep it, and try again later.
                let still_valid = current
                    .session
                    .expires_at
                    .is_some_and(|expires_at| expires_at > OffsetDateTime::now_utc());
                if !still_valid {
                    state.current = None;
                    self.sessions.send_replace(None);
                    return Err(error);
                }
                tracing::warn!(%error, "cannot replace the session token yet; keeping the current one");
                let generation = current.generation;
                let session = current.session.clone();
                if let Some(current) = state.current.as_mut() {
                    current.refresh_at = Some(Instant::now() + MIN_REFRESH_DELAY);
                }
                Ok((session, generation))
            }
        }
    }

    /// The current session, obtained or replaced first if needed.
    pub async fn session(&self) -> Result<Session, Error> {
        self.current().await.map(|(session, _)| session)
    }

    /// Obtains a new session now, whatever the state of the current one.
    pub async fn refresh(&self) -> Result<Session, Error> {
        let mut state = self.state.lock().await;
        match self.provider.session().await {
            Ok(session) => Ok(self.install(&mut state, session).0),
            Err(error) => {
                state.current = None;
                self.sessions.send_replace(None);
                Err(error)
            }
        }
    }

    /// After a 401 for the token of `generation`: a new exchange, unless another caller
    /// already replaced that token.
    async fn reauthenticate(&self, generation: u64) -> Result<(Session, u64), Error> {
        let mut state = self.state.lock().await;
        if let Some(current) = &state.current
            && current.generation != generation
        {
            return Ok((current.session.clone(), current.generation));
        }
        tracing::info!("the server no longer accepts the session token; authenticating again");
        match self.provider.session().await {
            Ok(session) => Ok(self.install(&mut state, session)),
            Err(error) => {
                state.current = None;
                self.sessions.send_replace(None);
                Err(error)
            }
        }
    }

    /// Sends an agent API request with the current token; on 401, exchanges again once and
    /// repeats it.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let (session, generation) = self.current().await?;
        let server = self.provider.server();
        let answer = server
            .send(method.clone(), path, Some(&session.token), body)
            .await?;
        if answer.status != reqwest::StatusCode::UNAUTHORIZED || self.provider.is_static() {
            return Ok(answer);
        }
        let (session, _) = self.reauthenticate(generation).await?;
        server.send(method, path, Some(&session.token), body).await
    }

    /// `GET /api/v2/workspaceagents/me/manifest`.
    pub async fn manifest(&self) -> Result<Manifest, Error> {
        let answer = self.call(Method::GET, paths::ME_MANIFEST, None).await?;
        ServerHttp::json(&answer, paths::ME_MANIFEST)
    }

    /// `POST /api/v2/workspaceagents/me/heartbeat`.
    pub async fn heartbeat(&self) -> Result<(), Error> {
        let answer = self.call(Method::POST, paths::ME_HEARTBEAT, None).await?;
        ServerHttp::empty(&answer)
    }

    /// `POST /api/v2/workspaceagents/me/lifecycle`.
    pub async fn report_lifecycle(&self, state: LifecycleState) -> Result<(), Error> {
        // Built by hand rather than serialised from `LifecycleRequest`, which cannot fail.
        let body = serde_json::json!({ "state": state.as_str() });
        let answer = self
            .call(Method::POST, paths::ME_LIFECYCLE, Some(&body))
            .await?;
        ServerHttp::empty(&answer)
    }
}
