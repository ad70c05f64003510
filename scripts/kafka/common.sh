# Shared settings of scripts/kafka/start.sh and stop.sh (sourced, not run).
#
# Environment (all optional):
#   KAFKA_PORT             client port of the broker, on KAFKA_HOST            (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port                               (default KAFKA_PORT+1)
#   KAFKA_HOST             address both listeners bind to and advertise        (default 127.0.0.1)
#   KAFKA_CACHE_DIR        the fetched jars                                    (default <repo>/.cache/kafka)
#   KAFKA_RUN_DIR          pid file, logs, generated server.properties, lock   (default $KAFKA_CACHE_DIR)
#   KAFKA_DATA_DIR         the broker's log.dirs (topics and KRaft metadata)   (default $KAFKA_RUN_DIR/data-<port>)
#   KAFKA_HEAP_OPTS        JVM heap                                            (default -Xms128m -Xmx512m)
#   KAFKA_JVM_OPTS         other JVM flags (default: G1 as Kafka's own scripts, plus C1-only JIT,
#                          which starts about 30% faster on a small machine; set it to "" for full JIT)
#   KAFKA_START_TIMEOUT    seconds start.sh waits for readiness                (default 60)
#   KAFKA_STOP_TIMEOUT     seconds stop.sh waits after SIGTERM before SIGKILL  (default 30)

KAFKA_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_REPO_ROOT="$(cd "$KAFKA_SCRIPTS_DIR/../.." && pwd)"
SVC_NAME=kafka
# shellcheck source=../lib/service.sh
source "$KAFKA_SCRIPTS_DIR/../lib/service.sh"

KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
case "$KAFKA_PORT" in
  ''|*[!0-9]*) echo "[kafka] KAFKA_PORT must be a port number, got '$KAFKA_PORT'" >&2; exit 2 ;;
esac
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
case "$KAFKA_CONTROLLER_PORT" in
  ''|*[!0-9]*) echo "[kafka] KAFKA_CONTROLLER_PORT must be a port number, got '$KAFKA_CONTROLLER_PORT'" >&2; exit 2 ;;
esac
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$KAFKA_REPO_ROOT/.cache/kafka}"
KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$KAFKA_CACHE_DIR}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$KAFKA_RUN_DIR/data-$KAFKA_PORT}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:TieredStopAtLevel=1}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

# the pinned broker version is the one in pom.xml
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_SCRIPTS_DIR/pom.xml")"
KAFKA_LIBS="$KAFKA_CACHE_DIR/kafka-$KAFKA_VERSION/libs"

KAFKA_PID_FILE="$KAFKA_RUN_DIR/kafka-$KAFKA_PORT.pid"
KAFKA_LOG_FILE="$KAFKA_RUN_DIR/kafka-$KAFKA_PORT.log"   # the broker's log4j log
KAFKA_OUT_FILE="$KAFKA_RUN_DIR/kafka-$KAFKA_PORT.out"   # the JVM's stdout and stderr
KAFKA_CONFIG_FILE="$KAFKA_RUN_DIR/server-$KAFKA_PORT.properties"
KAFKA_LOCK_FILE="$KAFKA_RUN_DIR/kafka-$KAFKA_PORT.lock"

# Serialises start.sh and stop.sh for one port.
kafka_lock() { svc_lock "$KAFKA_LOCK_FILE" 180 "the broker on port $KAFKA_PORT"; }

# Prints the pid in the pid file when that process is alive and is our JVM running kafka.Kafka.
kafka_running_pid() { svc_pid_from "$KAFKA_PID_FILE" 'kafka\.Kafka'; }
