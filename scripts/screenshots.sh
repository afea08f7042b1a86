#!/usr/bin/env bash
# Regenerates the README's picture of the partner dashboard (docs/dashboard.png)
# from the dashboard end-to-end test, which renders the page in headless
# Chromium. Tests never write tracked files by themselves; this script asks
# the test to put its screenshot there.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

PORTAL_SCREENSHOT_OUT="$repo_root/docs/dashboard.png" \
  scripts/test.sh -p portal-e2e --test reports_dashboard
echo "wrote docs/dashboard.png"
