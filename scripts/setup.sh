#!/usr/bin/env bash
# make setup: installs everything the product and its tests need, idempotently.
#   1. Debian packages (PostgreSQL 15 and its build headers, Java, Maven, ffmpeg, GStreamer's RTSP server for the
#      prober's tests, fonts, Chromium ...)
#   2. TimescaleDB built from Debian's source package (Apache-licensed build), cached
#   3. Apache Kafka jars resolved from Maven Central, cached
#   4. .venv/ with the project installed in editable mode
#   5. the dashboard's front-end libraries (Chart.js; axe-core for its tests) from the npm registry
#   6. ipycam, a real ONVIF device implementation the device tests talk to, in a venv of its own
# Builds and downloads are cached under $PULSE_CACHE_DIR (default ~/.cache/commune-pulse), outside the
# work tree, so a second run (or a fresh clone on the same machine) takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../infra/versions.env
. infra/versions.env
CACHE="${PULSE_CACHE_DIR:-$HOME/.cache/commune-pulse}"
mkdir -p "$CACHE"
log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- 1. system packages -------------------------------------------------------------------------
PACKAGES=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libssl-dev libkrb5-dev cmake gcc make
          default-jre-headless maven ffmpeg fonts-dejavu-core python3-venv curl ca-certificates dpkg-dev
          python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          chromium libreoffice-calc-nogui libreoffice-writer-nogui poppler-utils caddy)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm may come from elsewhere than Debian (as on this project's CI machine): use what is there.
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian creates a cluster on install that would hold port 5432; the product runs its own under ./var/.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | awk '$4=="online"' | grep -q .; then
  log "stopping Debian's default PostgreSQL cluster (the product runs its own under ./var/)"
  $SUDO pg_ctlcluster "$PG_MAJOR" main stop || true
fi

# --- 2. TimescaleDB ---------------------------------------------------------------------------
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PKGLIB=$($PG_CONFIG --pkglibdir); SHAREDIR=$($PG_CONFIG --sharedir)
if ! ls "$PKGLIB"/timescaledb-*.so >/dev/null 2>&1 || ! ls "$SHAREDIR"/extension/timescaledb.control >/dev/null 2>&1; then
  TSDIR="$CACHE/timescaledb-$TIMESCALEDB_SUITE-pg$PG_MAJOR"
  if [ ! -f "$TSDIR/.built" ]; then
    log "building TimescaleDB from Debian's $TIMESCALEDB_SUITE source package (about a minute)"
    rm -rf "$TSDIR"; mkdir -p "$TSDIR/apt/lists/partial" "$TSDIR/src"
    # Read the mirror from this machine's own apt sources; a private apt configuration keeps the
    # system's package lists untouched.
    MIRROR=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | grep -i debian | head -n1 || true)
    [ -n "$MIRROR" ] || MIRROR=$(grep -hE '^\s*deb\s' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -i debian | head -n1 || true)
    [ -n "$MIRROR" ] || { echo "setup: cannot find a Debian mirror in /etc/apt sources" >&2; exit 1; }
    echo "deb-src $MIRROR $TIMESCALEDB_SUITE main" > "$TSDIR/apt/sources.list"
    APTOPTS=(-o "Dir::Etc::SourceList=$TSDIR/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o "Dir::State::Lists=$TSDIR/apt/lists" -o APT::Sandbox::User=root)
    apt-get "${APTOPTS[@]}" update -qq
    (cd "$TSDIR/src" && apt-get "${APTOPTS[@]}" source --download-only timescaledb >/dev/null)
    (cd "$TSDIR/src" && dpkg-source -x --no-check ./*.dsc tsdb >/dev/null)
    (cd "$TSDIR/src/tsdb" && ./bootstrap -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPG_CONFIG="$PG_CONFIG" \
        -DAPACHE_ONLY=1 -DUSE_TELEMETRY=OFF -DSEND_TELEMETRY_DEFAULT=OFF -DREGRESS_CHECKS=OFF \
        -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF >"$TSDIR/bootstrap.log" 2>&1 \
      && make -C build -j"$(nproc)" >"$TSDIR/build.log" 2>&1) \
      || { echo "setup: TimescaleDB build failed, see $TSDIR/*.log" >&2; exit 1; }
    touch "$TSDIR/.built"
  fi
  log "installing TimescaleDB into PostgreSQL $PG_MAJOR"
  $SUDO make -C "$TSDIR/src/tsdb/build" install >"$TSDIR/install.log" 2>&1
fi

# --- 3. Apache Kafka --------------------------------------------------------------------------
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
POM_HASH=$(sha256sum infra/kafka/pom.xml | cut -c1-16)
if [ "$(cat "$KAFKA_HOME/.resolved" 2>/dev/null)" != "$POM_HASH" ]; then
  log "resolving Apache Kafka $KAFKA_VERSION from Maven Central"
  rm -rf "$KAFKA_HOME"; mkdir -p "$KAFKA_HOME"
  mvn -q -B -Dstyle.color=never -f infra/kafka/pom.xml -Dkafka.version="$KAFKA_VERSION" \
      -Dmaven.repo.local="$CACHE/m2" dependency:copy-dependencies -DoutputDirectory="$KAFKA_HOME/libs"
  echo "$POM_HASH" > "$KAFKA_HOME/.resolved"
fi

# --- 4. Python environment --------------------------------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  log "installing the project into .venv (editable)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  rm -f .venv/.installed-*; touch "$stamp"
fi
# --- 5. dashboard front-end libraries ---------------------------------------------------------------------
# Served by `pulse api` from dashboards/web/node_modules (git-ignored): nothing is fetched at run time.
LOCK_HASH=$(sha256sum dashboards/web/package-lock.json | cut -c1-16)
if [ "$(cat dashboards/web/node_modules/.installed 2>/dev/null)" != "$LOCK_HASH" ]; then
  log "installing the dashboard's front-end libraries from the npm registry"
  npm ci --prefix dashboards/web --no-audit --no-fund --loglevel=error --cache "$CACHE/npm" >/dev/null
  echo "$LOCK_HASH" > dashboards/web/node_modules/.installed
fi
# --- 6. a real ONVIF device for the device tests ---------------------------------------------------------
# ipycam (PyPI) implements an ONVIF device service with its own WS-Security checks; it needs opencv-python, which
# must not meet the product's opencv-python-headless, so it lives in a venv of its own in the cache.
IPYCAM="$CACHE/ipycam-1.3.0"
if ! "$IPYCAM/bin/python" -c "import ipycam" >/dev/null 2>&1; then
  log "installing ipycam 1.3.0 (a real ONVIF device, for the tests) into $IPYCAM"
  rm -rf "$IPYCAM"; "$PY" -m venv "$IPYCAM"
  "$IPYCAM/bin/pip" install -q ipycam==1.3.0
fi
log "ready (cache: $CACHE)"
