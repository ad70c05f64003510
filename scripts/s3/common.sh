# Shared settings of scripts/s3/start.sh and stop.sh (sourced, not run).
#
# Environment (all optional):
#   S3_PORT               port of the S3 endpoint, on S3_HOST                    (default 9000)
#   S3_HOST               address it binds to                                     (default 127.0.0.1)
#   S3_CACHE_DIR          the fetched jars                                        (default <repo>/.cache/s3)
#   S3_RUN_DIR            pid file, logs, generated s3proxy.conf, lock            (default $S3_CACHE_DIR)
#   S3_DATA_DIR           the buckets (jclouds filesystem blob store)             (default $S3_RUN_DIR/data-<port>)
#   S3_ACCESS_KEY_ID      the one identity the server accepts                     (default sharpstream)
#   S3_SECRET_ACCESS_KEY  its secret (a test credential, not a secret)            (default sharpstream-secret)
#   S3_AUTH               aws-v2-or-v4 (signed requests; objects with the public-read ACL are readable
#                         anonymously) or none (every request allowed)            (default aws-v2-or-v4)
#   S3_HEAP_OPTS          JVM heap                                                (default -Xms32m -Xmx256m)
#   S3_JVM_OPTS           other JVM flags (default C1-only JIT: starts faster on a small machine)
#   S3_START_TIMEOUT      seconds start.sh waits for readiness                    (default 60)
#   S3_STOP_TIMEOUT       seconds stop.sh waits after SIGTERM before SIGKILL      (default 20)

S3_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
S3_REPO_ROOT="$(cd "$S3_SCRIPTS_DIR/../.." && pwd)"

S3_HOST="${S3_HOST:-127.0.0.1}"
S3_PORT="${S3_PORT:-9000}"
case "$S3_PORT" in
  ''|*[!0-9]*) echo "[s3] S3_PORT must be a port number, got '$S3_PORT'" >&2; exit 2 ;;
esac
S3_CACHE_DIR="${S3_CACHE_DIR:-$S3_REPO_ROOT/.cache/s3}"
S3_RUN_DIR="${S3_RUN_DIR:-$S3_CACHE_DIR}"
S3_DATA_DIR="${S3_DATA_DIR:-$S3_RUN_DIR/data-$S3_PORT}"
S3_ACCESS_KEY_ID="${S3_ACCESS_KEY_ID:-sharpstream}"
S3_SECRET_ACCESS_KEY="${S3_SECRET_ACCESS_KEY:-sharpstream-secret}"
S3_AUTH="${S3_AUTH:-aws-v2-or-v4}"
case "$S3_AUTH" in
  aws-v2-or-v4|aws-v4|aws-v2|none) ;;
  *) echo "[s3] S3_AUTH must be aws-v2-or-v4, aws-v4, aws-v2 or none, got '$S3_AUTH'" >&2; exit 2 ;;
esac
S3_HEAP_OPTS="${S3_HEAP_OPTS:--Xms32m -Xmx256m}"
S3_JVM_OPTS="${S3_JVM_OPTS--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"
S3_START_TIMEOUT="${S3_START_TIMEOUT:-60}"
S3_STOP_TIMEOUT="${S3_STOP_TIMEOUT:-20}"

# the pinned server version is the one in pom.xml
S3PROXY_VERSION="$(sed -n 's:.*<s3proxy.version>\(.*\)</s3proxy.version>.*:\1:p' "$S3_SCRIPTS_DIR/pom.xml")"
S3_LIBS="$S3_CACHE_DIR/s3proxy-$S3PROXY_VERSION/libs"

S3_ENDPOINT="http://$S3_HOST:$S3_PORT"
S3_PID_FILE="$S3_RUN_DIR/s3proxy-$S3_PORT.pid"
S3_LOG_FILE="$S3_RUN_DIR/s3proxy-$S3_PORT.log"     # the JVM's stdout and stderr (logback to the console)
S3_CONFIG_FILE="$S3_RUN_DIR/s3proxy-$S3_PORT.conf"
S3_LOCK_FILE="$S3_RUN_DIR/s3proxy-$S3_PORT.lock"

s3_log() { printf '[s3] %s\n' "$*"; }
s3_die() { printf '[s3] ERROR: %s\n' "$*" >&2; exit 1; }

# Serialises start.sh and stop.sh for one port (parallel test workers may call them at once).
# fd 9 must not leak into the server: start.sh closes it when launching the JVM.
s3_lock() {
  mkdir -p "$S3_RUN_DIR"
  exec 9>"$S3_LOCK_FILE"
  flock -w 180 9 || s3_die "another start/stop of the S3 server on port $S3_PORT holds $S3_LOCK_FILE for over 180 s"
}

# Succeeds while the process lives (a zombie counts as dead).
s3_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]
}

# Prints the pid in the pid file when that process is alive and is our S3Proxy; fails otherwise.
s3_running_pid() {
  local pid
  [ -f "$S3_PID_FILE" ] || return 1
  pid="$(cat "$S3_PID_FILE" 2>/dev/null)"
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  s3_alive "$pid" || return 1
  # guard against a recycled pid: the process must be a JVM running org.gaul.s3proxy.Main
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'org\.gaul\.s3proxy\.Main' || return 1
  echo "$pid"
}

# Succeeds when something accepts TCP connections on host:port.
s3_port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Succeeds when an S3 endpoint answers on the port: GET / returns an S3 answer (a bucket list, or an
# S3 XML error such as AccessDenied for an anonymous request) with an x-amz-request-id header.
s3_answers() {
  command -v curl >/dev/null || { s3_port_open "$S3_HOST" "$S3_PORT"; return; }
  curl -s -m 3 -o /dev/null -D - "$S3_ENDPOINT/" 2>/dev/null | grep -qi '^x-amz-request-id:'
}
