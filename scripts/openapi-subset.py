#!/usr/bin/env python3
"""Regenerates fixtures/external/github-openapi/api.github.com.subset.json: the operations the
App and the Action call, cut out of GitHub's official REST description with every component
they reference. Usage:
    scripts/openapi-subset.py ../shared/fixtures-external/github-openapi/api.github.com.json
"""
import json
import re
import sys
from pathlib import Path

OPERATIONS = [
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("get", "/repos/{owner}/{repo}/compare/{basehead}"),
    ("get", "/app"),
    ("get", "/repos/{owner}/{repo}/installation"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    # issue 7: the deploy job
    ("get", "/repos/{owner}/{repo}/tarball/{ref}"),
    ("get", "/orgs/{org}/teams/{team_slug}/memberships/{username}"),
    # issue 15: a commit's configuration from its tree and blobs
    ("get", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("get", "/repos/{owner}/{repo}/git/blobs/{file_sha}"),
    # issue 16: deliveries missed while the App was down are redelivered
    ("get", "/app/hook/deliveries"),
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
    # ... and open pull requests whose head has no plan get one
    ("get", "/repos/{owner}/{repo}/pulls"),
    # issue 19: `fleet app create` (the App-manifest flow)
    ("post", "/app-manifests/{code}/conversions"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    # issue 17: builds on GitHub's runners (dispatch the workflow, follow its run)
    ("post", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
]


def refs(value, found):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "$ref" and isinstance(v, str):
                found.add(v)
            else:
                refs(v, found)
    elif isinstance(value, list):
        for v in value:
            refs(v, found)


def main():
    full = json.loads(Path(sys.argv[1]).read_text())
    out = {k: v for k, v in full.items() if k not in ("paths", "components", "x-webhooks", "tags")}
    paths = {}
    for method, path in OPERATIONS:
        item = full["paths"][path]
        kept = paths.setdefault(path, {k: v for k, v in item.items() if k not in ("get", "post", "put", "patch", "delete", "head", "options")})
        kept[method] = item[method]
    out["paths"] = paths
    components = {}
    todo = set()
    refs(paths, todo)
    done = set()
    while todo:
        ref = todo.pop()
        if ref in done:
            continue
        done.add(ref)
        m = re.fullmatch(r"#/components/([^/]+)/(.+)", ref)
        if not m:
            raise SystemExit(f"unexpected $ref {ref}")
        kind, name = m.groups()
        value = full["components"][kind][name]
        components.setdefault(kind, {})[name] = value
        refs(value, todo)
    out["components"] = {k: dict(sorted(v.items())) for k, v in sorted(components.items())}
    used_tags = {t for item in paths.values() for op in item.values() if isinstance(op, dict) for t in op.get("tags", [])}
    out["tags"] = [t for t in full.get("tags", []) if t["name"] in used_tags]
    dest = Path(__file__).resolve().parent.parent / "fixtures/external/github-openapi/api.github.com.subset.json"
    dest.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"{dest}: {len(OPERATIONS)} operations, {sum(len(v) for v in components.values())} components")


if __name__ == "__main__":
    main()
