#!/usr/bin/env bash
# Screenshots of the web portal for the README, taken from the running
# system: starts `portal-dev up` on a free port, signs headless Chromium in
# through a `?token=` address (the portal redirects it to the same page
# without the token and a session cookie), saves docs/portal-*.png, stops.
# Run by hand when the pages change; tests never write tracked files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out="$(mktemp -d)"
trap 'kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
cargo build -q -p portal-infra --bin portal-dev
target/debug/portal-dev up --port 0 >"$out/up.txt" 2>"$out/up.err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q '^ADMIN_SIGN_IN_URL=' "$out/up.txt" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$out/up.err" >&2; exit 1; }
  sleep 1
done
base="$(sed -n 's/^LISTENING=//p' "$out/up.txt")"
token="$(sed -n 's/^ADMIN_TOKEN=//p' "$out/up.txt")"
[[ -n "$base" && -n "$token" ]] || { echo "portal-dev did not come up" >&2; exit 1; }

shot() { # name, path ending in ? or & (the token is appended)
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --hide-scrollbars --window-size=1200,1500 --screenshot="docs/portal-$1.png" \
    "$base$2token=$token" 2>/dev/null
  echo "docs/portal-$1.png"
}
shot home "/?"
shot report "/reports/leaderboard?sort=-npcu&"
shot sync "/admin/sync?"
