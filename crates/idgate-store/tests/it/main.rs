//! The store's contract suite. Every case is an `async fn(&TestDb)` written once and run twice:
//! `sqlite::<case>` on a SQLite file in a temp dir and `postgres::<case>` on a fresh PostgreSQL
//! database on the server named by `IDGATE_TEST_POSTGRES_URL`.
//!
//! Without that variable the PostgreSQL half prints a note and passes, unless
//! `IDGATE_REQUIRE_POSTGRES=1` makes it fail; `scripts/with-postgres.sh cargo test -p
//! idgate-store` runs both halves against a throwaway server.

mod builds;
mod candidates;
mod harness;
mod sessions;
mod workspaces;

/// Generates one `#[tokio::test]` per backend for each `module::case`.
macro_rules! contract {
    ($($module:ident :: $case:ident),* $(,)?) => {
        /// The cases on SQLite.
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::harness::TestDb::sqlite().await;
                    crate::$module::$case(&db).await;
                    db.finish().await;
                }
            )*
        }

        /// The cases on PostgreSQL.
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = crate::harness::TestDb::postgres().await else {
                        return;
                    };
                    crate::$module::$case(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

contract! {
    builds::build_numbers_count_per_workspace,
    builds::create_build_is_atomic,
    builds::unknown_parent_leaves_nothing_behind,
    builds::build_reads_back_as_written,
    builds::deleted_workspace_cannot_be_built,
    builds::concurrent_builds_of_one_workspace,
    builds::template_versions_are_imports,
    candidates::sub_agents_are_never_candidates,
    candidates::template_import_agents_are_never_candidates,
    candidates::superseded_build_is_not_a_candidate,
    candidates::stop_build_without_agents_has_no_candidates,
    candidates::delete_build_has_no_candidates,
    candidates::recycled_instance_id_resolves_to_the_live_workspace,
    candidates::agent_of_another_cloud_is_not_a_candidate,
    candidates::same_id_in_two_workspaces_gives_two_candidates,
    candidates::two_agents_on_one_instance,
    candidates::token_agents_are_never_candidates,
    candidates::lookup_uses_the_partial_index,
    sessions::valid_and_expired_sessions,
    sessions::sessions_are_revoked_by_rebuild_stop_and_delete,
    sessions::token_agent_token_works_until_rebuild,
    sessions::a_rebuild_may_carry_an_agent_token_over,
    sessions::unknown_tokens_and_agents,
    sessions::concurrent_sessions_all_succeed,
    sessions::one_bad_session_in_a_batch_fails_alone,
    sessions::concurrent_writers_from_two_stores,
    workspaces::duplicate_names_conflict,
    workspaces::not_found_cases,
    workspaces::list_workspaces_with_and_without_builds,
    workspaces::heartbeat_and_lifecycle_are_persisted,
    workspaces::data_survives_reopening,
    workspaces::ping_and_backend,
}
