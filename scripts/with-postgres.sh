#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server, then removes the server.
#
#   scripts/with-postgres.sh cargo test --workspace
#
# The command sees IDGATE_TEST_POSTGRES_URL (a superuser URL on 127.0.0.1 and a free port) and
# IDGATE_REQUIRE_POSTGRES=1, so the PostgreSQL half of the store suite runs instead of being
# skipped. Debian's PostgreSQL binaries are used; when none are installed and we are root, they
# are installed with apt-get. The cluster runs as a non-root user (PostgreSQL refuses root), with
# fsync off: it is a test server and is deleted on exit.
set -euo pipefail

find_pg_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

pg_bin=$(find_pg_bin || true)
if [ -z "$pg_bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "with-postgres: no PostgreSQL server binaries under /usr/lib/postgresql and not root;" >&2
        echo "with-postgres: install them with: sudo apt-get install -y postgresql" >&2
        exit 1
    fi
    echo "with-postgres: installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    pg_bin=$(find_pg_bin)
fi

workdir=$(mktemp -d /tmp/idgate-pg.XXXXXX)
run_as=()
if [ "$(id -u)" -eq 0 ]; then
    pg_user=idgate-pg
    if ! id "$pg_user" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
    fi
    chown "$pg_user" "$workdir"
    run_as=(runuser -u "$pg_user" --)
fi

cleanup() {
    "${run_as[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

"${run_as[@]}" "$pg_bin/initdb" -D "$workdir/data" -U idgate -A trust -E UTF8 --no-sync >"$workdir/initdb.log" 2>&1 \
    || { cat "$workdir/initdb.log" >&2; exit 1; }

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=""
for _ in $(seq 1 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    port_is_free "$port" || continue
    if "${run_as[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 \
        -o "-p $port -k $workdir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null; then
        started=yes
        break
    fi
done
if [ -z "$started" ]; then
    echo "with-postgres: the server did not start; its log:" >&2
    cat "$workdir/server.log" >&2 || true
    exit 1
fi
echo "with-postgres: PostgreSQL ($("$pg_bin/postgres" --version)) on 127.0.0.1:$port" >&2

export IDGATE_TEST_POSTGRES_URL="postgres://idgate@127.0.0.1:$port/postgres"
export IDGATE_REQUIRE_POSTGRES=1
status=0
"$@" || status=$?
exit $status
