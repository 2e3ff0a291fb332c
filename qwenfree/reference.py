"""The API reference page (``/docs``): plain rows read back from the OpenAPI document, so the
page and ``/openapi.json`` never disagree, plus a copyable curl request per operation built from
its method, path, auth and example body (``x-examples``, see :mod:`qwenfree.examples`).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

# How a request shows each auth scheme (the first option of an operation's security).
AUTH_HEADERS = {
    "bearer": "Authorization: Bearer $QWEN_TOKEN",
    "admin-key": "Authorization: Bearer $QWENFREE_ADMIN_KEY",
    "x-api-key": "x-api-key: $QWEN_TOKEN",
    "x-goog-api-key": "x-goog-api-key: $QWEN_TOKEN",
}
# Chinese names of the auth schemes, for the page's 中文 mode.
AUTH_ZH = {
    "bearer": "你的凭据",
    "admin-key": "管理密钥",
    "x-api-key": "x-api-key 请求头",
    "x-goog-api-key": "x-goog-api-key 请求头",
    "key": "key 查询参数",
}
# Group titles on the page: (English, Chinese) per tag.
TITLES = {
    "openai": ("OpenAI", "OpenAI"),
    "anthropic": ("Anthropic", "Anthropic"),
    "gemini": ("Gemini", "Gemini"),
    "images": ("Pictures and videos", "图片和视频"),
    "health": ("Operations", "运维"),
    "metrics": ("Metrics", "指标"),
    "home": ("Pages", "页面"),
    "admin": ("Admin", "管理"),
}
PATH_ARG = re.compile(r"\{(\w+)\}")


def groups(spec: dict[str, Any], base: str) -> list[dict[str, Any]]:
    """Operations grouped by tag, each reduced to what the reference page shows."""
    tags = {t["name"]: t for t in spec.get("tags", [])}
    found: dict[str, list[dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            found.setdefault(op["tags"][0], []).append(_op(method, path, op, base))
    order = list(tags)
    names = sorted(found, key=lambda t: (order.index(t) if t in order else 99, t))
    return [
        {
            "tag": t,
            "title": TITLES.get(t, (t, t)),
            "description": tags.get(t, {}).get("description", ""),
            "description_zh": tags.get(t, {}).get("x-description-zh", ""),
            "ops": found[t],
        }
        for t in names
    ]


def _op(method: str, path: str, op: dict[str, Any], base: str) -> dict[str, Any]:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    error = op["responses"]["default"]["content"]["application/json"]["schema"]
    ok = next((code for code in op["responses"] if code != "default"), "200")
    security = op.get("security", [])
    example = op.get("x-examples", {})
    media = list(op["responses"][ok].get("content", {}))
    return {
        "id": op["operationId"],
        "method": method.upper(),
        "path": path,
        "summary": op.get("summary", ""),
        "summary_zh": op.get("x-summary-zh", ""),
        "description": op.get("description", ""),
        "params": op.get("parameters", []),
        "body": type_label(body["schema"]) if body else None,
        "status": ok,
        "media": media,
        "auth": [name for option in security for name in option],
        "auth_optional": {} in security,
        "error": type_label(error),
        "request": curl(
            method.upper(), path, security, example, base, "text/event-stream" in media
        ),
        "response": _shown(example.get("response")),
    }


def curl(
    method: str,
    path: str,
    security: list[dict[str, list[str]]],
    example: dict[str, Any],
    base: str,
    streams: bool,
) -> str:
    """A request a reader can paste into a shell: method, URL, auth header and example body."""
    args = example.get("args", {})
    url = base + PATH_ARG.sub(lambda m: str(args.get(m[1], "{" + m[1] + "}")), path)
    parts = (
        ["curl"]
        + (["-N"] if streams else [])
        + (
            [f"-X {method}"]
            if method not in ("GET", "POST") or (method == "POST" and "body" not in example)
            else []
        )
    )
    lines = [" ".join(parts) + " " + shlex.quote(url)]
    scheme = next((name for option in security for name in option), None)
    if scheme in AUTH_HEADERS:
        lines.append(f'-H "{AUTH_HEADERS[scheme]}"')
    if "body" in example:
        lines.append("-H 'Content-Type: application/json'")
        lines.append("-d " + shlex.quote(json.dumps(example["body"], ensure_ascii=False)))
    return " \\\n  ".join(lines)


def _shown(response: Any) -> str | None:
    if response is None:
        return None
    if isinstance(response, str):
        return response
    return json.dumps(response, indent=2, ensure_ascii=False)


def components(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every component schema as a table of its properties."""
    out = []
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        required = set(schema.get("required", []))
        rows = [
            {"name": prop, "type": type_label(sub), "required": prop in required, **_notes(sub)}
            for prop, sub in schema.get("properties", {}).items()
        ]
        out.append({"name": name, "rows": rows})
    return out


def type_label(schema: dict[str, Any]) -> list[tuple[str, str | None]]:
    """A schema as text pieces, each with the component it links to (or None)."""
    if "$ref" in schema:
        name = schema["$ref"].rpartition("/")[2]
        return [(name, name)]
    if "anyOf" in schema:
        pieces: list[tuple[str, str | None]] = []
        for i, option in enumerate(schema["anyOf"]):
            pieces += ([(" | ", None)] if i else []) + type_label(option)
        return pieces
    if "const" in schema:
        return [(json.dumps(schema["const"]), None)]
    kind = schema.get("type")
    if kind == "array" or (isinstance(kind, list) and "array" in kind):
        nullable = [(" | null", None)] if isinstance(kind, list) and "null" in kind else []
        return [("array[", None), *type_label(schema.get("items", {})), ("]", None), *nullable]
    if isinstance(kind, list):
        return [(" | ".join(kind), None)]
    return [(kind or "any", None)]


def _notes(schema: dict[str, Any]) -> dict[str, Any]:
    """Limits and choices as (English, Chinese) label pairs with their values."""
    limits = {
        "minimum": ("minimum", "最小值"),
        "maximum": ("maximum", "最大值"),
        "minLength": ("min length", "最短"),
        "maxLength": ("max length", "最长"),
        "minItems": ("min items", "最少项数"),
        "maxItems": ("max items", "最多项数"),
    }
    notes = [(*labels, str(schema[key])) for key, labels in limits.items() if key in schema]
    if "enum" in schema:
        choices = ", ".join(str(v) for v in schema["enum"] if v is not None)
        notes.append(("one of", "可选值", choices))
    default = json.dumps(schema["default"]) if "default" in schema else ""
    return {"default": default, "notes": notes}
