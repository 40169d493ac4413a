#!/usr/bin/env bash
# Real cloud client libraries against `idgate imds`: botocore and ec2-metadata (AWS IMDSv2) and
# google-auth (GCE metadata server, ID-token verification), installed in a throwaway virtualenv.
#
# Needs python3 (with venv) and access to PyPI (pip's cache makes reruns quick). Set
# IDGATE_PYTHON_VENV to a directory to keep the virtualenv there between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo build -p idgate"
cargo build -p idgate --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug/idgate"

work=$(mktemp -d "${TMPDIR:-/tmp}/idgate-python-clients.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

echo "== python virtualenv"
venv="${IDGATE_PYTHON_VENV:-$work/venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    'botocore>=1.34,<2' 'ec2-metadata>=2.13,<3' 'google-auth>=2.30,<3' 'requests>=2.31,<3'

# Starts `idgate imds` with the given flags, its stdout in $work/<name>.out, and waits (with
# a deadline) for the three lines it prints on start.
start_emulator() {
    local name=$1
    shift
    : >"$work/$name.out"
    "$bin" imds --listen 127.0.0.1:0 --dir "$work/imds" "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    local pid=$!
    pids+=("$pid")
    local deadline=$((SECONDS + 60))
    until [ "$(wc -l <"$work/$name.out")" -ge 3 ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "idgate imds ($name) exited:" >&2
            cat "$work/$name.err" >&2
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "idgate imds ($name) did not start within 60 s" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "$name: $(head -n 1 "$work/$name.out")"
}

url_of() { sed -n 's/^listening on //p' "$work/$1.out"; }

echo "== emulators"
aws_instance_id=i-0c0ffee0000000001
aws_region=eu-central-1
aws_account_id=210987654321
gcp_instance_id=8765432109876543210
start_emulator aws --cloud aws --instance-id "$aws_instance_id" \
    --region "$aws_region" --account-id "$aws_account_id"
start_emulator aws-drop --cloud aws --drop-token-puts
start_emulator gcp --cloud gcp --instance-id "$gcp_instance_id" --project-id idgate-py

echo "== python clients"
# The third line of each emulator is the environment that points clients at it.
# shellcheck disable=SC2046
env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
    NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    $(sed -n 3p "$work/aws.out") $(sed -n 3p "$work/gcp.out") \
    IDGATE_IMDS_AWS_DROP_URL="$(url_of aws-drop)" \
    IDGATE_IMDS_GCP_URL="$(url_of gcp)" \
    EXPECT_AWS_INSTANCE_ID="$aws_instance_id" EXPECT_AWS_REGION="$aws_region" \
    EXPECT_AWS_ACCOUNT_ID="$aws_account_id" EXPECT_GCP_INSTANCE_ID="$gcp_instance_id" \
    "$venv/bin/python" scripts/python_clients/test_clients.py
