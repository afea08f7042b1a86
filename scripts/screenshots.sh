#!/usr/bin/env bash
# Pictures for the README, taken from the running system; run by hand when
# the pages change (tests never write tracked files by themselves):
# - docs/dashboard.png: the partner dashboard, from its end-to-end test,
#   which renders the page in headless Chromium (asked to save it there);
# - docs/forecast-chart.png: the dashboard's NPCU chart, likewise
#   (tests/tests/web_forecast.rs);
# - docs/portal-*.png: the web portal, from `portal-dev up` on a free port,
#   headless Chromium signed in through a `?token=` address (the portal
#   redirects it to the same page without the token and a session cookie).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

PORTAL_SCREENSHOT_OUT="$repo_root/docs/dashboard.png" \
  scripts/test.sh -p portal-e2e --test reports_dashboard
echo "docs/dashboard.png"
PORTAL_CHART_SCREENSHOT_OUT="$repo_root/docs/forecast-chart.png" \
  scripts/test.sh -p portal-e2e --test web_forecast
echo "docs/forecast-chart.png"

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
