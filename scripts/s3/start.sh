#!/usr/bin/env bash
# Starts an S3-compatible object store for tests and local use: S3Proxy over a filesystem blob store,
# on 127.0.0.1:9000, in the background, and returns once it answers S3 requests. Prints the endpoint.
#
#   bash scripts/s3/start.sh            # or: S3_PORT=19000 bash scripts/s3/start.sh
#   bash scripts/s3/stop.sh
#
# Clients sign requests with the test credential S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY (default
# sharpstream / sharpstream-secret), path-style, any region; objects stored with the public-read ACL
# are readable anonymously (GET with Range, as GDAL's /vsicurl/ and geotiff.js read COGs). S3_AUTH=none
# turns authentication off.
#
# The first run fetches the server's jars (S3Proxy version pinned in scripts/s3/pom.xml) from Maven
# Central with Maven into .cache/s3/s3proxy-<version>/libs (installing maven and a JRE with apt-get
# when missing); later runs start from that cache without network, in a few seconds. Buckets live in
# .cache/s3/data-<port> (or $S3_DATA_DIR) and survive restarts; delete it for an empty store.
# Pid file and log: .cache/s3/s3proxy-<port>.{pid,log}. Idempotent: if our server already runs on the
# port it says so and exits 0. Settings: see scripts/s3/common.sh.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

svc_require_java 17 "S3Proxy $S3PROXY_VERSION"

# --- the server's jars, from Maven Central, cached ----------------------------------------------------
fetch_jars() {
  svc_fetch_maven_jars "$S3_SCRIPTS_DIR/pom.xml" "$S3_CACHE_DIR" "$S3_LIBS" "s3proxy-$S3PROXY_VERSION.jar" "S3Proxy $S3PROXY_VERSION"
}

fail_start() {
  echo "[s3] ---- last lines of $S3_LOG_FILE ----" >&2
  tail -n 30 "$S3_LOG_FILE" >&2 2>/dev/null || true
  svc_die "$1"
}

# --- start ----------------------------------------------------------------------------------------------
s3_lock

if pid="$(s3_running_pid)"; then
  if s3_answers; then
    svc_log "an S3 server is already running on $S3_ENDPOINT (pid $pid)"
    echo "$S3_ENDPOINT"
    exit 0
  fi
  svc_log "server pid $pid is alive but not answering yet; waiting for it"
else
  rm -f "$S3_PID_FILE"
  if svc_port_open "$S3_HOST" "$S3_PORT"; then
    if s3_answers; then
      svc_log "an S3 server not started by this script already answers on $S3_ENDPOINT; using it"
      echo "$S3_ENDPOINT"
      exit 0
    fi
    svc_die "port $S3_HOST:$S3_PORT is taken by something that is not an S3 server; set S3_PORT to another port"
  fi

  fetch_jars
  t0=$SECONDS
  mkdir -p "$S3_DATA_DIR"
  umask 077
  cat > "$S3_CONFIG_FILE" <<CONF
# written by scripts/s3/start.sh: S3Proxy over a filesystem blob store, for tests and local use
s3proxy.endpoint=$S3_ENDPOINT
s3proxy.authorization=$S3_AUTH
s3proxy.identity=$S3_ACCESS_KEY_ID
s3proxy.credential=$S3_SECRET_ACCESS_KEY
s3proxy.cors-allow-all=true
s3proxy.ignore-unknown-headers=true
jclouds.provider=filesystem-nio2
jclouds.identity=$S3_ACCESS_KEY_ID
jclouds.credential=$S3_SECRET_ACCESS_KEY
jclouds.filesystem.basedir=$S3_DATA_DIR
CONF
  umask 022

  svc_log "starting S3Proxy $S3PROXY_VERSION on $S3_ENDPOINT (auth $S3_AUTH, data $S3_DATA_DIR, log $S3_LOG_FILE)"
  # setsid: its own session, so that the server outlives this shell and the caller's process group;
  # the inner bash records its own pid, then becomes the JVM (exec), so the pid file names the JVM.
  # shellcheck disable=SC2086 # the *_OPTS are lists of JVM flags
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$S3_PID_FILE" \
    java $S3_HEAP_OPTS $S3_JVM_OPTS -Djava.awt.headless=true \
      -Dlogback.configurationFile="$S3_SCRIPTS_DIR/logback.xml" \
      -cp "$S3_LIBS/*" org.gaul.s3proxy.Main --properties "$S3_CONFIG_FILE" \
    < /dev/null > "$S3_LOG_FILE" 2>&1 8>&- 9>&- &
  for _ in $(seq 50); do [ -s "$S3_PID_FILE" ] && break; sleep 0.1; done
  pid="$(cat "$S3_PID_FILE" 2>/dev/null || true)"
  [ -n "$pid" ] || fail_start "the server process did not start"
fi

deadline=$((SECONDS + S3_START_TIMEOUT))
until s3_answers; do
  if ! svc_alive "$pid"; then
    rm -f "$S3_PID_FILE"
    fail_start "the server (pid $pid) exited during startup"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    fail_start "the server (pid $pid) did not answer on $S3_ENDPOINT within $S3_START_TIMEOUT s (it is left running; bash scripts/s3/stop.sh stops it)"
  fi
  sleep 0.3
done
svc_log "ready on $S3_ENDPOINT (pid $pid) in $((SECONDS - ${t0:-$SECONDS})) s"
echo "$S3_ENDPOINT"
