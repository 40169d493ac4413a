//! The server's integration tests: a real server on port 0, a real SQLite file (and, under
//! `scripts/with-postgres.sh`, a real PostgreSQL database), real HTTP and real RSA signatures.

mod postgres;
mod support;

mod admin;
mod agent_auth;
mod aia;
mod bad_input;
mod gcp_keys;
mod lifecycle;
mod other_clouds;
mod terraform;
