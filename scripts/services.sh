#!/usr/bin/env bash
# Real test services on 127.0.0.1: PostgreSQL, Redis, Neo4j (embedded, 5.26 LTS) and stripe-mock.
#
#   scripts/services.sh [up|down|status]
#
# `up` (the default) installs what is missing, starts whatever is not running (in parallel) and
# writes the addresses to var/services.env; running it again when all is up does nothing.
# Everything the services write lives under var/services/ in the repository:
#   postgres/   own cluster (data/, postgres.log), run as the `postgres` OS user when we are root.
#               If that user cannot reach the repository (e.g. a clone under /root), the cluster
#               goes to /var/lib/postgresql/admin-core-test instead, and var/services/postgres
#               becomes a symlink to it.
#   redis/      pid and log (no persistence)
#   neo4j/      store, wiped on every start; neo4j.log and neo4j.pid beside it
#   stripe-mock.log, stripe-mock.pid
set -euo pipefail

# Go from the official tarball lives in /usr/local/go/bin, which a non-login shell may lack on PATH.
[[ -d /usr/local/go/bin ]] && PATH="$PATH:/usr/local/go/bin"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$ROOT/var/services"
ENV_FILE="$ROOT/var/services.env"

PG_PORT=55432
REDIS_PORT=56379
NEO4J_PORT=57687
STRIPE_PORT=12111
STRIPE_HTTPS_PORT=12112

STRIPE_MOCK_VERSION=v0.203.0
NEO4J_PROJECT="$ROOT/tools/neo4j-test-server"
NEO4J_JAR="$NEO4J_PROJECT/target/neo4j-test-server.jar"
# Parallel GC on a fixed 2 GB heap, transaction state off the heap: on 2 cores G1's young
# collections took a third of Neo4j's CPU during graph rebuilds (docs/adr/0023).
NEO4J_JAVA_OPTS=(-Xms2g -Xmx2g -XX:+UseParallelGC -XX:+ExitOnOutOfMemoryError
  -Dneo4j.conf.db.tx_state.memory_allocation=OFF_HEAP
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED)
NEO4J_PAGECACHE_MIB=1024
NEO4J_START_TIMEOUT=180

log() { echo "$*"; }
die() { echo "services: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The process in pid file $1 is alive and is ours: its command line names port $2
# (guards against a stale pid file whose pid now belongs to something else).
pid_alive() {
  local pid
  [[ -f "$1" ]] && pid=$(cat "$1") && [[ -r "/proc/$pid/cmdline" ]] \
    && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# Wait up to $2 seconds for port $1; a non-empty $3 is a pid file whose process must stay alive.
wait_port() {
  local port=$1 timeout=$2 pidfile=${3:-} i
  for ((i = 0; i < timeout * 2; i++)); do
    port_open "$port" && return 0
    if [[ -n "$pidfile" ]] && ! pid_alive "$pidfile" "$port"; then return 1; fi
    sleep 0.5
  done
  return 1
}

# Stop our process in pid file $1, serving port $2 (TERM, then KILL after $3 seconds).
stop_pid() {
  local pidfile=$1 port=$2 timeout=${3:-30} pid i
  pid_alive "$pidfile" "$port" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# Run a command detached from this shell, writing its pid (the exec'd program's) to $1, output to $2.
spawn() {
  local pidfile=$1 logfile=$2
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@" >"$logfile" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 50; i++)); do [[ -s "$pidfile" ]] && return 0; sleep 0.1; done
  die "could not start $*"
}

# The newest installed server's bin directory (empty when PostgreSQL is not installed).
pg_bin() { printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1 || true; }

# ---------------------------------------------------------------- installs (serial: apt holds a lock)
ensure_packages() {
  local missing=()
  [[ -n "$(pg_bin)" && -x "$(pg_bin)/postgres" ]] || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v go >/dev/null || missing+=(golang-go) # older than stripe-mock needs: Go fetches its toolchain
  ((${#missing[@]} == 0)) && return 0
  [[ $EUID -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || die "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------- PostgreSQL
PG_DIR="$VAR/postgres"
PG_FALLBACK_DIR=/var/lib/postgresql/admin-core-test
[[ -L "$PG_DIR" ]] && PG_DIR="$PG_FALLBACK_DIR" # the postgres user cannot reach var/ (see top)

# As root, postgres runs as the `postgres` OS user; otherwise as whoever runs this script.
as_pg() { if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

pg_prepare_dir() {
  mkdir -p "$VAR"
  [[ $EUID -eq 0 ]] || { mkdir -p "$PG_DIR"; return; }
  if [[ ! -L "$VAR/postgres" ]]; then
    mkdir -p "$PG_DIR"
    chown postgres:postgres "$PG_DIR"
    runuser -u postgres -- test -w "$PG_DIR" && return
    rmdir "$PG_DIR" 2>/dev/null || die "the postgres user cannot use $PG_DIR"
    ln -s "$PG_FALLBACK_DIR" "$VAR/postgres"
    PG_DIR="$PG_FALLBACK_DIR"
  fi
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
}

pg_up() {
  local bin data
  bin=$(pg_bin)
  data="$PG_DIR/data"
  if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 && port_open $PG_PORT; then
    log "service postgres: up (already running on 127.0.0.1:$PG_PORT)"
    return 0
  fi
  port_open $PG_PORT && die "postgres: port $PG_PORT is taken by another process"

  if [[ ! -f "$data/PG_VERSION" ]]; then
    local pw="$PG_DIR/.pwfile"
    as_pg sh -c "echo admin_super > '$pw'"
    as_pg "$bin/initdb" -D "$data" -U admin_super --pwfile="$pw" -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; die "postgres: initdb failed"; }
    rm -f "$pw"
    # Test cluster: durability off, loopback TCP only (no unix socket).
    as_pg sh -c "cat >> '$data/postgresql.conf'" <<EOF

# admin-core test cluster
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi

  as_pg "$bin/pg_ctl" -D "$data" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null \
    || { tail -n 30 "$PG_DIR/postgres.log" >&2; die "postgres: failed to start"; }

  PGPASSWORD=admin_super "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_PORT \
    -U admin_super -d postgres >/dev/null <<'SQL' || die "postgres: creating roles/databases failed"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'admin_owner') THEN
    CREATE ROLE admin_owner LOGIN PASSWORD 'admin_owner';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'admin_app') THEN
    CREATE ROLE admin_app LOGIN PASSWORD 'admin_app';
  END IF;
END
$$;
SELECT format('CREATE DATABASE %I OWNER admin_owner', name)
FROM unnest(ARRAY['admin_core_test', 'admin_core_bench']) AS name
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = name)
\gexec
SQL
  log "service postgres: up (PostgreSQL $(basename "$(dirname "$bin")") cluster on 127.0.0.1:$PG_PORT)"
}

pg_down() {
  local bin
  bin=$(pg_bin)
  [[ -n "$bin" && -f "$PG_DIR/data/PG_VERSION" ]] || return 0
  as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1 || return 0
  as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -w -t 60 -m fast stop >/dev/null
}

# ---------------------------------------------------------------- Redis
REDIS_DIR="$VAR/redis"

redis_up() {
  if pid_alive "$REDIS_DIR/redis.pid" $REDIS_PORT && port_open $REDIS_PORT; then
    log "service redis: up (already running on 127.0.0.1:$REDIS_PORT)"
    return 0
  fi
  port_open $REDIS_PORT && die "redis: port $REDIS_PORT is taken by another process"
  mkdir -p "$REDIS_DIR"
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --dir "$REDIS_DIR" || die "redis: failed to start"
  wait_port $REDIS_PORT 20 || { tail -n 20 "$REDIS_DIR/redis.log" >&2; die "redis: not listening"; }
  log "service redis: up ($(redis-server --version | awk '{print $3}' | tr -d v=) on 127.0.0.1:$REDIS_PORT)"
}

redis_down() { stop_pid "$REDIS_DIR/redis.pid" $REDIS_PORT 20; }

# ---------------------------------------------------------------- Neo4j
NEO4J_PID="$VAR/neo4j.pid"
NEO4J_LOG="$VAR/neo4j.log"

neo4j_build() {
  if [[ -f "$NEO4J_JAR" && -d "$NEO4J_PROJECT/target/lib" ]] \
    && [[ -z "$(find "$NEO4J_PROJECT/pom.xml" "$NEO4J_PROJECT/src" -newer "$NEO4J_JAR")" ]]; then
    return 0
  fi
  rm -rf "$NEO4J_PROJECT/target/lib"
  (cd "$NEO4J_PROJECT" && mvn -q -B package) >"$VAR/neo4j-build.log" 2>&1 \
    || { tail -n 40 "$VAR/neo4j-build.log" >&2; die "neo4j: maven build failed"; }
}

neo4j_up() {
  if pid_alive "$NEO4J_PID" $NEO4J_PORT && port_open $NEO4J_PORT; then
    log "service neo4j: up (already running on 127.0.0.1:$NEO4J_PORT)"
    return 0
  fi
  port_open $NEO4J_PORT && die "neo4j: port $NEO4J_PORT is taken by another process"
  stop_pid "$NEO4J_PID" $NEO4J_PORT 10 # a half-started leftover
  neo4j_build
  spawn "$NEO4J_PID" "$NEO4J_LOG" java "${NEO4J_JAVA_OPTS[@]}" -jar "$NEO4J_JAR" \
    "$VAR/neo4j" $NEO4J_PORT $NEO4J_PAGECACHE_MIB
  if ! wait_port $NEO4J_PORT $NEO4J_START_TIMEOUT "$NEO4J_PID"; then
    tail -n 40 "$NEO4J_LOG" >&2
    stop_pid "$NEO4J_PID" $NEO4J_PORT 10
    die "neo4j: Bolt port $NEO4J_PORT not open after ${NEO4J_START_TIMEOUT}s"
  fi
  local version
  version=$(sed -n 's/^.*<neo4j.version>\(.*\)<\/neo4j.version>.*$/\1/p' "$NEO4J_PROJECT/pom.xml")
  log "service neo4j: up (embedded Neo4j Community $version, Bolt on 127.0.0.1:$NEO4J_PORT)"
}

neo4j_down() { stop_pid "$NEO4J_PID" $NEO4J_PORT 60; }

# ---------------------------------------------------------------- stripe-mock
STRIPE_PID="$VAR/stripe-mock.pid"
STRIPE_LOG="$VAR/stripe-mock.log"

stripe_bin() { echo "$(go env GOPATH)/bin/stripe-mock"; }

stripe_install() {
  local bin
  bin=$(stripe_bin)
  if [[ -x "$bin" ]] && go version -m "$bin" 2>/dev/null | grep -q "github.com/stripe/stripe-mock[[:space:]]*$STRIPE_MOCK_VERSION"; then
    return 0
  fi
  GOBIN="$(dirname "$bin")" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" \
    go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" >"$VAR/stripe-mock-build.log" 2>&1 \
    || { tail -n 20 "$VAR/stripe-mock-build.log" >&2; die "stripe-mock: go install failed"; }
}

stripe_up() {
  if pid_alive "$STRIPE_PID" $STRIPE_PORT && port_open $STRIPE_PORT; then
    log "service stripe-mock: up (already running on 127.0.0.1:$STRIPE_PORT)"
    return 0
  fi
  port_open $STRIPE_PORT && die "stripe-mock: port $STRIPE_PORT is taken by another process"
  stripe_install
  spawn "$STRIPE_PID" "$STRIPE_LOG" "$(stripe_bin)" \
    -http-addr "127.0.0.1:$STRIPE_PORT" -https-addr "127.0.0.1:$STRIPE_HTTPS_PORT"
  wait_port $STRIPE_PORT 30 "$STRIPE_PID" \
    || { tail -n 20 "$STRIPE_LOG" >&2; stop_pid "$STRIPE_PID" $STRIPE_PORT 5; die "stripe-mock: not listening"; }
  log "service stripe-mock: up ($STRIPE_MOCK_VERSION, HTTP on 127.0.0.1:$STRIPE_PORT)"
}

stripe_down() { stop_pid "$STRIPE_PID" $STRIPE_PORT 10; }

# ---------------------------------------------------------------- commands
write_env() {
  pg_url() { echo "postgresql+asyncpg://$1:$1@127.0.0.1:$PG_PORT/$2"; } # password = role name
  {
    echo "ADMIN_TEST_POSTGRES_URL=$(pg_url admin_app admin_core_test)"
    echo "ADMIN_TEST_POSTGRES_OWNER_URL=$(pg_url admin_owner admin_core_test)"
    echo "ADMIN_TEST_POSTGRES_SUPER_URL=$(pg_url admin_super admin_core_test)"
    echo "ADMIN_TEST_POSTGRES_BENCH_OWNER_URL=$(pg_url admin_owner admin_core_bench)"
    echo "ADMIN_TEST_POSTGRES_BENCH_URL=$(pg_url admin_app admin_core_bench)"
    echo "ADMIN_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
    echo "ADMIN_TEST_NEO4J_URL=bolt://127.0.0.1:$NEO4J_PORT"
    echo "ADMIN_TEST_STRIPE_URL=http://127.0.0.1:$STRIPE_PORT"
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_up() {
  ensure_packages
  pg_prepare_dir
  # Each service starts in its own subshell; neo4j (maven build + JVM start) is the slow one.
  local name pids=() names=() failed=()
  for name in pg redis neo4j stripe; do
    "${name}_up" &
    pids+=($!)
    names+=("$name")
  done
  local i
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${names[$i]}")
  done
  ((${#failed[@]} == 0)) || die "failed to start: ${failed[*]} (logs under var/services)"
  write_env
}

cmd_down() {
  stripe_down &
  neo4j_down &
  redis_down &
  pg_down &
  wait
  rm -f "$ENV_FILE"
  log "services: down"
}

cmd_status() {
  local all=0
  report() { if $2; then log "service $1: up"; else log "service $1: down"; all=1; fi; }
  report postgres "port_open $PG_PORT"
  report redis "port_open $REDIS_PORT"
  report neo4j "port_open $NEO4J_PORT"
  report stripe-mock "port_open $STRIPE_PORT"
  return $all
}

case "${1:-up}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 [up|down|status]" >&2; exit 2 ;;
esac
