#!/usr/bin/env bash
# make telegraf: builds Telegraf with only the plugins the ingest benchmark's peer needs (Kafka consumer, json_v2
# parser, PostgreSQL output), idempotently: nothing happens when the binary is already there. Prints its path.
#   The module `github.com/influxdata/telegraf` comes from the Go module proxy; the module cache, Go's build cache
#   and the binary live under $PULSE_CACHE_DIR/telegraf-$TELEGRAF_VERSION (default ~/.cache/commune-pulse),
#   outside the work tree. The first run downloads ≈ 440 MB of modules and builds (38 s on the 2-core dev machine,
#   minutes on a slower link); later runs only print the path.
# Not part of `make setup`: only `python -m bench.telegraf_peer` and `bench.ingest_throughput --peer` use it.
set -euo pipefail
TELEGRAF_VERSION="${TELEGRAF_VERSION:-1.37.2}"
TAGS="custom,inputs.kafka_consumer,outputs.postgresql,parsers.json,parsers.json_v2"
CACHE="${PULSE_CACHE_DIR:-$HOME/.cache/commune-pulse}"
DIR="$CACHE/telegraf-$TELEGRAF_VERSION"
BIN="$DIR/bin/telegraf"
log() { printf '\033[1mtelegraf:\033[0m %s\n' "$*" >&2; }

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$GO" ] || { echo "telegraf: no Go toolchain (set GO=/path/to/go)" >&2; exit 1; }
export GOPATH="$DIR/gopath" GOMODCACHE="$DIR/gomod" GOCACHE="$DIR/gocache"
export GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN=local
mkdir -p "$DIR/bin"

log "downloading github.com/influxdata/telegraf@v$TELEGRAF_VERSION from the Go module proxy"
SRC=$("$GO" mod download -json "github.com/influxdata/telegraf@v$TELEGRAF_VERSION" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
[ -n "$SRC" ] && [ -d "$SRC" ] || { echo "telegraf: module download failed" >&2; exit 1; }

log "building ./cmd/telegraf with tags $TAGS (go $("$GO" env GOVERSION); a few minutes the first time)"
started=$(date +%s)
(cd "$SRC" && "$GO" build -trimpath -tags "$TAGS" \
   -ldflags "-s -w -X github.com/influxdata/telegraf/internal.Version=$TELEGRAF_VERSION" \
   -o "$BIN.tmp" ./cmd/telegraf)
mv "$BIN.tmp" "$BIN"
log "built in $(( $(date +%s) - started )) s: $BIN ($(du -h "$BIN" | cut -f1))"
echo "$BIN"
