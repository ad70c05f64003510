#!/usr/bin/env bash
# Stops the S3 server that scripts/s3/start.sh started on S3_PORT (default 9000): SIGTERM, then SIGKILL
# if it is still alive after S3_STOP_TIMEOUT seconds (default 20), and removes the pid file. Buckets in
# the data folder are kept. Does nothing (exit 0) when no server of ours runs on that port; a server
# started some other way is left alone. Settings: see scripts/s3/common.sh.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

s3_lock

if ! pid="$(s3_running_pid)"; then
  rm -f "$S3_PID_FILE"
  if svc_port_open "$S3_HOST" "$S3_PORT"; then
    svc_log "no server started by scripts/s3/start.sh on port $S3_PORT, but something listens there; leaving it alone"
  else
    svc_log "no S3 server running on port $S3_PORT"
  fi
  exit 0
fi

svc_log "stopping the S3 server on port $S3_PORT (pid $pid)"
svc_stop_pid "$pid" "$S3_STOP_TIMEOUT"
rm -f "$S3_PID_FILE"
svc_log "stopped"
