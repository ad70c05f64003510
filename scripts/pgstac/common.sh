# Shared settings of scripts/pgstac/start.sh and stop.sh (sourced, not run).
#
# Environment (all optional):
#   PGSTAC_PG_PORT         PostgreSQL port, on PGSTAC_HOST only                    (default 5439)
#   PGSTAC_API_PORT        the STAC API (stac-fastapi-pgstac under uvicorn)         (default 8082)
#   PGSTAC_HOST            the one address both listen on                           (default 127.0.0.1)
#   PGSTAC_PG_MAJOR        the Debian PostgreSQL major version (with its PostGIS 3) (default 15, bookworm's)
#   PGSTAC_DB              database name                                            (default pgstac)
#   PGSTAC_DB_USER         the login role the API connects as                       (default pgstac)
#   PGSTAC_DB_PASSWORD     its password (the database listens on loopback only)     (default pgstac)
#   PGSTAC_CACHE_DIR       pid files, logs, lock, and the PostgreSQL cluster        (default <repo>/.cache/pgstac)
#   PGSTAC_PG_DIR          the cluster: data/, server log, socket; owned by postgres (default $PGSTAC_CACHE_DIR/pg-<pg port>)
#   PGSTAC_VENV            the Python virtualenv with pypgstac and the API          (default <repo>/.venv-pgstac)
#   PGSTAC_START_TIMEOUT   seconds start.sh waits for each of PostgreSQL and the API (default 60)
#   PGSTAC_STOP_TIMEOUT    seconds stop.sh waits after SIGTERM before SIGKILL       (default 30)

PGSTAC_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PGSTAC_REPO_ROOT="$(cd "$PGSTAC_SCRIPTS_DIR/../.." && pwd)"
SVC_NAME=pgstac
# shellcheck source=../lib/service.sh
source "$PGSTAC_SCRIPTS_DIR/../lib/service.sh"

PGSTAC_HOST="${PGSTAC_HOST:-127.0.0.1}"
PGSTAC_PG_PORT="${PGSTAC_PG_PORT:-5439}"
PGSTAC_API_PORT="${PGSTAC_API_PORT:-8082}"
for _v in PGSTAC_PG_PORT PGSTAC_API_PORT; do
  case "${!_v}" in
    ''|*[!0-9]*) svc_die "$_v must be a port number, got '${!_v}'" ;;
  esac
done
[ "$PGSTAC_PG_PORT" != "$PGSTAC_API_PORT" ] || svc_die "PGSTAC_PG_PORT and PGSTAC_API_PORT are both $PGSTAC_PG_PORT"
PGSTAC_PG_MAJOR="${PGSTAC_PG_MAJOR:-15}"
PGSTAC_DB="${PGSTAC_DB:-pgstac}"
PGSTAC_DB_USER="${PGSTAC_DB_USER:-pgstac}"
PGSTAC_DB_PASSWORD="${PGSTAC_DB_PASSWORD:-pgstac}"
for _v in PGSTAC_DB PGSTAC_DB_USER; do
  # plain identifiers only: they go into SQL and connection strings unquoted
  [[ "${!_v}" =~ ^[a-z_][a-z0-9_]*$ ]] || svc_die "$_v must be a lower-case SQL identifier, got '${!_v}'"
done
case "$PGSTAC_DB_USER" in postgres|pgstac_admin|pgstac_read|pgstac_ingest)
  svc_die "PGSTAC_DB_USER must not be '$PGSTAC_DB_USER' (a role PostgreSQL or pgstac owns)" ;;
esac
PGSTAC_CACHE_DIR="${PGSTAC_CACHE_DIR:-$PGSTAC_REPO_ROOT/.cache/pgstac}"
PGSTAC_PG_DIR="${PGSTAC_PG_DIR:-$PGSTAC_CACHE_DIR/pg-$PGSTAC_PG_PORT}"
PGSTAC_VENV="${PGSTAC_VENV:-$PGSTAC_REPO_ROOT/.venv-pgstac}"
PGSTAC_START_TIMEOUT="${PGSTAC_START_TIMEOUT:-60}"
PGSTAC_STOP_TIMEOUT="${PGSTAC_STOP_TIMEOUT:-30}"

PGSTAC_PG_BIN="/usr/lib/postgresql/$PGSTAC_PG_MAJOR/bin"   # Debian's layout; its PostGIS goes with it
PGSTAC_PGDATA="$PGSTAC_PG_DIR/data"
PGSTAC_PG_LOG="$PGSTAC_PG_DIR/postgresql.log"             # the server's stderr (pg_ctl -l)
PGSTAC_PG_SOCKET_DIR="$PGSTAC_PG_DIR"                     # mode 0750, owner postgres: only postgres and root reach it
PGSTAC_API_PID_FILE="$PGSTAC_CACHE_DIR/api-$PGSTAC_API_PORT.pid"
PGSTAC_API_LOG="$PGSTAC_CACHE_DIR/api-$PGSTAC_API_PORT.log"
PGSTAC_LOCK_FILE="$PGSTAC_CACHE_DIR/pgstac.lock"                  # one start/stop at a time, whatever the ports
PGSTAC_API_URL="http://$PGSTAC_HOST:$PGSTAC_API_PORT"
PGSTAC_TRANSACTION_CLASS="https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction"

# Runs a command as the postgres OS user (PostgreSQL refuses to run as root).
pgstac_as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    sudo -u postgres -- "$@"
  fi
}

# Serialises start.sh and stop.sh, whatever the ports.
pgstac_lock() { svc_lock "$PGSTAC_LOCK_FILE" 600 "pgstac"; }

# Prints the pid in the API pid file when that process is alive and is uvicorn serving stac_fastapi.pgstac.
pgstac_api_pid() { svc_pid_from "$PGSTAC_API_PID_FILE" 'stac_fastapi\.pgstac'; }

# Succeeds when the cluster in PGSTAC_PGDATA is running (its postmaster.pid names a live postgres).
pgstac_pg_running() {
  [ -x "$PGSTAC_PG_BIN/pg_ctl" ] && id postgres >/dev/null 2>&1 || return 1
  pgstac_as_postgres "$PGSTAC_PG_BIN/pg_ctl" -D "$PGSTAC_PGDATA" status >/dev/null 2>&1
}

# Succeeds when the STAC API answers GET / with 200 and lists the transaction conformance class.
pgstac_api_ready() {
  curl -fsS -m 3 -o /dev/null "$PGSTAC_API_URL/" 2>/dev/null || return 1
  curl -fsS -m 3 "$PGSTAC_API_URL/conformance" 2>/dev/null | grep -qF "$PGSTAC_TRANSACTION_CLASS"
}
