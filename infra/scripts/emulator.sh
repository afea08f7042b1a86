#!/usr/bin/env bash
# Start/stop a moto server (local DynamoDB + SES) for manual runs and CI.
#
#   infra/scripts/emulator.sh start   # prints the endpoint URL on stdout
#   infra/scripts/emulator.sh stop
#   infra/scripts/emulator.sh status
#   infra/scripts/emulator.sh env     # prints `export AWS_...` lines to eval
#
# State (PID, port, log) lives in $EMULATOR_STATE_DIR (default
# <repo>/.venv/emulator) so a later `stop` finds the process by PID, never
# by name. Rust tests do not need this script: they start their own server
# through `portal_infra::emulator::Emulator`.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${PORTAL_VENV:-$repo_root/.venv}"
state="${EMULATOR_STATE_DIR:-$venv/emulator}"
pid_file="$state/moto.pid"
port_file="$state/moto.port"
log_file="$state/moto.log"

running_pid() {
  if [[ -f "$pid_file" ]]; then
    local pid
    pid="$(cat "$pid_file")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      echo "$pid"
      return 0
    fi
  fi
  return 1
}

endpoint() { echo "http://127.0.0.1:$(cat "$port_file")"; }

free_port() {
  # Ask the kernel for a free port; the tiny race until moto binds it is
  # acceptable for a dev script (start fails loudly if it is lost).
  "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cmd_start() {
  if running_pid >/dev/null; then
    endpoint
    return 0
  fi
  bash "$repo_root/infra/scripts/emulator-venv.sh"
  mkdir -p "$state"
  local port
  port="${EMULATOR_PORT:-$(free_port)}"
  # setsid: own process group, so `stop` can end moto and anything it forks.
  setsid "$venv/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto_server_fast.py" -H 127.0.0.1 -p "$port" >"$log_file" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" >"$pid_file"
  echo "$port" >"$port_file"
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 150); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "emulator: moto exited during start-up; log: $log_file" >&2
      tail -n 20 "$log_file" >&2 || true
      rm -f "$pid_file"
      return 1
    fi
    # Python from the venv rather than curl: one less tool to require on CI.
    if "$venv/bin/python" -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
        "$url/moto-api/data.json" 2>/dev/null; then
      echo "$url"
      return 0
    fi
    sleep 0.1
  done
  echo "emulator: moto did not answer on $url within 15 s; log: $log_file" >&2
  kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  rm -f "$pid_file"
  return 1
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pid_file" "$port_file"
}

cmd_status() {
  if pid="$(running_pid)"; then
    echo "running pid=$pid $(endpoint)"
  else
    echo "stopped"
    return 1
  fi
}

cmd_env() {
  running_pid >/dev/null || { echo "emulator: not running" >&2; return 1; }
  cat <<ENV
export AWS_ENDPOINT_URL=$(endpoint)
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
ENV
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
