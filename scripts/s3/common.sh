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
SVC_NAME=s3
# shellcheck source=../lib/service.sh
source "$S3_SCRIPTS_DIR/../lib/service.sh"

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

# Serialises start.sh and stop.sh for one port.
s3_lock() { svc_lock "$S3_LOCK_FILE" 180 "the S3 server on port $S3_PORT"; }

# Prints the pid in the pid file when that process is alive and is a JVM running org.gaul.s3proxy.Main.
s3_running_pid() { svc_pid_from "$S3_PID_FILE" 'org\.gaul\.s3proxy\.Main'; }

# Succeeds when an S3 endpoint answers on the port: GET / returns an S3 answer (a bucket list, or an
# S3 XML error such as AccessDenied for an anonymous request) with an x-amz-request-id header.
s3_answers() {
  command -v curl >/dev/null || { svc_port_open "$S3_HOST" "$S3_PORT"; return; }
  curl -s -m 3 -o /dev/null -D - "$S3_ENDPOINT/" 2>/dev/null | grep -qi '^x-amz-request-id:'
}
