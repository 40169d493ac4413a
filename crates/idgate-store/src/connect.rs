//! Opening the store on SQLite or PostgreSQL: pools, per-connection settings, migrations, and
//! the transactions each backend needs.
//!
//! SQLite has one write lock per file. A deferred transaction that reads and then writes can
//! fail at once with "database is locked" (`SQLITE_BUSY_SNAPSHOT`) when another connection
//! committed in between, and no busy timeout helps. So every write transaction here starts with
//! `BEGIN IMMEDIATE` (take the write lock first, waiting up to `busy_timeout`), and the writes of
//! this process go through a pool of one connection, where they queue instead of contending.

use std::path::Path;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::{Backend, Result, Store};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Run on every new SQLite connection. `busy_timeout` comes first so that the journal-mode
/// switch itself waits for a lock instead of failing.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; \
                              PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";

/// Readers of a SQLite file: WAL lets them run beside the one writer.
const SQLITE_READERS: u32 = 4;

/// Connections to PostgreSQL.
const POSTGRES_CONNECTIONS: u32 = 10;

impl Store {
    /// Opens (creating it if missing) the SQLite database file at `path` and migrates it. The
    /// parent directory must exist.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let options: AnyConnectOptions = sqlite_url(path)?.parse()?;

        let sqlite_pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(SQLITE_PRAGMAS).await?;
                        Ok(())
                    })
                })
        };

        // The writer connects first: it switches the file to WAL and creates the schema before
        // any reader looks at it.
        let write = sqlite_pool(1).connect_with(options.clone()).await?;
        SQLITE_MIGRATOR.run(&write).await?;
        let read = sqlite_pool(SQLITE_READERS).connect_with(options).await?;
        tracing::debug!(path = %path.display(), "opened SQLite store");
        let sessions = crate::sessions::SessionQueue::spawn(write.clone());
        Ok(Store {
            backend: Backend::Sqlite,
            read,
            write,
            sessions,
        })
    }

    /// Connects to PostgreSQL at `url` (`postgres://` or `postgresql://`) and migrates it.
    pub async fn connect_postgres(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(sqlx::Error::Configuration(
                "a PostgreSQL URL starts with postgres:// or postgresql://".into(),
            )
            .into());
        }
        let pool = AnyPoolOptions::new()
            .max_connections(POSTGRES_CONNECTIONS)
            .connect(url)
            .await?;
        POSTGRES_MIGRATOR.run(&pool).await?;
        tracing::debug!("connected to PostgreSQL store");
        let sessions = crate::sessions::SessionQueue::spawn(pool.clone());
        Ok(Store {
            backend: Backend::Postgres,
            read: pool.clone(),
            write: pool,
            sessions,
        })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (`SELECT 1`), for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Closes the pools, waiting for connections in use to be returned. Later calls fail.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// The pool for single-statement writes.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// The pool for reads.
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// A transaction that will write: on SQLite it holds the write lock from its first
    /// statement, so it may read before writing without risking `SQLITE_BUSY_SNAPSHOT`.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.write.begin().await?,
        };
        Ok(tx)
    }

    /// A read-only transaction whose statements all see one snapshot (SQLite's deferred
    /// transaction does under WAL; PostgreSQL needs REPEATABLE READ for it).
    pub(crate) async fn begin_snapshot(&self) -> Result<Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.read.begin().await?,
            Backend::Postgres => {
                self.read
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        Ok(tx)
    }
}

/// A `sqlite://` URL for `path`, made absolute, creating the file if it is missing. The path is
/// percent-encoded byte by byte (sqlx decodes it again), so `?`, `#`, `%` and spaces survive.
fn sqlite_url(path: &Path) -> Result<String> {
    let absolute = std::path::absolute(path).map_err(sqlx::Error::Io)?;
    let Some(text) = absolute.to_str() else {
        return Err(sqlx::Error::Configuration(
            format!("the database path {} is not UTF-8", absolute.display()).into(),
        )
        .into());
    };
    let mut url = String::from("sqlite://");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/._-~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_url_escapes_awkward_paths() {
        let url = sqlite_url(Path::new("/tmp/a b/x?y#z%41.db")).ok();
        assert_eq!(
            url.as_deref(),
            Some("sqlite:///tmp/a%20b/x%3Fy%23z%2541.db?mode=rwc")
        );
    }
}
