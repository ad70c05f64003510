# Helpers shared by the service scripts (scripts/kafka, scripts/pgstac, scripts/s3): sourced, not run.
# A service's common.sh sets SVC_NAME (the prefix of its log lines) and then sources this file.
#
# What they share: log lines, apt-get installs, a lock that serialises start and stop (parallel test
# workers may call them at once), pid files checked against the process's command line (a recycled
# pid is not ours), port probes, stopping with SIGTERM then SIGKILL, and jars fetched from Maven
# Central into a cache.

: "${SVC_NAME:?set SVC_NAME before sourcing scripts/lib/service.sh}"

svc_log() { printf '[%s] %s\n' "$SVC_NAME" "$*"; }
svc_die() { printf '[%s] ERROR: %s\n' "$SVC_NAME" "$*" >&2; exit 1; }

# root runs commands directly; anyone else through sudo
SVC_SUDO=""
if [ "$(id -u)" != 0 ]; then SVC_SUDO="sudo"; fi

# Installs Debian packages, quietly.
svc_apt_install() {
  command -v apt-get >/dev/null || svc_die "$* missing and apt-get is not available: install it by hand"
  svc_log "apt-get install $*"
  $SVC_SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SVC_SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# svc_lock LOCK_FILE SECONDS WHAT: holds LOCK_FILE on fd 9 (released when the script exits). fd 9
# must not leak into the servers: start scripts close it (9>&-) when launching them.
svc_lock() {
  mkdir -p "$(dirname "$1")"
  exec 9>"$1"
  flock -w "$2" 9 || svc_die "another start/stop of $3 holds $1 for over $2 s"
}

# Succeeds while the process lives (a zombie, left where nothing reaps it, counts as dead).
svc_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]
}

# Succeeds when something accepts TCP connections on host:port.
svc_port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# svc_pid_from PID_FILE PATTERN: prints the pid in PID_FILE when that process is alive and its command
# line matches the grep PATTERN (a guard against a recycled pid); fails otherwise.
svc_pid_from() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null)"
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  svc_alive "$pid" || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$2" || return 1
  echo "$pid"
}

# svc_stop_pid PID SECONDS: SIGTERM, then SIGKILL if it still lives after SECONDS; fails if it survives.
svc_stop_pid() {
  local pid="$1" deadline=$((SECONDS + $2))
  kill -TERM "$pid" 2>/dev/null || true
  while svc_alive "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      svc_log "still alive after $2 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 50); do svc_alive "$pid" || break; sleep 0.1; done
      break
    fi
    sleep 0.2
  done
  if svc_alive "$pid"; then svc_die "pid $pid survived SIGKILL"; fi
}

# svc_require_java MAJOR WHAT: a JRE on PATH (openjdk-17 from apt-get when none), at least MAJOR.
svc_require_java() {
  command -v java >/dev/null || svc_apt_install openjdk-17-jre-headless
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
  case "$major" in 1.*|'') major=1 ;; esac
  [ "${major%%.*}" -ge "$1" ] || svc_die "$2 needs Java $1 or later; java on PATH is $major"
}

# svc_fetch_maven_jars POM CACHE_DIR LIBS MAIN_JAR WHAT: the runtime jars of POM's dependencies in LIBS,
# fetched once with Maven (from apt-get when missing) and kept until the POM changes. MAIN_JAR is the
# file whose presence proves the fetch. One fetch at a time per cache.
svc_fetch_maven_jars() {
  local pom="$1" cache="$2" libs="$3" main="$4" what="$5"
  local stamp="$libs/.pom.sha256" want
  want="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  mkdir -p "$cache"
  exec 8>"$cache/fetch.lock"
  flock -w 600 8 || svc_die "another fetch holds $cache/fetch.lock for over 600 s"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exec 8>&-; return 0; fi
  command -v mvn >/dev/null || svc_apt_install maven
  local t0=$SECONDS tmp="$libs.tmp.$$" repo="$cache/m2.$$"
  svc_log "fetching the $what jars from Maven Central into $libs"
  rm -rf "$tmp"
  # a private local repository, deleted afterwards: the libs folder is the cache
  if ! mvn -q -B -f "$pom" -Dmaven.repo.local="$repo" \
       dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
       > "$cache/fetch.log" 2>&1; then
    tail -n 40 "$cache/fetch.log" >&2
    rm -rf "$tmp" "$repo"
    svc_die "could not fetch the $what jars from Maven Central (full output: $cache/fetch.log)"
  fi
  rm -rf "$repo"
  [ -f "$tmp/$main" ] || svc_die "Maven finished but $tmp has no $main"
  echo "$want" > "$tmp/.pom.sha256"
  rm -rf "$libs"
  mkdir -p "$(dirname "$libs")"
  mv "$tmp" "$libs"
  exec 8>&-
  svc_log "fetched $(find "$libs" -name '*.jar' | wc -l) jars ($(du -sh "$libs" | cut -f1)) in $((SECONDS - t0)) s"
}
