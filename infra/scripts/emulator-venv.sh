#!/usr/bin/env bash
# Ensure a project-local virtualenv (<repo>/.venv, git-ignored) holds the
# pinned moto server that stands in for DynamoDB and SES locally.
#
# Idempotent and quiet when everything is already there; safe to run from
# many test binaries at once: an flock serialises the install, and a marker
# file (written last) means "complete", so a half-finished install left by a
# killed run is redone instead of trusted.
#
# Prints nothing on success except when it actually installs (to stderr).
# Env: MOTO_VERSION (default 5.2.5), PORTAL_VENV (default <repo>/.venv),
#      PYTHON (default python3).
set -euo pipefail

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${PORTAL_VENV:-$repo_root/.venv}"
python="${PYTHON:-python3}"
marker="$venv/.moto-$MOTO_VERSION.ok"

# Fast path without taking the lock: the marker only exists once complete.
if [[ -f "$marker" && -x "$venv/bin/moto_server" ]]; then
  exit 0
fi

# The lock lives inside the (git-ignored) venv directory; `python -m venv`
# is happy to populate a directory that already exists.
mkdir -p "$venv"
lock="$venv/.install.lock"
exec 9>"$lock"
flock 9

# Another process may have finished the install while we waited.
if [[ -f "$marker" && -x "$venv/bin/moto_server" ]]; then
  exit 0
fi

echo "emulator-venv: installing moto[server]==$MOTO_VERSION into $venv" >&2
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "moto[server]==$MOTO_VERSION" >&2
touch "$marker"
echo "emulator-venv: ready" >&2
