#!/usr/bin/env bash
# Cross-build the three Lambda bootstraps for arm64 (provided.al2023) with
# cargo-lambda + zig from PyPI, print each bootstrap's size and fail if any is
# over the limit.
#
# Output: <target>/lambda/<bin>/bootstrap and <target>/lambda-sizes.txt
#         (<target> = the workspace target dir, /work/main/target by default).
# Env:    LAMBDA_MAX_BYTES (default 16 MiB = 16777216)
#
# The cap is our bloat guard, not AWS's limit (a zip package may be 50 MB, 250 MB
# unpacked). It was 10 MiB until the web portal's templates, S3 offload and
# XLSX writer took `reports` to 10.08 MiB at opt-level "z" (from 11.13 MiB at
# "s"); 16 MiB keeps a margin for the portal pages still to come while
# catching a dependency that doubles a binary.
#
# Release-profile only; one cargo invocation for all three binaries so the
# shared dependency tree (AWS SDK, tokio, ...) is compiled once.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

max_bytes="${LAMBDA_MAX_BYTES:-16777216}"
# package:binary pairs; the binary names are what template.yaml's
# BuildProperties.Binary refer to.
functions=(portal-sync:sync portal-reports:reports portal-reminders:reminders)

tools_bin="$(bash scripts/tools-venv.sh lambda)"
# cargo-lambda locates zig through the first python3 on PATH, so the venv
# holding both must come first.
export PATH="$tools_bin:$PATH"

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

target_dir="$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

args=()
for f in "${functions[@]}"; do
  args+=(--package "${f%%:*}" --bin "${f##*:}")
done

start=$(date +%s)
cargo lambda build --release --arm64 --locked "${args[@]}"
elapsed=$(($(date +%s) - start))

sizes_file="$target_dir/lambda-sizes.txt"
tmp="$sizes_file.tmp"
: >"$tmp"
status=0
for f in "${functions[@]}"; do
  bin="${f##*:}"
  bootstrap="$target_dir/lambda/$bin/bootstrap"
  if [[ ! -f "$bootstrap" ]]; then
    echo "lambda-build: missing $bootstrap" >&2
    status=1
    continue
  fi
  bytes=$(stat -c %s "$bootstrap")
  mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
  verdict=ok
  if ((bytes > max_bytes)); then
    verdict="TOO LARGE (limit $max_bytes bytes)"
    status=1
  fi
  printf '%-10s %10d bytes %7s MB  %s\n' "$bin" "$bytes" "$mib" "$verdict" | tee -a "$tmp"
done
mv "$tmp" "$sizes_file"
echo "lambda-build: arm64 release build took ${elapsed}s; sizes in $sizes_file"
exit "$status"
