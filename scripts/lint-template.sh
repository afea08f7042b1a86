#!/usr/bin/env bash
# Lint template.yaml offline:
#   1. cfn-lint (exit 0 required),
#   2. a dependency-cycle check on the SAM-transformed template
#      (scripts/template-cycles.py; cfn-lint does not see post-transform
#      cycles, CloudFormation rejects them at deploy time),
#   3. `sam validate --lint` (aws-sam-cli from PyPI; runs with no network and
#      no credentials). Set PORTAL_SKIP_SAM=1 to skip it (it is the biggest
#      install of the three, ~35 s).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

groups=(lint)
[[ "${PORTAL_SKIP_SAM:-0}" == 1 ]] || groups+=(sam)
tools_bin="$(bash scripts/tools-venv.sh "${groups[@]}")"

echo "lint-template: cfn-lint $("$tools_bin/cfn-lint" --version | awk '{print $2}')"
"$tools_bin/cfn-lint" template.yaml
echo "lint-template: cfn-lint clean"

"$tools_bin/python" scripts/template-cycles.py template.yaml

if [[ "${PORTAL_SKIP_SAM:-0}" != 1 ]]; then
  # No telemetry (no network here); a region is all validate needs offline.
  SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
    "$tools_bin/sam" validate --lint --template-file template.yaml </dev/null
fi
