#!/usr/bin/env python3
"""check_schema.py SCHEMA FILE [--yaml]: FILE (JSON, or YAML with --yaml) against a JSON Schema of
schemas/ (the draft-07 subset they use: type, const, enum, minimum, pattern, required, properties,
additionalProperties: false, items). Prints every problem and exits 1 when there is one."""
import json
import re
import sys

schema = json.load(open(sys.argv[1]))
if "--yaml" in sys.argv[3:]:
    import yaml
    value = yaml.safe_load(open(sys.argv[2]))
else:
    value = json.load(open(sys.argv[2]))
problems = []
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def check(node, value, where):
    t = node.get("type")
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{where}: expected an integer, got {value!r}")
            return
    elif t in TYPES and (not isinstance(value, TYPES[t]) or (t != "boolean" and isinstance(value, bool))):
        problems.append(f"{where}: expected {t}, got {value!r}")
        return
    if "const" in node and value != node["const"]:
        problems.append(f"{where}: expected {node['const']!r}, got {value!r}")
    if "enum" in node and value not in node["enum"]:
        problems.append(f"{where}: {value!r} not in {node['enum']}")
    if "minimum" in node and isinstance(value, int) and value < node["minimum"]:
        problems.append(f"{where}: {value} < {node['minimum']}")
    if "pattern" in node and isinstance(value, str) and not re.search(node["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {node['pattern']}")
    if isinstance(value, dict):
        for key in node.get("required", []):
            if key not in value:
                problems.append(f"{where}: missing required key {key}")
        properties = node.get("properties", {})
        for key, child in value.items():
            if key in properties:
                check(properties[key], child, f"{where}.{key}")
            elif node.get("additionalProperties") is False:
                problems.append(f"{where}: unexpected key {key}")
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            check(node["items"], item, f"{where}[{i}]")


check(schema, value, "$")
for problem in problems:
    print(f"{sys.argv[2]}: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
