#!/usr/bin/env bash
# The project's test command (README, .ci/run): every test of the workspace.
#
# Works from a fresh clone: installs the pinned moto server (the local
# DynamoDB/SES stand-in the store and end-to-end tests talk to over HTTP)
# into <repo>/.venv first. Extra arguments go to `cargo test`, e.g.
#   scripts/test.sh -p portal-core
#   scripts/test.sh --test template_schema
#
# Plain `cargo test` rather than nextest on purpose: test binaries share one
# emulator process per binary, and nextest's process-per-test would start one
# per test.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash infra/scripts/emulator-venv.sh

# Property tests: more cases than proptest's 256 when CI runs them (their
# generators are cheap; the rules' whole suite stays well under a minute).
if [[ "${CI:-}" == "true" ]]; then
  export PROPTEST_CASES="${PROPTEST_CASES:-2048}"
fi

if [[ $# -eq 0 ]]; then
  set -- --workspace
fi
# --no-fail-fast: one red test binary must not hide the others in CI.
exec cargo test --locked --no-fail-fast "$@"
