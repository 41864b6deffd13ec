#!/usr/bin/env bash
# schemathesis over the whole admin OpenAPI document, on an app it starts and stops itself.
#
#   scripts/schemathesis.sh [extra schemathesis options]
#
# Starts `adminctl serve` on a fresh embedded SQLite database (demo data seeded), mints a
# super-admin token, and runs every phase (examples, coverage, fuzzing, stateful) with every
# check but `positive_data_acceptance`: the document states what JSON Schema can (types,
# bounds, patterns, enums), not rules across fields or state (to_date before from_date, a
# role the caller may not grant, a calendar day that does not exist), which the API refuses
# with 4xx on purpose (docs/adr/0044-schemathesis.md). Bounded by ST_MAX_TIME seconds.
# `filter_too_much` is a data generator's complaint (a body whose patterns it finds hard to
# satisfy, for some seeds), not a finding about the API: it does not stop the run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.venv/bin"
MAX_TIME="${ST_MAX_TIME:-150}"
WORK="$(mktemp -d)"
REPORT="$ROOT/var/schemathesis"
mkdir -p "$REPORT"

PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ADMIN_MODE=embedded
export ADMIN_DATABASE_URL="sqlite+aiosqlite:///$WORK/admin.db"
export ADMIN_LOCAL_KEY_PATH="$WORK/signing.pem"
export ADMIN_HOST=127.0.0.1 ADMIN_PORT="$PORT"

"$BIN/adminctl" serve >"$REPORT/serve.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; then break; fi
  kill -0 "$SERVER" 2>/dev/null || { cat "$REPORT/serve.log"; echo "schemathesis: the app did not start" >&2; exit 1; }
  sleep 0.5
done
TOKEN="$("$BIN/adminctl" token --role org:super_admin --ttl 3600)"

cd "$WORK"
"$BIN/schemathesis" run "http://127.0.0.1:$PORT/api/v1/admin/schema/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --checks all --exclude-checks positive_data_acceptance \
  --phases examples,coverage,fuzzing,stateful \
  --max-time "$MAX_TIME" --max-examples 100 \
  --suppress-health-check filter_too_much \
  --report junit --report-dir "$REPORT" \
  "$@"
STATUS=$?
if grep -q "Traceback" "$REPORT/serve.log"; then
  echo "schemathesis: the server logged a traceback (see var/schemathesis/serve.log)" >&2
  grep -B2 -A20 "Traceback" "$REPORT/serve.log" | head -60 >&2
  exit 1
fi
exit "$STATUS"
