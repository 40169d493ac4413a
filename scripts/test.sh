#!/usr/bin/env bash
# The project's whole check: formatting, lints, and every test against SQLite and a real
# PostgreSQL server (started and removed by scripts/with-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (SQLite and PostgreSQL)"
scripts/with-postgres.sh cargo test --workspace --locked

echo "== real Python clients against idgate imds"
scripts/test-python-clients.sh
