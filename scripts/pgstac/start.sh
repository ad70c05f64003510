#!/usr/bin/env bash
# Starts the external STAC catalogue that sharpstream's publishers are tested against: PostgreSQL with
# PostGIS (Debian packages) holding a pgstac schema, and stac-fastapi-pgstac with the transaction
# extension, served by uvicorn on 127.0.0.1:8082. Returns once GET / answers 200 and /conformance
# lists the transaction conformance class.
#
#   bash scripts/pgstac/start.sh           # or: npm run pgstac:start;  PGSTAC_API_PORT=18082 PGSTAC_PG_PORT=15439 bash scripts/pgstac/start.sh
#   bash scripts/pgstac/stop.sh            # or: npm run pgstac:stop
#
# Runs as root or through sudo. The first run installs what is missing: postgresql-<major> and
# postgresql-<major>-postgis-3 with apt-get, and the virtualenv .venv-pgstac/ from
# scripts/pgstac/requirements.txt (pinned pypgstac, stac-fastapi.pgstac, uvicorn, pystac-client); it
# creates a private cluster in .cache/pgstac/pg-<port>/ (owned by the postgres user, listening on
# 127.0.0.1:5439 only, so a system PostgreSQL on 5432 is left alone), the database and login role,
# and migrates the database with `pypgstac migrate`. Later runs start from that state in seconds.
# Catalogue data survives restarts; delete .cache/pgstac/pg-<port> for an empty catalogue.
# Logs: .cache/pgstac/pg-<port>/postgresql.log (root-readable) and .cache/pgstac/api-<port>.log.
# Idempotent: when the API already answers on its port it says so ("already running") and exits 0.
# Settings: see scripts/pgstac/common.sh.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

T_START=$SECONDS

# --- Debian packages: PostgreSQL with its matching PostGIS 3, a venv-capable Python, curl ---------------
install_packages() {
  local wanted=("postgresql-$PGSTAC_PG_MAJOR" "postgresql-$PGSTAC_PG_MAJOR-postgis-3" python3-venv curl) missing=() p
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  local t0=$SECONDS
  svc_apt_install "${missing[@]}" || svc_die "apt-get could not install ${missing[*]} (is PGSTAC_PG_MAJOR=$PGSTAC_PG_MAJOR packaged here? apt-cache search postgis)"
  svc_log "installed ${missing[*]} in $((SECONDS - t0)) s"
}

# --- the Python virtualenv: pypgstac, stac-fastapi-pgstac, uvicorn (pinned), rebuilt when the pins change
install_venv() {
  local req="$PGSTAC_SCRIPTS_DIR/requirements.txt" stamp="$PGSTAC_VENV/.requirements.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$PGSTAC_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  local t0=$SECONDS
  svc_log "installing $(grep -E '^[a-z].*==' "$req" | head -n 4 | tr '\n' ' ')into $PGSTAC_VENV"
  [ -x "$PGSTAC_VENV/bin/python" ] || /usr/bin/python3 -m venv "$PGSTAC_VENV"
  if ! "$PGSTAC_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req" > "$PGSTAC_CACHE_DIR/pip.log" 2>&1; then
    tail -n 30 "$PGSTAC_CACHE_DIR/pip.log" >&2
    svc_die "pip could not install $req into $PGSTAC_VENV (full output: $PGSTAC_CACHE_DIR/pip.log)"
  fi
  echo "$want" > "$stamp"
  svc_log "virtualenv ready in $((SECONDS - t0)) s"
}

fail_pg() {
  echo "[pgstac] ---- last lines of $PGSTAC_PG_LOG ----" >&2
  $SVC_SUDO tail -n 30 "$PGSTAC_PG_LOG" >&2 2>/dev/null || true
  svc_die "$1"
}

# --- PostgreSQL: a private cluster owned by the postgres user -------------------------------------------
start_postgres() {
  [ -x "$PGSTAC_PG_BIN/pg_ctl" ] || svc_die "$PGSTAC_PG_BIN/pg_ctl not found although postgresql-$PGSTAC_PG_MAJOR is installed"
  id postgres >/dev/null 2>&1 || svc_die "there is no postgres user (the postgresql-common package creates it)"
  if pgstac_pg_running; then return 0; fi
  if svc_port_open "$PGSTAC_HOST" "$PGSTAC_PG_PORT"; then
    svc_die "port $PGSTAC_HOST:$PGSTAC_PG_PORT is taken by something other than this cluster; set PGSTAC_PG_PORT to a free port"
  fi
  $SVC_SUDO install -d -o postgres -g postgres -m 0750 "$PGSTAC_PG_DIR"
  pgstac_as_postgres test -w "$PGSTAC_PG_DIR" ||
    svc_die "the postgres user cannot write $PGSTAC_PG_DIR (a parent folder is closed to it?); set PGSTAC_PG_DIR to a folder it can reach"
  if ! $SVC_SUDO test -f "$PGSTAC_PGDATA/PG_VERSION"; then
    svc_log "creating a PostgreSQL $PGSTAC_PG_MAJOR cluster in $PGSTAC_PGDATA"
    # local (socket) connections: trust, but the socket folder is reachable only by postgres and root;
    # TCP (127.0.0.1 only): password
    pgstac_as_postgres "$PGSTAC_PG_BIN/initdb" -D "$PGSTAC_PGDATA" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 > "$PGSTAC_CACHE_DIR/initdb.log" 2>&1 9>&- ||
      { cat "$PGSTAC_CACHE_DIR/initdb.log" >&2; svc_die "initdb failed for $PGSTAC_PGDATA"; }
    printf "\n# added by scripts/pgstac/start.sh: listen address, port and socket are in this file, rewritten on each start\ninclude_if_exists = 'sharpstream.conf'\n" |
      pgstac_as_postgres tee -a "$PGSTAC_PGDATA/postgresql.conf" >/dev/null
  fi
  local sock="${PGSTAC_PG_SOCKET_DIR//\'/\'\'}"
  pgstac_as_postgres tee "$PGSTAC_PGDATA/sharpstream.conf" >/dev/null <<EOF
# written by scripts/pgstac/start.sh on each start
listen_addresses = '$PGSTAC_HOST'
port = $PGSTAC_PG_PORT
unix_socket_directories = '$sock'
max_connections = 50
# a test catalogue: a crash may lose the last commits, never corrupt the cluster
synchronous_commit = off
EOF
  local t0=$SECONDS
  svc_log "starting PostgreSQL $PGSTAC_PG_MAJOR on $PGSTAC_HOST:$PGSTAC_PG_PORT (data $PGSTAC_PGDATA)"
  # pg_ctl detaches the server into its own session; fd 9 (the lock) must not stay open in it
  pgstac_as_postgres "$PGSTAC_PG_BIN/pg_ctl" -D "$PGSTAC_PGDATA" -l "$PGSTAC_PG_LOG" -w -t "$PGSTAC_START_TIMEOUT" start \
    >/dev/null 2>&1 9>&- || fail_pg "PostgreSQL did not start on $PGSTAC_HOST:$PGSTAC_PG_PORT within $PGSTAC_START_TIMEOUT s"
  svc_log "PostgreSQL up in $((SECONDS - t0)) s"
}

# psql as the postgres superuser through the private socket
psql_admin() {
  pgstac_as_postgres "$PGSTAC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSTAC_PG_SOCKET_DIR" -p "$PGSTAC_PG_PORT" "$@"
}

# --- the database, its extensions and the login role; then the pgstac schema ---------------------------
prepare_database() {
  local pw="${PGSTAC_DB_PASSWORD//\'/\'\'}"
  # the role and its password are (re)applied each start, so that a changed PGSTAC_DB_PASSWORD takes effect
  psql_admin -d postgres >/dev/null <<EOF || svc_die "could not create the role $PGSTAC_DB_USER"
SELECT 'CREATE ROLE $PGSTAC_DB_USER LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PGSTAC_DB_USER')
\gexec
ALTER ROLE $PGSTAC_DB_USER LOGIN PASSWORD '$pw';
SELECT 'CREATE DATABASE $PGSTAC_DB OWNER $PGSTAC_DB_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PGSTAC_DB')
\gexec
EOF
  local have want
  have="$(psql_admin -d "$PGSTAC_DB" -tA -c "SELECT CASE WHEN to_regproc('pgstac.get_version') IS NULL THEN '' ELSE pgstac.get_version() END" 2>/dev/null || true)"
  want="$(sed -n 's/^pypgstac\[psycopg\]==\([0-9.]*\)$/\1/p' "$PGSTAC_SCRIPTS_DIR/requirements.txt")"
  [ -n "$want" ] || svc_die "scripts/pgstac/requirements.txt pins no pypgstac[psycopg]==<version>"
  if [ "$have" != "$want" ]; then
    local t0=$SECONDS
    svc_log "migrating database $PGSTAC_DB to pgstac $want (from ${have:-nothing}) with pypgstac migrate"
    # extensions need a superuser; pgstac's own migration then creates its schema and its roles
    psql_admin -d "$PGSTAC_DB" -c 'CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS btree_gist; CREATE EXTENSION IF NOT EXISTS unaccent;' \
      >/dev/null || fail_pg "could not create the postgis, btree_gist and unaccent extensions in $PGSTAC_DB"
    # the migration runs as the superuser, through the socket (only postgres and root reach it)
    if ! $SVC_SUDO env PGHOST="$PGSTAC_PG_SOCKET_DIR" PGPORT="$PGSTAC_PG_PORT" PGUSER=postgres PGDATABASE="$PGSTAC_DB" \
         "$PGSTAC_VENV/bin/pypgstac" migrate > "$PGSTAC_CACHE_DIR/migrate.log" 2>&1 9>&-; then
      tail -n 30 "$PGSTAC_CACHE_DIR/migrate.log" >&2
      fail_pg "pypgstac migrate failed (full output: $PGSTAC_CACHE_DIR/migrate.log)"
    fi
    have="$(psql_admin -d "$PGSTAC_DB" -tA -c 'SELECT pgstac.get_version()')"
    [ "$have" = "$want" ] || svc_die "after pypgstac migrate the schema reports pgstac $have, expected $want"
    svc_log "pgstac $have installed in $((SECONDS - t0)) s"
  fi
  # the API's login role reads and writes through pgstac's own roles
  psql_admin -d "$PGSTAC_DB" -c "GRANT pgstac_ingest TO $PGSTAC_DB_USER" >/dev/null 2>&1 ||
    svc_die "could not grant pgstac_ingest to $PGSTAC_DB_USER"
}

# --- the STAC API: stac-fastapi-pgstac under uvicorn ------------------------------------------------------
fail_api() {
  echo "[pgstac] ---- last lines of $PGSTAC_API_LOG ----" >&2
  tail -n 40 "$PGSTAC_API_LOG" >&2 2>/dev/null || true
  svc_die "$1"
}

start_api() {
  local pid t0=$SECONDS
  if ! pid="$(pgstac_api_pid)"; then
    rm -f "$PGSTAC_API_PID_FILE"
    if svc_port_open "$PGSTAC_HOST" "$PGSTAC_API_PORT"; then
      svc_die "port $PGSTAC_HOST:$PGSTAC_API_PORT is taken by something that is not a ready pgstac STAC API; set PGSTAC_API_PORT to a free port"
    fi
    svc_log "starting stac-fastapi-pgstac on $PGSTAC_API_URL (transactions on, log $PGSTAC_API_LOG)"
    : > "$PGSTAC_API_LOG"
    # setsid: its own session, so that the server outlives this shell and the caller's process group; the
    # inner bash records its own pid and then becomes uvicorn, so the pid file names uvicorn. A clean
    # environment (and a working folder without a .env file) so that nothing from the caller leaks in.
    setsid bash -c 'echo $$ > "$0"; cd "$1"; shift; exec "$@"' "$PGSTAC_API_PID_FILE" "$PGSTAC_CACHE_DIR" \
      env -i PATH="/usr/local/bin:/usr/bin:/bin" HOME="${HOME:-/tmp}" LANG=C.UTF-8 \
        PGHOST="$PGSTAC_HOST" PGPORT="$PGSTAC_PG_PORT" PGUSER="$PGSTAC_DB_USER" PGPASSWORD="$PGSTAC_DB_PASSWORD" \
        PGDATABASE="$PGSTAC_DB" DB_MIN_CONN_SIZE=1 DB_MAX_CONN_SIZE=10 \
        ENABLE_TRANSACTIONS_EXTENSIONS=true \
        "$PGSTAC_VENV/bin/uvicorn" stac_fastapi.pgstac.app:create_app --factory \
          --host "$PGSTAC_HOST" --port "$PGSTAC_API_PORT" --workers 1 --timeout-graceful-shutdown 5 \
      < /dev/null >> "$PGSTAC_API_LOG" 2>&1 9>&- &
    for _ in $(seq 50); do [ -s "$PGSTAC_API_PID_FILE" ] && break; sleep 0.1; done
    pid="$(cat "$PGSTAC_API_PID_FILE" 2>/dev/null || true)"
    [ -n "$pid" ] || fail_api "the API process did not start"
  else
    svc_log "API pid $pid is alive but not ready yet; waiting for it"
  fi
  local deadline=$((SECONDS + PGSTAC_START_TIMEOUT))
  until pgstac_api_ready; do
    if ! svc_alive "$pid"; then
      rm -f "$PGSTAC_API_PID_FILE"
      fail_api "the API (pid $pid) exited during startup"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail_api "the API (pid $pid) did not answer GET / with 200 and the transaction conformance class on $PGSTAC_API_URL within $PGSTAC_START_TIMEOUT s (it is left running; bash scripts/pgstac/stop.sh stops it)"
    fi
    sleep 0.2
  done
  svc_log "API up in $((SECONDS - t0)) s (pid $pid)"
}

# --- start --------------------------------------------------------------------------------------------------
pgstac_lock

if pgstac_api_ready; then
  if pid="$(pgstac_api_pid)"; then
    svc_log "already running: the STAC API answers on $PGSTAC_API_URL (pid $pid)"
  else
    svc_log "already running: a STAC API with transactions not started by this script answers on $PGSTAC_API_URL; using it"
  fi
  # The tests also use this checkout's Python tools (pystac-client): make sure they are here too.
  mkdir -p "$PGSTAC_CACHE_DIR"
  install_venv
  exit 0
fi

install_packages
mkdir -p "$PGSTAC_CACHE_DIR"
install_venv
start_postgres
prepare_database
start_api
svc_log "ready: $PGSTAC_API_URL (PostgreSQL $PGSTAC_HOST:$PGSTAC_PG_PORT, database $PGSTAC_DB) in $((SECONDS - T_START)) s"
