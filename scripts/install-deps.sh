#!/usr/bin/env bash
# Installs what sru needs on a Debian 12/13 host, idempotently: Debian packages, and TimescaleDB
# (from Debian 13's package, or built from Debian 13's source package on Debian 12).
# Runs as root; each step is skipped when its result is already there.
set -euo pipefail

log() { printf '[install-deps] %s\n' "$*" >&2; }

. /etc/os-release
case "${VERSION_ID:-}" in
  12) PGVER=15 ;;
  13) PGVER=17 ;;
  *)  PGVER=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1); PGVER=${PGVER:-15} ;;
esac

PKGS=(postgresql "postgresql-$PGVER" "postgresql-client-$PGVER" prometheus prometheus-alertmanager
      prometheus-node-exporter docker-compose python3-venv
      pgbackrest  # WAL archiving, backups and restores (docs/operations.md)
      chromium chromium-driver)  # the web console's browser tests (Playwright drives the system Chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
APT_UPDATED=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then log "missing $*; run as root"; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  if [ $APT_UPDATED = 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  # policy-rc.d keeps the packages' own services (a system PostgreSQL cluster, Prometheus) from
  # being started: sru runs its own instances on free ports.
  local had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  if [ $had_policy = 0 ]; then rm -f /usr/sbin/policy-rc.d; fi
}

PG_CONFIG=/usr/lib/postgresql/$PGVER/bin/pg_config
PKGLIB=/usr/lib/postgresql/$PGVER/lib
VER=
if [ -n "${SRU_TIMESCALEDB_SOURCE:-}" ]; then
  VER=$(basename "$SRU_TIMESCALEDB_SOURCE" | sed -nE 's/^timescaledb-([0-9]+\.[0-9]+\.[0-9]+)\.tar\.gz$/\1/p')
  if [ -n "$VER" ] && [ -f "$SRU_TIMESCALEDB_SOURCE" ] && ! { [ -f "$PKGLIB/timescaledb-tsl-$VER.so" ] && [ -f "$PKGLIB/timescaledb-$VER.so" ]; }; then
    # The build's own packages join the first install: one apt-get run (and one round of dpkg
    # triggers) on a fresh machine instead of two.
    for p in "postgresql-server-dev-$PGVER" cmake gcc make libssl-dev; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

# The community edition (Apache core + tsl/: compression, continuous aggregates, policies), built
# from an upstream source tarball: what compose users run, and what the suite needs for tier `full`.
if [ -n "${SRU_TIMESCALEDB_SOURCE:-}" ]; then
  SRC=$SRU_TIMESCALEDB_SOURCE
  [ -f "$SRC" ] || { log "SRU_TIMESCALEDB_SOURCE=$SRC: no such file"; exit 1; }
  [ -n "$VER" ] || { log "SRU_TIMESCALEDB_SOURCE=$SRC: expected a file named timescaledb-X.Y.Z.tar.gz"; exit 1; }
  if [ -f "$PKGLIB/timescaledb-tsl-$VER.so" ] && [ -f "$PKGLIB/timescaledb-$VER.so" ]; then
    log "TimescaleDB $VER community edition present for PostgreSQL $PGVER"
    exit 0
  fi
  log "building TimescaleDB $VER (community edition) from $SRC for PostgreSQL $PGVER"
  # An Apache-only Debian package would own the same file names: remove it, the build replaces it.
  if dpkg-query -W -f='${Status}' "postgresql-$PGVER-timescaledb" 2>/dev/null | grep -q "install ok installed"; then
    log "removing the Apache-only postgresql-$PGVER-timescaledb package"
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "postgresql-$PGVER-timescaledb" >/dev/null
  fi
  WORK=$(mktemp -d /tmp/sru-tsdb.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  tar xzf "$SRC" -C "$WORK"
  cd "$WORK/timescaledb-$VER"
  ./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
    -DPG_CONFIG="$PG_CONFIG" >/dev/null
  make -C build -j"$(nproc)" install >/dev/null
  [ -f "$PKGLIB/timescaledb-tsl-$VER.so" ] || { log "build finished without timescaledb-tsl-$VER.so"; exit 1; }
  log "TimescaleDB $VER community edition installed"
  exit 0
fi

if [ -f "/usr/share/postgresql/$PGVER/extension/timescaledb.control" ]; then
  log "TimescaleDB present for PostgreSQL $PGVER"
  exit 0
fi
if [ $APT_UPDATED = 0 ] && [ "$(id -u)" = 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
if apt-cache show "postgresql-$PGVER-timescaledb" >/dev/null 2>&1; then
  log "installing postgresql-$PGVER-timescaledb"
  apt_install "postgresql-$PGVER-timescaledb"
  exit 0
fi

log "building TimescaleDB (Apache edition) from Debian 13's source package for PostgreSQL $PGVER"
apt_install "postgresql-server-dev-$PGVER" cmake dpkg-dev gcc make libssl-dev
# The machine's own mirror, so the build works wherever its apt does.
MIRROR=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
[ -n "$MIRROR" ] || MIRROR=$(grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security | awk '{print $2}' | head -1)
[ -n "$MIRROR" ] || { log "cannot find the apt mirror URI"; exit 1; }
WORK=$(mktemp -d /tmp/sru-tsdb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/src"
# Verified with the machine's own Debian archive keyring (it carries the trixie keys).
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" >"$WORK/sources.list"
APTO=(-o "Dir::Etc::sourcelist=$WORK/sources.list" -o Dir::Etc::sourceparts=/nonexistent
      -o "Dir::State::Lists=$WORK/lists" -o APT::Sandbox::User=root)
apt-get "${APTO[@]}" update -qq
(cd "$WORK/src" && apt-get "${APTO[@]}" source --download-only timescaledb >/dev/null)
(cd "$WORK/src" && dpkg-source -x --no-check ./*.dsc tsdb >/dev/null)
cd "$WORK/src/tsdb"
./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DAPACHE_ONLY=ON -DWARNINGS_AS_ERRORS=OFF \
  -DPG_CONFIG="$PG_CONFIG" >/dev/null
make -C build -j"$(nproc)" install >/dev/null
log "TimescaleDB installed: $(ls /usr/share/postgresql/$PGVER/extension/timescaledb--*.sql | tail -1)"
