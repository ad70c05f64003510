#!/usr/bin/env bash
# Stops the Kafka broker that scripts/kafka/start.sh started on KAFKA_PORT (default 9092): SIGTERM
# (the broker shuts down cleanly), then SIGKILL if it is still alive after KAFKA_STOP_TIMEOUT seconds
# (default 30), and removes the pid file. Topic data in the data folder is kept. Does nothing (exit 0)
# when no broker of ours runs on that port; a broker started some other way is left alone.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

kafka_lock

if ! pid="$(kafka_running_pid)"; then
  rm -f "$KAFKA_PID_FILE"
  if svc_port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    svc_log "no broker started by scripts/kafka/start.sh on port $KAFKA_PORT, but something listens there; leaving it alone"
  else
    svc_log "no broker running on port $KAFKA_PORT"
  fi
  exit 0
fi

svc_log "stopping the broker on port $KAFKA_PORT (pid $pid)"
svc_stop_pid "$pid" "$KAFKA_STOP_TIMEOUT"
rm -f "$KAFKA_PID_FILE"
svc_log "stopped"
