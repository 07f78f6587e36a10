#!/usr/bin/python3
"""Checks JSON documents against the schemas of `--json` outputs (docs/json/*.schema.json), with
Debian's python3-jsonschema; references between the schemas resolve through their $id.
Usage: check-json-schema.py SCHEMA_DIR SCHEMA_NAME DOCUMENT [SCHEMA_NAME DOCUMENT ...]
Prints one line per document; exits 1 when one does not conform, 2 on bad usage."""
import glob
import json
import os
import sys
import warnings

import jsonschema

warnings.simplefilter("ignore", DeprecationWarning)
if len(sys.argv) < 4 or len(sys.argv) % 2 != 0:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
directory = sys.argv[1]
schemas = {}
for path in glob.glob(os.path.join(directory, "*.schema.json")):
    with open(path, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    schemas[os.path.basename(path)[: -len(".schema.json")]] = schema
store = {schema["$id"]: schema for schema in schemas.values()}
failed = False
pairs = sys.argv[2:]
for name, document in zip(pairs[0::2], pairs[1::2]):
    schema = schemas[name]
    with open(document, encoding="utf-8") as handle:
        instance = json.load(handle)
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    validator = jsonschema.validators.validator_for(schema)(schema, resolver=resolver)
    errors = sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))
    if errors:
        failed = True
        for error in errors[:5]:
            print("FAIL %s (%s): at %s: %s" % (os.path.basename(document), name, "/".join(map(str, error.absolute_path)) or "top", error.message))
    else:
        print("ok %s (%s)" % (os.path.basename(document), name))
sys.exit(1 if failed else 0)
