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

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_install() {
  command -v apt-get >/dev/null || kafka_die "$* missing and apt-get is not available: install it by hand"
  kafka_log "apt-get install $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Java -------------------------------------------------------------------------------------------
command -v java >/dev/null || apt_install openjdk-17-jre-headless
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
case "$java_major" in
  1.*|[0-9]|10) kafka_die "Kafka $KAFKA_VERSION needs Java 11 or later (17 recommended); java on PATH is $java_major" ;;
esac

# --- the broker's jars, from Maven Central, cached ----------------------------------------------------
fetch_jars() {
  local stamp="$KAFKA_LIBS/.pom.sha256" want
  want="$(sha256sum "$KAFKA_SCRIPTS_DIR/pom.xml" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  # one fetch at a time per cache (brokers on other ports may be starting too)
  mkdir -p "$KAFKA_CACHE_DIR"
  exec 8>"$KAFKA_CACHE_DIR/fetch.lock"
  flock -w 600 8 || kafka_die "another fetch holds $KAFKA_CACHE_DIR/fetch.lock for over 600 s"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exec 8>&-; return 0; fi
  command -v mvn >/dev/null || apt_install maven
  local t0=$SECONDS tmp="$KAFKA_LIBS.tmp.$$" repo="$KAFKA_CACHE_DIR/m2.$$"
  kafka_log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  rm -rf "$tmp"
  # a private local repository, deleted afterwards: the libs folder is the cache
  if ! mvn -q -B -f "$KAFKA_SCRIPTS_DIR/pom.xml" -Dmaven.repo.local="$repo" \
       dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
       > "$KAFKA_CACHE_DIR/fetch.log" 2>&1; then
    tail -n 40 "$KAFKA_CACHE_DIR/fetch.log" >&2
    rm -rf "$tmp" "$repo"
    kafka_die "could not fetch the Kafka jars from Maven Central (full output: $KAFKA_CACHE_DIR/fetch.log)"
  fi
  rm -rf "$repo"
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || kafka_die "Maven finished but $tmp has no kafka_2.13-$KAFKA_VERSION.jar"
  echo "$want" > "$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  exec 8>&-
  kafka_log "fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$KAFKA_LIBS" | cut -f1)) in $((SECONDS - t0)) s"
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
  grep -q 'Kafka Server started' "$KAFKA_LOG_FILE" 2>/dev/null && kafka_port_open "$KAFKA_HOST" "$KAFKA_PORT"
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
  kafka_die "$1"
}

# --- start ----------------------------------------------------------------------------------------------
kafka_lock

if pid="$(kafka_running_pid)"; then
  if probe; then
    kafka_log "a broker is already running on $KAFKA_HOST:$KAFKA_PORT (pid $pid)"
    exit 0
  fi
  kafka_log "broker pid $pid is alive but not answering yet; waiting for it"
else
  rm -f "$KAFKA_PID_FILE"
  if kafka_port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    if probe; then
      kafka_log "a Kafka broker not started by this script already answers on $KAFKA_HOST:$KAFKA_PORT; using it"
      exit 0
    fi
    kafka_die "port $KAFKA_HOST:$KAFKA_PORT is taken by something that is not a ready Kafka broker; set KAFKA_PORT to another port"
  fi
  if kafka_port_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT"; then
    kafka_die "controller port $KAFKA_HOST:$KAFKA_CONTROLLER_PORT is taken; set KAFKA_CONTROLLER_PORT to a free port"
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
    kafka_log "formatting KRaft storage in $KAFKA_DATA_DIR (cluster id $cluster_id)"
    if ! java -Xmx256m -Dlog4j.configuration="file:$KAFKA_SCRIPTS_DIR/log4j.properties" \
         -Dkafka.log.file="$KAFKA_RUN_DIR/format-$KAFKA_PORT.log" -cp "$classpath" kafka.tools.StorageTool \
         format -t "$cluster_id" -c "$KAFKA_CONFIG_FILE" --ignore-formatted > "$KAFKA_OUT_FILE" 2>&1; then
      cat "$KAFKA_OUT_FILE" >&2
      kafka_die "formatting $KAFKA_DATA_DIR failed"
    fi
  fi

  kafka_log "starting Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, data $KAFKA_DATA_DIR, log $KAFKA_LOG_FILE)"
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
  if ! kafka_alive "$pid"; then
    rm -f "$KAFKA_PID_FILE"
    fail_start "the broker (pid $pid) exited during startup"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    fail_start "the broker (pid $pid) did not become ready on $KAFKA_HOST:$KAFKA_PORT within $KAFKA_START_TIMEOUT s (it is left running; bash scripts/kafka/stop.sh stops it)"
  fi
  sleep 0.5
done
kafka_log "ready on $KAFKA_HOST:$KAFKA_PORT (pid $pid) in $((SECONDS - ${t0:-$SECONDS})) s"
