#!/usr/bin/env bash
# Ensure the build/lint tools live in a project-local virtualenv
# (<repo>/.tools/venv, git-ignored) and print its bin directory.
#
# Deliberately separate from <repo>/.venv (the moto emulator's venv, owned by
# infra/scripts/emulator-venv.sh) so a lambda build and the test suite can
# install at the same time without racing on one venv.
#
# Usage: scripts/tools-venv.sh GROUP...   GROUP = lambda | lint | sam
#   lambda: cargo-lambda + ziglang (cargo-lambda finds zig through the first
#           python3 on PATH, so both must sit in the same venv)
#   lint:   cfn-lint
#   sam:    aws-sam-cli (optional; only for `sam validate --lint`)
#
# Idempotent: a marker per group and pinned version, written last, means
# "complete"; an flock serialises concurrent installs.
set -euo pipefail

CARGO_LAMBDA_VERSION="${CARGO_LAMBDA_VERSION:-1.9.2}"
ZIGLANG_VERSION="${ZIGLANG_VERSION:-0.17.1}"
CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PORTAL_TOOLS_VENV:-$repo_root/.tools/venv}"
python="${PYTHON:-python3}"

if [[ $# -eq 0 ]]; then
  echo "usage: $0 lambda|lint|sam ..." >&2
  exit 2
fi

specs_for() {
  case "$1" in
    lambda) echo "cargo-lambda==$CARGO_LAMBDA_VERSION ziglang==$ZIGLANG_VERSION" ;;
    lint) echo "cfn-lint==$CFN_LINT_VERSION" ;;
    sam) echo "aws-sam-cli==$SAM_CLI_VERSION" ;;
    *) echo "tools-venv: unknown group '$1' (lambda|lint|sam)" >&2; return 2 ;;
  esac
}

marker_for() {
  # The marker name carries the pinned versions, so bumping a pin reinstalls.
  local specs
  specs="$(specs_for "$1")"
  echo "$venv/.ok-$1-${specs// /_}"
}

missing=()
for group in "$@"; do
  specs_for "$group" >/dev/null
  [[ -f "$(marker_for "$group")" ]] || missing+=("$group")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  mkdir -p "$(dirname "$venv")"
  exec 8>"$venv.lock"
  flock 8
  for group in "${missing[@]}"; do
    marker="$(marker_for "$group")"
    # Another process may have finished this group while we waited.
    [[ -f "$marker" ]] && continue
    if [[ ! -x "$venv/bin/python" ]]; then
      "$python" -m venv "$venv"
    fi
    read -r -a specs <<<"$(specs_for "$group")"
    echo "tools-venv: installing ${specs[*]} into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${specs[@]}" >&2
    touch "$marker"
  done
fi

echo "$venv/bin"
