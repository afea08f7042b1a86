"""Fail when the SAM template, once transformed, has a dependency cycle.

Neither cfn-lint nor `sam validate --lint` reports a cycle that only appears
after the SAM transform (e.g. a function's environment referencing the
HttpApi whose generated OpenAPI body references that function), yet
CloudFormation rejects such a stack at deploy time. This runs the same
transform offline (samtranslator, installed with cfn-lint) and walks
Ref / Fn::GetAtt / Fn::Sub / DependsOn edges.

Usage: python template-cycles.py template.yaml
"""

import json
import os
import re
import sys

from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform


class _PolicyLoader:
    """Offline stand-in: the transform only needs names of managed policies."""

    def load(self):
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        }


def _refs(node):
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    found.add(name.split(".")[0])
                if not isinstance(value, str):
                    found |= _refs(value[1])
            elif key == "DependsOn":
                found |= set([value] if isinstance(value, str) else value)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def main(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as f:
        template, errors = decode_str(f.read())
    if errors:
        for e in errors:
            print(f"template-cycles: {e}", file=sys.stderr)
        return 1
    template = json.loads(json.dumps(template, default=str))
    # The transform insists on S3 code locations; `sam build` rewrites local
    # CodeUri paths the same way before deploying.
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://bucket/key"
    out = transform(template, {}, _PolicyLoader())
    resources = out["Resources"]
    graph = {name: _refs(body) & set(resources) for name, body in resources.items()}

    cycles = []
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    sys.setrecursionlimit(10000)
    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    for cycle in cycles:
        print("template-cycles: dependency cycle: " + " -> ".join(cycle), file=sys.stderr)
    if not cycles:
        print(f"template-cycles: {len(resources)} resources after the SAM transform, no cycle")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
