#!/usr/bin/env python3
"""Prints infra/env.json, the `--env-vars` file of `sam local`, from the
environment the local stack gives its functions (.local/functions.env).

In a container the stack is at host.docker.internal, not 127.0.0.1: the AWS
endpoints and the database host are rewritten (the database secret names
127.0.0.1, so DATABASE_HOST overrides it as RDS Proxy's endpoint does in AWS).
The token issuer is a name, not an address, and stays as it is. SAM passes a
value only to functions whose template declares the variable.

usage: env-json.py .local/functions.env > infra/env.json
"""

import json
import sys

CONTAINER_HOST = "host.docker.internal"

variables = {}
with open(sys.argv[1]) as env:
    for line in env:
        name, sep, value = line.rstrip("\n").partition("=")
        if not sep or name.startswith("#"):
            continue
        if name.startswith("AWS_ENDPOINT_URL"):
            value = value.replace("127.0.0.1", CONTAINER_HOST)
        variables[name] = value
variables["DATABASE_HOST"] = CONTAINER_HOST
json.dump({"Parameters": variables}, sys.stdout, indent=2, sort_keys=True)
print()
