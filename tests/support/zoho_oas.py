"""Validate Zoho responses against Zoho's own OpenAPI files (vendored in ``tests/data/zoho-oas``).

``validate_response("record.json", "post", "/crm/v8/{module_api_name}", 201, body)`` raises
:class:`OasMismatch` (an ``AssertionError``) when ``body`` does not fit the schema that the
operation declares for ``status``. ``path`` may be the OAS template or a concrete path
(``/crm/v8/Leads``): the most literal matching template wins.

How the files are read:

- they reference one another by absolute ``raw.githubusercontent.com`` URLs; the registry serves
  those from the local folder (no network);
- OpenAPI 3.0 ``nullable: true`` becomes JSON Schema's ``null`` type;
- ``oneOf`` is read as ``anyOf``: Zoho's branches overlap (no ``required``, no discriminator; e.g.
  every ``{"data": [...]}`` also matches the bare ``API_Exception`` branch), so a literal
  ``oneOf`` would reject every answer, including Zoho's own examples;
- ``format`` is checked (``date-time``, ``date``);
- tightening: objects with a ``data`` property require it, and ``API_Exception`` and
  ``Success_Response`` require their four status keys; otherwise, with everything optional and
  ``anyOf``, any JSON object would pass as a record answer;
- when the operation declares no schema for ``status``: 401, 403, 404, 405, 429 and 5xx (which
  any call can get) are checked against common.json's generic ``API_Exception``; another 4xx
  against the operation's ``400`` if declared; anything else against its ``200`` (Zoho's files
  put the error shapes inside the 200 response and declare 201/207 for few operations); 204 and
  304 must have an empty body.

Errata (:data:`ERRATA`): the few places where the files contradict the live API as documented
in Zoho's documentation and Zoho's published examples; each is narrow and says why.
"""

from __future__ import annotations

import copy
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

BASE_URL = "https://raw.githubusercontent.com/Zohocorp-Pvt-Ltd/crm-oas/refs/heads/main/v8.0/"
_REPO_ROOT = Path(__file__).resolve().parents[2]


class OasMismatch(AssertionError):
    """A response body that the OpenAPI file does not allow."""


def oas_dir() -> Path:
    """``$ZOHO_OAS_DIR``, else the copy vendored in ``tests/data/zoho-oas``."""
    configured = os.environ.get("ZOHO_OAS_DIR")
    folder = Path(configured) if configured else _REPO_ROOT / "tests" / "data" / "zoho-oas"
    if not (folder / "record.json").is_file():
        raise FileNotFoundError(f"Zoho OpenAPI files not found in {folder} (set ZOHO_OAS_DIR)")
    return folder


# (file, JSON pointer, change, reason). "nullable" marks the node nullable; "string" makes it a
# nullable string; "no-pattern" drops its pattern; "require" makes the four keys of Zoho's
# status objects required.
STATUS_KEYS = ["code", "details", "message", "status"]
ERRATA: tuple[tuple[str, str, str, str], ...] = (
    (
        "record.json",
        "/components/schemas/API_Exception",
        "require",
        "tightening: with nothing required any object would pass as an error; every Zoho error "
        "carries code, details, message and status (Zoho documentation)",
    ),
    (
        "record.json",
        "/components/schemas/Success_Response",
        "require",
        "tightening: every per-record success carries code, details, message and status",
    ),
    (
        "users.json",
        "/components/schemas/users/properties/Reporting_To",
        "nullable",
        "the top user reports to nobody: the live API sends null (Zoho's own example)",
    ),
    (
        "users.json",
        "/components/schemas/users/properties/time_zone",
        "string",
        "the live API sends the IANA name as a string, e.g. 'Asia/Kolkata'",
    ),
    (
        "users.json",
        "/components/schemas/users/properties/email",
        "no-pattern",
        "the pattern is derived from one example address ([a-z0-9]{9}@[a-z0-9]{5}.com)",
    ),
    (
        "roles.json",
        "/components/schemas/reporting_to",
        "nullable",
        "the top role (CEO) has reporting_to: null (Zoho documentation)",
    ),
    (
        "record.json",
        "/components/schemas/Info/properties/next_page_token",
        "nullable",
        "null on the last page in the live API",
    ),
    (
        "record.json",
        "/components/schemas/Info/properties/previous_page_token",
        "nullable",
        "null on the first page in the live API",
    ),
    (
        "record.json",
        "/components/schemas/Info/properties/page_token_expiry",
        "nullable",
        "null when no next page token is given",
    ),
    (
        "record.json",
        "/components/schemas/Success_Response/properties/duplicate_field",
        "nullable",
        "an upsert that inserted has no duplicate field: null in the live API",
    ),
    (
        "convert_lead.json",
        "/components/schemas/Successful_Convert/properties/Deals",
        "nullable",
        "null when the conversion created no Deal",
    ),
    (
        "convert_lead.json",
        "/components/schemas/Successful_Convert/properties/Accounts",
        "nullable",
        "null when the conversion created no Account",
    ),
)


def _pointer_parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/") if p]


def _apply_errata(name: str, document: dict[str, Any]) -> None:
    for file, pointer, change, _reason in ERRATA:
        if file != name:
            continue
        node: Any = document
        for part in _pointer_parts(pointer):
            node = node[part]
        if change == "nullable":
            node["nullable"] = True
        elif change == "string":
            node.clear()
            node.update({"type": "string", "nullable": True})
        elif change == "no-pattern":
            node.pop("pattern", None)
        elif change == "require":
            node["required"] = list(STATUS_KEYS)


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema dialect → JSON Schema (nullable, and oneOf read as anyOf)."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {("anyOf" if k == "oneOf" else k): _to_json_schema(v) for k, v in node.items()}
    properties = out.get("properties")
    if isinstance(properties, dict) and "data" in properties and "required" not in out:
        # tightening: a {"data": [...]} wrapper without "data" would match any object
        out["required"] = ["data"]
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def load_document(name: str) -> dict[str, Any]:
    """One OAS file, errata applied and converted to JSON Schema (cached)."""
    raw = json.loads((oas_dir() / name).read_text(encoding="utf-8"))
    _apply_errata(name, raw)
    converted = _to_json_schema(raw)
    assert isinstance(converted, dict)
    return converted


def _retrieve(uri: str) -> Resource[Any]:
    if not uri.startswith(BASE_URL):
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
    return DRAFT202012.create_resource(load_document(uri[len(BASE_URL) :]))


@cache
def _registry() -> Registry[Any]:
    return Registry(retrieve=_retrieve)  # type: ignore[call-arg]


def _find_path(document: dict[str, Any], path: str) -> str:
    paths: dict[str, Any] = document["paths"]
    if path in paths:
        return path
    candidates = []
    for template in paths:
        regex = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(regex, path):
            literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
            candidates.append((literal, template))
    if not candidates:
        raise KeyError(f"no operation path matches {path}")
    return max(candidates)[1]


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


#: Errors that no operation declares because any call can get them (token, URL, throttling,
#: server faults): they are checked against common.json's generic ``API_Exception``.
CROSS_CUTTING = frozenset({401, 403, 404, 405, 429})


def _response_key(responses: dict[str, Any], status: int) -> str | None:
    if str(status) in responses:
        return str(status)
    if "default" in responses:
        return "default"
    if status in CROSS_CUTTING or status >= 500:
        return None
    if status >= 400 and "400" in responses:
        return "400"
    return "200"


def response_schema_ref(file: str, method: str, path: str, status: int) -> str | None:
    """The URI of the response schema (``None`` when the response has no body)."""
    document = load_document(file)
    common = f"{BASE_URL}common.json#/components/schemas/API_Exception"
    try:
        template = _find_path(document, path)
    except KeyError:
        if status in CROSS_CUTTING or status >= 500:
            return common  # e.g. 404 for a URL that no operation has
        raise
    responses: dict[str, Any] = document["paths"][template][method.lower()]["responses"]
    key = _response_key(responses, status)
    if key is None:
        return common
    pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{key}"
    target_file, response = file, responses[key]
    if "$ref" in response:
        ref = str(response["$ref"])
        if ref.startswith(BASE_URL):
            target_file, _, fragment = ref[len(BASE_URL) :].partition("#")
        else:
            fragment = ref.lstrip("#")
        pointer = fragment
        response = load_document(target_file)
        for part in _pointer_parts(fragment):
            response = response[part]
    if "application/json" not in response.get("content", {}):
        return None
    return f"{BASE_URL}{target_file}#{pointer}/content/application~1json/schema"


def validate_response(file: str, method: str, path: str, status: int, body: Any) -> None:
    """Raise :class:`OasMismatch` unless ``body`` fits the operation's schema for ``status``."""
    if status in (204, 304):
        if body not in (None, b"", ""):
            raise OasMismatch(f"{status} must have an empty body, got {body!r}")
        return
    ref = response_schema_ref(file, method, path, status)
    if ref is None:
        raise OasMismatch(f"{method.upper()} {path} declares no JSON body for {status}")
    validator = Draft202012Validator(
        {"$ref": ref}, registry=_registry(), format_checker=FormatChecker()
    )
    errors = list(validator.iter_errors(copy.deepcopy(body)))
    if errors:
        error = best_match(errors)
        where = "/".join(str(p) for p in error.absolute_path)
        raise OasMismatch(f"{method.upper()} {path} {status}: at /{where}: {error.message}")


def oas_file_for(path: str) -> str | None:
    """Which OAS file describes a concrete request path (``None``: not a Zoho CRM path)."""
    if not path.startswith("/crm/v8/"):
        return None
    rest = path[len("/crm/v8/") :]
    if rest == "coql":
        return "coql.json"
    if rest == "users" or rest.startswith("users/"):
        return "users.json"
    if rest.startswith("settings/roles"):
        return "roles.json"
    if rest.startswith("settings/fields"):
        return "fields.json"
    if rest.startswith("settings/business_hours"):
        return "business_hours.json"
    if rest.startswith("settings/modules"):
        return "modules.json"
    if rest == "org":
        return "org.json"
    if rest == "actions/watch":
        return "notifications.json"
    if re.fullmatch(r"Leads/[^/]+/actions/convert", rest):
        return "convert_lead.json"
    return "record.json"


def check_response(response: httpx.Response) -> None:
    """Validate an already-read ``httpx.Response`` of a Zoho CRM call (others are ignored)."""
    path = response.request.url.path
    file = oas_file_for(path)
    if file is None:
        return
    body = response.json() if response.content else None
    validate_response(file, response.request.method, path, response.status_code, body)


async def validating_hook(response: httpx.Response) -> None:
    """``httpx.AsyncClient(event_hooks={"response": [validating_hook]})``: check every answer."""
    await response.aread()
    check_response(response)
