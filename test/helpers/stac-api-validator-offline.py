"""Runs stac-api-validator with the official STAC JSON Schemas read from the offline copy.

stac-api-validator (through stac-validator and stac-check) downloads every schema it validates
against with `requests.get`. The test machines have no internet, so this wrapper answers those
downloads from the offline schema folder (../shared/schemas, or $SHARPSTREAM_SCHEMAS, laid out by
URL; see its README) and passes every other request -- those to the API under test -- through
unchanged. Arguments are stac-api-validator's own.
"""
import json
import os
import sys

import requests

SCHEMAS = os.environ.get("SHARPSTREAM_SCHEMAS") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "schemas")
with open(os.path.join(SCHEMAS, "index.json")) as f:
    _index = json.load(f)
_by_url = dict(_index.get("schemas", {}))
_by_url.update(_index.get("ids", {}))

_real_get = requests.get


def _local_path(url):
    if not isinstance(url, str):
        return None
    u = url.split("#")[0]
    for candidate in (u, u.replace("http://", "https://", 1), u.rstrip("/")):
        rel = _by_url.get(candidate)
        if rel:
            return os.path.join(SCHEMAS, rel)
    return None


def _offline_get(url, *args, **kwargs):
    path = _local_path(url)
    if path is None:
        return _real_get(url, *args, **kwargs)
    resp = requests.models.Response()
    resp.status_code = 200
    resp.url = url
    resp.headers["Content-Type"] = "application/schema+json"
    with open(path, "rb") as f:
        resp._content = f.read()
    return resp


requests.get = _offline_get

from stac_api_validator.__main__ import main  # noqa: E402

sys.exit(main())
