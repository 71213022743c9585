#!/usr/bin/env bash
# The longer schemathesis run (issue #18): a throw-away database and media dir, a brand key, `reelcart
# serve` on loopback, then every phase over the whole OpenAPI document, bounded by examples per
# operation and by time. The short form runs in `make test` (tests/api/test_fuzz_api.py).
#
#   scripts/fuzz_api.sh [MAX_TIME_S=600] [MAX_EXAMPLES=100] [SEED=20261218]
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_TIME_S=${1:-600}
MAX_EXAMPLES=${2:-100}
SEED=${3:-20261218}
PORT=${FUZZ_PORT:-8765}
BIN=${VENV:-.venv}/bin
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

export REELCART_ENVIRONMENT=development
export REELCART_DATABASE_URL="sqlite:///$WORK/fuzz.db"
export REELCART_MEDIA_DIR="$WORK/media"
export REELCART_MODEL_DIR="$WORK/models"
export REELCART_MEDIA_IMPORT_ROOTS="[\"$WORK/library\"]"
export REELCART_PUBLIC_BASE_URL="http://127.0.0.1:$PORT"
# Jobs stay queued: the fuzz is about the HTTP surface. A web-only node needs a broker; this one names a
# port nothing listens on, so every publish is refused at once and the jobs wait, unpublished.
export REELCART_WORKER_THREADS=0
export REELCART_BROKER_URL="redis://127.0.0.1:9/0"
export REELCART_RATE_LIMIT_ENABLED=false    # one client sends thousands of requests on purpose

"$BIN/reelcart" db upgrade >/dev/null
"$BIN/reelcart" brand create "Fuzz Brand" --slug fuzz-brand >/dev/null
KEY=$("$BIN/reelcart" keys create --brand fuzz-brand --name fuzz | grep -o 'rc_[A-Za-z0-9_-]*' | tail -n 1)

"$BIN/reelcart" serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done

echo "fuzzing http://127.0.0.1:$PORT for at most ${MAX_TIME_S}s, ${MAX_EXAMPLES} examples per operation, seed $SEED"
status=0
timeout $((MAX_TIME_S + 120)) "$BIN/python" scripts/fuzz_api.py --url "http://127.0.0.1:$PORT/openapi.json" \
    --key "$KEY" --seed "$SEED" --max-time "$MAX_TIME_S" --max-examples "$MAX_EXAMPLES" || status=$?
if grep -q "Traceback" "$WORK/server.log"; then
    echo "the server logged tracebacks:"; grep -B2 -A20 "Traceback" "$WORK/server.log" | head -80
    status=1
fi
exit $status
