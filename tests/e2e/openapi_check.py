#!/usr/bin/python3
"""openapi_check.py DOC [CAPTURED_DIR]: checks an OpenAPI 3.1 document.

Every example in it validates against the schema beside it (a schema's
own example, a request or reply body's example, a parameter's example).
With CAPTURED_DIR, replies the real server gave validate too: its
index.tsv has a line "METHOD<TAB>PATH<TAB>STATUS<TAB>FILE" per reply (PATH
as `dovetail serve --routes` prints it, "{}" for a parameter), and FILE's
JSON must match the schema the document gives that route and status (a
path it has no route for, the one error shape).

Prints each failure, then "openapi: N checked, M failed"; exits 1 when
any failed. Needs python3-yaml and python3-jsonschema (Debian).
"""
import copy
import json
import os
import sys

import jsonschema
import yaml


def resolve(doc, node):
    """node with every local $ref replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"].startswith("#/"):
            target = doc
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            return resolve(doc, copy.deepcopy(target))
        return {k: resolve(doc, v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(doc, v) for v in node]
    return node


def errors(schema, value):
    v = jsonschema.Draft202012Validator(schema)
    return ["%s at /%s" % (e.message, "/".join(str(p) for p in e.path)) for e in v.iter_errors(value)]


def examples(doc):
    """(where, schema, example) for every example in the document."""
    for name, schema in doc["components"]["schemas"].items():
        if "example" in schema:
            yield "schema " + name, schema, schema["example"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = "%s %s" % (method.upper(), path)
            for p in op.get("parameters", []):
                p = resolve(doc, p)
                if "example" in p:
                    yield "%s parameter %s" % (where, p["name"]), p["schema"], p["example"]
            bodies = [("request", op.get("requestBody", {}))]
            bodies += [("reply " + s, r) for s, r in op.get("responses", {}).items()]
            for what, body in bodies:
                body = resolve(doc, body)
                for ctype, media in body.get("content", {}).items():
                    if "example" in media and "schema" in media:
                        yield "%s %s %s" % (where, what, ctype), media["schema"], media["example"]


def template_of(doc, method, path):
    """The document's path that path (a concrete one, or with "{}") falls
    under: a literal segment wins over a parameter, as the server routes."""
    best = None
    for p, item in doc["paths"].items():
        if method.lower() not in item:
            continue
        want, have = p.strip("/").split("/"), path.strip("/").split("/")
        if len(want) != len(have):
            continue
        if all(w == h or (w.startswith("{") and (h == "{}" or h)) for w, h in zip(want, have)):
            n_params = sum(w.startswith("{") and w != h for w, h in zip(want, have))
            if best is None or n_params < best[0]:
                best = (n_params, p)
    return best[1] if best else None


def reply_schema(doc, method, path, status):
    p = template_of(doc, method, path)
    for p, item in ([(p, doc["paths"][p])] if p else []):
        reply = item[method.lower()].get("responses", {}).get(status)
        if reply is None:
            return None, "status %s is not in the document for %s %s" % (status, method, path)
        media = resolve(doc, reply).get("content", {}).get("application/json")
        if not media or "schema" not in media:
            return None, "%s %s %s has no JSON schema" % (method, path, status)
        return resolve(doc, media["schema"]), None
    return None, "%s %s is not in the document" % (method, path)


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1]) as f:
        doc = yaml.safe_load(f)
    checked = failed = 0
    for where, schema, example in examples(doc):
        checked += 1
        for e in errors(resolve(doc, schema), example):
            failed += 1
            print("FAIL  example of %s: %s" % (where, e))
    if len(sys.argv) == 3:
        with open(os.path.join(sys.argv[2], "index.tsv")) as f:
            for line in f:
                method, path, status, name = line.rstrip("\n").split("\t")
                checked += 1
                if template_of(doc, method, path) is None: # no route: 404 or 405
                    schema, why = resolve(doc, doc["components"]["schemas"]["Error"]), None
                else:
                    schema, why = reply_schema(doc, method, path, status)
                if why:
                    failed += 1
                    print("FAIL  reply %s: %s" % (name, why))
                    continue
                with open(os.path.join(sys.argv[2], name)) as r:
                    body = json.load(r)
                for e in errors(schema, body):
                    failed += 1
                    print("FAIL  reply %s (%s %s %s): %s" % (name, method, path, status, e))
    print("openapi: %d checked, %d failed" % (checked, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
