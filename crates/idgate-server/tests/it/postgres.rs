//! A fresh PostgreSQL database per test, on the server that `scripts/with-postgres.sh` starts.

use sqlx::Connection as _;

/// A URL of a new, empty database; `None` when no PostgreSQL server is configured (then the
/// test is skipped with a note), unless `IDGATE_REQUIRE_POSTGRES=1`, which makes it a failure.
pub async fn fresh_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("IDGATE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("IDGATE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "IDGATE_REQUIRE_POSTGRES=1 but IDGATE_TEST_POSTGRES_URL is not set"
        );
        eprintln!("note: PostgreSQL tests skipped; run them with scripts/with-postgres.sh");
        return None;
    };
    let name = format!("idgate_server_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to the PostgreSQL test server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.ok();
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .expect("URL with a database path");
    Some(format!("{base}/{name}"))
}
