# A throwaway PostgreSQL server for the test suite, on 127.0.0.1 (sourced by .ci/run; a developer
# can source it too: `source .ci/postgres.sh && start_postgres`, then `./run test`).
#
# start_postgres: installs Debian's `postgresql` package when no server binaries are found,
# creates a cluster in a temporary folder (as the `postgres` user when run as root: initdb and
# the server refuse to run as root), starts it on a free port of 127.0.0.1 only, exports
# TEST_POSTGRES_URL (a superuser URL: the tests create one database each) and stops
# and removes it when the shell exits. Any failure is fatal: CI must not pass without PostgreSQL.

_pg_bin() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$found" ] && command -v pg_ctl >/dev/null 2>&1; then
    found="$(dirname "$(command -v pg_ctl)")"
  fi
  echo "$found"
}

_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop_postgres() {
  if [ -n "${_PG_DIR:-}" ] && [ -d "$_PG_DIR" ]; then
    _pg_as_owner "$_PG_BIN/pg_ctl" -D "$_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$_PG_DIR"
  fi
}

start_postgres() {
  _PG_BIN="$(_pg_bin)"
  if [ -z "$_PG_BIN" ]; then
    echo "==> installing PostgreSQL (Debian package postgresql)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq postgresql >/dev/null 2>&1 ||
      { $sudo apt-get update -qq && $sudo apt-get install -y -qq postgresql >/dev/null; }
    _PG_BIN="$(_pg_bin)"
    [ -n "$_PG_BIN" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; return 1; }
  fi
  _PG_DIR="$(mktemp -d /tmp/callsync-pg.XXXXXX)"
  trap stop_postgres EXIT
  if [ "$(id -u)" = 0 ]; then chown postgres: "$_PG_DIR"; fi
  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  _pg_as_owner "$_PG_BIN/initdb" -D "$_PG_DIR/data" -U postgres --auth=trust -E UTF8 \
    --locale=C.UTF-8 >"$_PG_DIR/initdb.log" 2>&1 ||
    { cat "$_PG_DIR/initdb.log" >&2; return 1; }
  # Throwaway data: durability settings off (a crash loses nothing anyone keeps); the socket
  # lives in the cluster's own folder, TCP only on 127.0.0.1.
  _pg_as_owner "$_PG_BIN/pg_ctl" -D "$_PG_DIR/data" -l "$_PG_DIR/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $port -k $_PG_DIR -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c max_connections=200" >/dev/null ||
    { cat "$_PG_DIR/server.log" >&2; return 1; }
  export TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
  echo "==> $("$_PG_BIN/pg_ctl" --version) on 127.0.0.1:$port"
}
