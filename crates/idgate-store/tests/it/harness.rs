//! A fresh database per test: a SQLite file in its own temp dir, or a PostgreSQL database
//! with a random name created on the server named by `IDGATE_TEST_POSTGRES_URL` and dropped
//! afterwards. Plus the builders the cases share.

use idgate_api::AuthKind;
use idgate_store::{Backend, NewAgent, NewResource, Store, TokenHash};
use sqlx::{AnyConnection, Connection, Executor};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// The environment variable with a PostgreSQL superuser URL.
const POSTGRES_URL_VAR: &str = "IDGATE_TEST_POSTGRES_URL";
/// When this is `1`, a missing PostgreSQL URL fails the test instead of skipping its half.
const REQUIRE_POSTGRES_VAR: &str = "IDGATE_REQUIRE_POSTGRES";

/// A store on a database of its own, and what it takes to reach that database again.
pub struct TestDb {
    /// The store under test.
    pub store: Store,
    /// A URL for raw connections to the same database.
    url: String,
    /// Keeps the SQLite temp dir alive.
    _dir: Option<tempfile::TempDir>,
    /// For PostgreSQL: the server's admin URL and the database to drop.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A store on a new SQLite file.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("idgate.db");
        let store = Store::open_sqlite(&path).await.expect("open SQLite store");
        TestDb {
            store,
            url: format!("sqlite://{}", path.display()),
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A store on a new PostgreSQL database, or `None` (after a note on stderr) when no server
    /// is configured and none is required.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                if std::env::var(REQUIRE_POSTGRES_VAR).as_deref() == Ok("1") {
                    panic!("{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set");
                }
                eprintln!(
                    "note: {POSTGRES_URL_VAR} is not set, so only the SQLite half of the store \
                     suite runs; use scripts/with-postgres.sh to run both"
                );
                return None;
            }
        };
        sqlx::any::install_default_drivers();
        let name = format!("idgate_test_{}", Uuid::new_v4().simple());
        let mut admin = AnyConnection::connect(&admin_url)
            .await
            .expect("connect to the PostgreSQL test server");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        let store = Store::connect_postgres(&url)
            .await
            .expect("open PostgreSQL store");
        Some(TestDb {
            store,
            url,
            _dir: None,
            postgres: Some((admin_url, name)),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Another store on the same database (as after a restart).
    pub async fn open_again(&self) -> Store {
        match self.backend() {
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                Store::open_sqlite(std::path::Path::new(path))
                    .await
                    .expect("reopen SQLite store")
            }
            Backend::Postgres => Store::connect_postgres(&self.url)
                .await
                .expect("reconnect PostgreSQL store"),
        }
    }

    /// Runs raw SQL on the database, beside the store.
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.raw().await;
        conn.execute(sql).await.expect("raw SQL");
        conn.close().await.ok();
    }

    /// Number of rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        let mut conn = self.raw().await;
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .expect("count rows");
        conn.close().await.ok();
        n
    }

    async fn raw(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url)
            .await
            .expect("raw connection")
    }

    /// Closes the store and drops the PostgreSQL database (best effort).
    pub async fn finish(self) {
        self.store.close().await;
        let Some((admin_url, name)) = &self.postgres else {
            return;
        };
        let mut admin = match AnyConnection::connect(admin_url).await {
            Ok(admin) => admin,
            Err(e) => {
                eprintln!("note: could not drop test database {name}: {e}");
                return;
            }
        };
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        if let Err(e) = admin.execute(drop.as_str()).await {
            eprintln!("note: could not drop test database {name}: {e}");
        }
        admin.close().await.ok();
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A fixed instant with nanoseconds, so that truncation to microseconds is exercised.
pub const T0: OffsetDateTime = datetime!(2024-03-01 12:00:00.123456789 UTC);

/// `T0` plus `seconds`.
pub fn at(seconds: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(seconds)
}

/// `t` as the store returns it (truncated to microseconds).
pub fn stored(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.unix_timestamp_nanos();
    OffsetDateTime::from_unix_timestamp_nanos(nanos - nanos.rem_euclid(1_000)).expect("in range")
}

/// A root agent authenticating with `auth` as instance `instance_id`.
pub fn agent(name: &str, auth: AuthKind, instance_id: &str) -> NewAgent {
    NewAgent {
        name: name.to_owned(),
        auth,
        auth_instance_id: Some(instance_id.to_owned()),
        parent: None,
        token_hash: None,
    }
}

/// A root AWS agent on instance `instance_id`.
pub fn aws(name: &str, instance_id: &str) -> NewAgent {
    agent(name, AuthKind::AwsInstanceIdentity, instance_id)
}

/// An AWS sub-agent of `parent`, sharing its instance.
pub fn sub(name: &str, parent: &str, instance_id: &str) -> NewAgent {
    NewAgent {
        parent: Some(parent.to_owned()),
        ..aws(name, instance_id)
    }
}

/// A token-auth agent with `token`.
pub fn token_agent(name: &str, token: &str) -> NewAgent {
    NewAgent {
        name: name.to_owned(),
        auth: AuthKind::Token,
        auth_instance_id: None,
        parent: None,
        token_hash: Some(TokenHash::of(token)),
    }
}

/// A resource named `name` on instance `instance_id` with `agents`.
pub fn resource(name: &str, instance_id: Option<&str>, agents: Vec<NewAgent>) -> NewResource {
    NewResource {
        name: name.to_owned(),
        kind: "aws_instance".to_owned(),
        instance_id: instance_id.map(str::to_owned),
        agents,
    }
}

/// One resource on `instance_id` with AWS root agents named `agents`.
pub fn vm(instance_id: &str, agents: &[&str]) -> Vec<NewResource> {
    let agents = agents.iter().map(|name| aws(name, instance_id)).collect();
    vec![resource("dev", Some(instance_id), agents)]
}

/// A new workspace of owner `alice`, created at `T0`.
pub async fn workspace(store: &Store, name: &str) -> Uuid {
    store
        .create_workspace(name, "alice", None, T0)
        .await
        .expect("create workspace")
        .id
}

/// The names of the AWS candidates for `instance_id`, in the order returned.
pub async fn aws_candidates(store: &Store, instance_id: &str) -> Vec<String> {
    store
        .find_candidates(AuthKind::AwsInstanceIdentity, instance_id)
        .await
        .expect("find candidates")
        .into_iter()
        .map(|c| c.agent_name)
        .collect()
}

#[test]
fn with_database_replaces_the_path() {
    assert_eq!(
        with_database("postgres://u@127.0.0.1:5432/postgres", "x"),
        "postgres://u@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/postgres?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
