//! Conversions between Rust values and their stored form, and the classification of database
//! errors into the store's [`Error`].
//!
//! Stored forms: UUIDs are hyphenated lowercase TEXT, times are unix microseconds in a BIGINT,
//! enums are their wire spelling. Everything read back is checked: a value that does not
//! decode becomes [`Error::Corrupt`], never a panic.

use idgate_api::{Agent, AuthKind, LifecycleState, Transition};
use sqlx::Row;
use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Error, Result};

/// `t` as unix microseconds, rounded down.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let value = t.unix_timestamp_nanos().div_euclid(1_000);
    // Every OffsetDateTime fits (±9999 years is about ±3.2e17 µs); saturate rather than wrap.
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// `t` truncated to microseconds, in UTC: what reading it back from the database gives.
pub(crate) fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    from_micros(micros(t)).unwrap_or(t)
}

fn from_micros(value: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000).ok()
}

/// A stored time.
pub(crate) fn time(column: &'static str, value: i64) -> Result<OffsetDateTime> {
    from_micros(value).ok_or_else(|| corrupt(column, value.to_string()))
}

/// A stored nullable time.
pub(crate) fn opt_time(column: &'static str, value: Option<i64>) -> Result<Option<OffsetDateTime>> {
    value.map(|v| time(column, v)).transpose()
}

/// A stored UUID.
pub(crate) fn uuid(column: &'static str, value: &str) -> Result<Uuid> {
    Uuid::parse_str(value).map_err(|_| corrupt(column, value.to_owned()))
}

/// A stored nullable UUID.
pub(crate) fn opt_uuid(column: &'static str, value: Option<&str>) -> Result<Option<Uuid>> {
    value.map(|v| uuid(column, v)).transpose()
}

/// A stored agent auth kind.
pub(crate) fn auth_kind(column: &'static str, value: &str) -> Result<AuthKind> {
    AuthKind::parse(value).ok_or_else(|| corrupt(column, value.to_owned()))
}

/// A stored lifecycle state.
pub(crate) fn lifecycle(column: &'static str, value: &str) -> Result<LifecycleState> {
    LifecycleState::parse(value).ok_or_else(|| corrupt(column, value.to_owned()))
}

/// A stored build transition.
pub(crate) fn transition(column: &'static str, value: &str) -> Result<Transition> {
    Transition::parse(value).ok_or_else(|| corrupt(column, value.to_owned()))
}

fn corrupt(column: &'static str, value: String) -> Error {
    Error::Corrupt { column, value }
}

/// The columns of `workspace_agents a` that make an [`Agent`], aliased for [`agent_from_row`].
/// A macro rather than a const so that `concat!` can build whole statements at compile time.
macro_rules! agent_columns {
    () => {
        "a.id AS agent_id, a.name AS agent_name, a.auth AS agent_auth, \
         a.auth_instance_id AS agent_auth_instance_id, a.parent_id AS agent_parent_id, \
         a.lifecycle_state AS agent_lifecycle_state, a.last_seen_at AS agent_last_seen_at, \
         a.last_authenticated_at AS agent_last_authenticated_at"
    };
}
pub(crate) use agent_columns;

/// Decodes the columns selected by [`agent_columns!`]. The token is never stored, so it is
/// always `None`.
pub(crate) fn agent_from_row(row: &AnyRow) -> Result<Agent> {
    let id: String = row.try_get("agent_id")?;
    let auth: String = row.try_get("agent_auth")?;
    let parent_id: Option<String> = row.try_get("agent_parent_id")?;
    let lifecycle_state: String = row.try_get("agent_lifecycle_state")?;
    Ok(Agent {
        id: uuid("workspace_agents.id", &id)?,
        name: row.try_get("agent_name")?,
        auth: auth_kind("workspace_agents.auth", &auth)?,
        auth_instance_id: row.try_get("agent_auth_instance_id")?,
        parent_id: opt_uuid("workspace_agents.parent_id", parent_id.as_deref())?,
        lifecycle_state: lifecycle("workspace_agents.lifecycle_state", &lifecycle_state)?,
        last_seen_at: opt_time(
            "workspace_agents.last_seen_at",
            row.try_get("agent_last_seen_at")?,
        )?,
        last_authenticated_at: opt_time(
            "workspace_agents.last_authenticated_at",
            row.try_get("agent_last_authenticated_at")?,
        )?,
        token: None,
    })
}

/// What kind of constraint, if any, a failed statement violated.
pub(crate) fn violation(error: &sqlx::Error) -> Option<ErrorKind> {
    match error {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::Other => None,
            kind => Some(kind),
        },
        _ => None,
    }
}

/// Whether a unique violation is the one of the index or column named by `needle`. PostgreSQL
/// names the index; SQLite names the columns (`UNIQUE constraint failed: t.col`), so callers
/// pass a column name that appears in both.
pub(crate) fn violation_mentions(error: &sqlx::Error, needle: &str) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.constraint().is_some_and(|c| c.contains(needle)) || db.message().contains(needle)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn micros_round_down_and_back() {
        let t = datetime!(2024-05-06 07:08:09.123456789 UTC);
        assert_eq!(micros(t), 1_714_979_289_123_456);
        assert_eq!(truncate(t), datetime!(2024-05-06 07:08:09.123456 UTC));
        let before_epoch = datetime!(1969-12-31 23:59:59.9999995 UTC);
        assert_eq!(micros(before_epoch), -1);
        assert_eq!(
            truncate(before_epoch),
            datetime!(1969-12-31 23:59:59.999999 UTC)
        );
    }

    #[test]
    fn truncate_normalises_to_utc() {
        let t = datetime!(2024-05-06 09:08:09.5 +02:00);
        let out = truncate(t);
        assert_eq!(out, t);
        assert!(out.offset().is_utc());
    }

    #[test]
    fn bad_stored_values_are_corrupt_not_panics() {
        assert!(matches!(
            uuid("t.c", "nope"),
            Err(Error::Corrupt { column: "t.c", .. })
        ));
        assert!(matches!(
            auth_kind("t.c", "ssh"),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            lifecycle("t.c", "dancing"),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            transition("t.c", "pause"),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(time("t.c", i64::MAX), Err(Error::Corrupt { .. })));
        assert_eq!(opt_time("t.c", None).ok(), Some(None));
    }
}
