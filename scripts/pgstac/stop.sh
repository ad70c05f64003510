#!/usr/bin/env bash
# Stops what scripts/pgstac/start.sh started: the STAC API (uvicorn: SIGTERM, then SIGKILL if it is
# still alive after PGSTAC_STOP_TIMEOUT seconds, default 30) and then the PostgreSQL cluster in
# .cache/pgstac/pg-<port> (pg_ctl stop -m fast: open sessions are ended, the cluster shuts down cleanly).
# The catalogue's data is kept. Does nothing (exit 0) for parts that are not running; an API or a
# PostgreSQL started some other way is left alone. Settings: see scripts/pgstac/common.sh.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

pgstac_lock

# --- the API --------------------------------------------------------------------------------------------
if pid="$(pgstac_api_pid)"; then
  svc_log "stopping the STAC API on port $PGSTAC_API_PORT (pid $pid)"
  svc_stop_pid "$pid" "$PGSTAC_STOP_TIMEOUT"
  rm -f "$PGSTAC_API_PID_FILE"
else
  rm -f "$PGSTAC_API_PID_FILE"
  if svc_port_open "$PGSTAC_HOST" "$PGSTAC_API_PORT"; then
    svc_log "no API started by scripts/pgstac/start.sh on port $PGSTAC_API_PORT, but something listens there; leaving it alone"
  else
    svc_log "no API running on port $PGSTAC_API_PORT"
  fi
fi

# --- PostgreSQL -----------------------------------------------------------------------------------------
if pgstac_pg_running; then
  svc_log "stopping PostgreSQL on port $PGSTAC_PG_PORT ($PGSTAC_PGDATA)"
  if ! pgstac_as_postgres "$PGSTAC_PG_BIN/pg_ctl" -D "$PGSTAC_PGDATA" -m fast -w -t "$PGSTAC_STOP_TIMEOUT" stop >/dev/null 2>&1 9>&-; then
    svc_log "no clean shutdown within $PGSTAC_STOP_TIMEOUT s; stopping it immediately"
    pgstac_as_postgres "$PGSTAC_PG_BIN/pg_ctl" -D "$PGSTAC_PGDATA" -m immediate -w -t "$PGSTAC_STOP_TIMEOUT" stop >/dev/null 2>&1 9>&- ||
      svc_die "PostgreSQL in $PGSTAC_PGDATA did not stop (see $PGSTAC_PG_LOG)"
  fi
else
  svc_log "no PostgreSQL of ours running on port $PGSTAC_PG_PORT"
fi
svc_log "stopped"
