#!/usr/bin/env bash
# Starts one Apache Kafka broker for tests and local use: a single KRaft node (broker and controller
# in one JVM) on 127.0.0.1:9092, in the background, and returns once it answers metadata requests.
#
#   bash scripts/kafka/start.sh            # or: npm run kafka:start;  KAFKA_PORT=19092 bash scripts/kafka/start.sh
#   bash scripts/kafka/stop.sh             # or: npm run kafka:stop
#
# The first run fetches the broker's jars (Kafka version pinned in scripts/kafka/pom.xml) from Maven
# Central with Maven into .cache/kafka/kafka-<version>/libs (installing maven with apt-get when it is
# missing); later runs start from that cache without network. Topic data lives in
# .cache/kafka/data-<port> (or $KAFKA_DATA_DIR) and survives restarts; delete it for a clean cluster.
# Pid file and logs: .cache/kafka/kafka-<port>.{pid,log,out} (or under $KAFKA_RUN_DIR). Idempotent:
# if a broker already runs on the port it says so and exits 0. Settings: see scripts/kafka/common.sh.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

svc_require_java 11 "Kafka $KAFKA_VERSION"

# --- the broker's jars, from Maven Central, cached ----------------------------------------------------
fetch_jars() {
  svc_fetch_maven_jars "$KAFKA_SCRIPTS_DIR/pom.xml" "$KAFKA_CACHE_DIR" "$KAFKA_LIBS" "kafka_2.13-$KAFKA_VERSION.jar" "Kafka $KAFKA_VERSION"
}

# --- readiness ----------------------------------------------------------------------------------------
# One probe: a metadata round trip through kafkajs (scripts/kafka/ready.mjs). Without node or kafkajs,
# the broker's "started" log line plus a TCP connect stand in.
probe() {
  local rc=0
  if command -v node >/dev/null; then
    node "$KAFKA_SCRIPTS_DIR/ready.mjs" "$KAFKA_HOST:$KAFKA_PORT" 3000 >/dev/null 2>"$KAFKA_RUN_DIR/probe-$KAFKA_PORT.err" || rc=$?
    [ "$rc" != 3 ] && return "$rc"
  fi
  grep -q 'Kafka Server started' "$KAFKA_LOG_FILE" 2>/dev/null && svc_port_open "$KAFKA_HOST" "$KAFKA_PORT"
}

fail_start() {
  echo "[kafka] ---- last lines of $KAFKA_LOG_FILE ----" >&2
  tail -n 30 "$KAFKA_LOG_FILE" >&2 2>/dev/null || true
  echo "[kafka] ---- last lines of $KAFKA_OUT_FILE ----" >&2
  tail -n 15 "$KAFKA_OUT_FILE" >&2 2>/dev/null || true
  if [ -s "$KAFKA_RUN_DIR/probe-$KAFKA_PORT.err" ]; then
    echo "[kafka] ---- last readiness probe ----" >&2
    cat "$KAFKA_RUN_DIR/probe-$KAFKA_PORT.err" >&2
  fi
  svc_die "$1"
}

# --- start ----------------------------------------------------------------------------------------------
kafka_lock

if pid="$(kafka_running_pid)"; then
  if probe; then
    svc_log "a broker is already running on $KAFKA_HOST:$KAFKA_PORT (pid $pid)"
    exit 0
  fi
  svc_log "broker pid $pid is alive but not answering yet; waiting for it"
else
  rm -f "$KAFKA_PID_FILE"
  if svc_port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    if probe; then
      svc_log "a Kafka broker not started by this script already answers on $KAFKA_HOST:$KAFKA_PORT; using it"
      exit 0
    fi
    svc_die "port $KAFKA_HOST:$KAFKA_PORT is taken by something that is not a ready Kafka broker; set KAFKA_PORT to another port"
  fi
  if svc_port_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT"; then
    svc_die "controller port $KAFKA_HOST:$KAFKA_CONTROLLER_PORT is taken; set KAFKA_CONTROLLER_PORT to a free port"
  fi

  fetch_jars
  t0=$SECONDS
  mkdir -p "$KAFKA_DATA_DIR"
  cat > "$KAFKA_CONFIG_FILE" <<EOF
# written by scripts/kafka/start.sh: a single-node KRaft cluster for tests and local use
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA_DIR
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=67108864
EOF

  classpath="$KAFKA_LIBS/*"
  if [ ! -f "$KAFKA_DATA_DIR/meta.properties" ]; then
    # a Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not starting with '-'
    cluster_id=""
    until [ -n "$cluster_id" ] && [ "${cluster_id:0:1}" != "-" ]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    done
    svc_log "formatting KRaft storage in $KAFKA_DATA_DIR (cluster id $cluster_id)"
    if ! java -Xmx256m -Dlog4j.configuration="file:$KAFKA_SCRIPTS_DIR/log4j.properties" \
         -Dkafka.log.file="$KAFKA_RUN_DIR/format-$KAFKA_PORT.log" -cp "$classpath" kafka.tools.StorageTool \
         format -t "$cluster_id" -c "$KAFKA_CONFIG_FILE" --ignore-formatted > "$KAFKA_OUT_FILE" 2>&1; then
      cat "$KAFKA_OUT_FILE" >&2
      svc_die "formatting $KAFKA_DATA_DIR failed"
    fi
  fi

  svc_log "starting Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, data $KAFKA_DATA_DIR, log $KAFKA_LOG_FILE)"
  # setsid: its own session, so that the broker outlives this shell and the caller's process group;
  # the inner bash records its own pid, then becomes the JVM (exec), so the pid file names the JVM.
  # shellcheck disable=SC2086 # the *_OPTS are lists of JVM flags
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$KAFKA_PID_FILE" \
    java $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS -Djava.awt.headless=true \
      -Dlog4j.configuration="file:$KAFKA_SCRIPTS_DIR/log4j.properties" -Dkafka.log.file="$KAFKA_LOG_FILE" \
      -cp "$classpath" kafka.Kafka "$KAFKA_CONFIG_FILE" \
    < /dev/null > "$KAFKA_OUT_FILE" 2>&1 8>&- 9>&- &
  for _ in $(seq 50); do [ -s "$KAFKA_PID_FILE" ] && break; sleep 0.1; done
  pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null || true)"
  [ -n "$pid" ] || fail_start "the broker process did not start"
fi

deadline=$((SECONDS + KAFKA_START_TIMEOUT))
until probe; do
  if ! svc_alive "$pid"; then
    rm -f "$KAFKA_PID_FILE"
    fail_start "the broker (pid $pid) exited during startup"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    fail_start "the broker (pid $pid) did not become ready on $KAFKA_HOST:$KAFKA_PORT within $KAFKA_START_TIMEOUT s (it is left running; bash scripts/kafka/stop.sh stops it)"
  fi
  sleep 0.5
done
svc_log "ready on $KAFKA_HOST:$KAFKA_PORT (pid $pid) in $((SECONDS - ${t0:-$SECONDS})) s"
