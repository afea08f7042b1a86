#!/usr/bin/env bash
# The one benchmark command (issue 8):
#
#   scripts/bench.sh [--quick] [--only SECTIONS]
#
# Runs every benchmark against the Northpass/Impartner simulators and the
# local AWS emulator (moto), prints the numbers and writes BENCHMARKS.md and
# bench/results/<quick|full>.json.
#
# --quick  small data set and small subsets (a few minutes); reuses
#          target/lambda-sizes.txt when it exists instead of cross-building.
# full     ref data set (the scale of a real program), arm64 Lambda build,
#          criterion run of the report compute benchmarks; takes longer.
# --only   comma-separated sections to measure (enroll, sync, reads, compute,
#          artefacts, cost, history, hooks); the others are kept from the
#          previous bench/results/<mode>.json, marked with the run that
#          measured them. Lambda builds only when artefacts is listed.
#          e.g. scripts/bench.sh --only history,hooks  (ref, no 75-minute run)
#
# Env: BENCH_ARGS  extra arguments for portal-bench run (e.g. --users-at-100 500,
#                  or --only reads,hooks: same as the flag)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

quick=0
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --only) only="${2:?--only needs a list}"; shift ;;
    --only=*) only="${1#--only=}" ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (usage: scripts/bench.sh [--quick] [--only SECTIONS])" >&2; exit 2 ;;
  esac
  shift
done
# --only given through BENCH_ARGS counts the same (it decides the builds).
if [[ -z "$only" && " ${BENCH_ARGS:-} " =~ [[:space:]]--only[=[:space:]]+([^[:space:]]+) ]]; then
  only="${BASH_REMATCH[1]}"
fi
command="scripts/bench.sh$([[ $quick == 1 ]] && echo ' --quick' || true)$([[ -n $only ]] && echo " --only $only" || true)"
# The Lambda builds feed the artefacts section only.
artefacts=1
if [[ -n "$only" && ",$only," != *",artefacts,"* ]]; then
  artefacts=0
fi

# moto for DynamoDB/SES; idempotent and quiet when already installed.
bash infra/scripts/emulator-venv.sh

target_dir="$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
sizes_file="$target_dir/lambda-sizes.txt"

# Lambda artefacts: a full run always rebuilds them (the sizes must belong to
# this tree); a quick run reuses existing sizes to stay fast.
if [[ $artefacts == 0 ]]; then
  provenance="not measured by this run (--only $only)"
elif [[ $quick == 1 && -f "$sizes_file" ]]; then
  provenance="reused from an earlier scripts/lambda-build.sh run (--quick does not rebuild)"
else
  if bash scripts/lambda-build.sh; then
    provenance="built by scripts/lambda-build.sh in this run"
  else
    provenance="scripts/lambda-build.sh in this run reported a failure or an over-size bootstrap"
  fi
fi

# Debug profile on purpose for the orchestrator: the measured paths are
# paced by rate limits and the emulator, not by our CPU, and the debug tree
# is the one the whole team keeps built. The function binaries are built for
# the cold-start measurement under the Runtime API emulator.
cargo build -p portal-bench --bin portal-bench
functions=(-p portal-sync --bin sync -p portal-reports --bin reports -p portal-reminders --bin reminders)
mode_args=()
if [[ $quick == 1 ]]; then
  # Cold start of the debug builds the team keeps built (quick = cheap).
  if [[ $artefacts == 1 ]]; then cargo build "${functions[@]}"; fi
  mode_args+=(--quick --functions-dir "$target_dir/debug")
elif [[ $artefacts == 0 ]]; then
  mode_args+=(--functions-dir "$target_dir/release")
else
  # Cold start of x86-64 release builds: what Lambda runs, minus the arch.
  # Shares its dependency tree with the criterion bench (bench profile).
  cargo build --release "${functions[@]}"
  mode_args+=(--functions-dir "$target_dir/release")
fi
# shellcheck disable=SC2086
if [[ -n "$only" && ! " ${BENCH_ARGS:-} " =~ [[:space:]]--only ]]; then
  mode_args+=(--only "$only")
fi
"$target_dir/debug/portal-bench" run "${mode_args[@]}" \
  --command "$command" \
  --criterion-dir "$target_dir/criterion" \
  --sizes-file "$sizes_file" \
  --sizes-provenance "$provenance" \
  ${BENCH_ARGS:-}
