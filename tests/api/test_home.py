"""The homepage, /status, /openapi.json and /docs over real HTTP (the browser checks are in
tests/e2e/test_browser.py), plus the OpenAPI schema registry on small apps of its own."""

from __future__ import annotations

import dataclasses
import html
import re
import types
from pathlib import Path

import pytest
import requests
from flask import Blueprint, Flask
from marshmallow import Schema, fields
from openapi_spec_validator import validate

import qwenfree
from qwenfree import openapi, web
from tests.conftest import TOKEN
from tests.support.models import MODEL

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PACKAGE = Path(qwenfree.__file__).parent


def csp_sources(response: requests.Response) -> set[str]:
    """Every source named in the Content-Security-Policy header."""
    policy = response.headers["Content-Security-Policy"]
    return {word for part in policy.split(";") for word in part.split()[1:]}


def assert_secured(response: requests.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert csp_sources(response) <= {"'self'", "'none'"}  # no host, scheme or inline source


def own_scripts_only(text: str) -> bool:
    """Every <script> of the page is one of our static files, none inline."""
    tags = re.findall(r"<script[^>]*>", text)
    return bool(tags) and all(
        re.fullmatch(r'<script src="/static/\w+\.js"( defer)?>', t) for t in tags
    )


def page_text(response: requests.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", response.text))


# --- the homepage ---------------------------------------------------------------------------


def test_homepage_is_html_with_security_headers_and_no_upstream_call(gateway, fake):
    r = requests.get(gateway.url + "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert_secured(r)
    assert "Host" in r.headers["Vary"] and "X-Forwarded-Host" in r.headers["Vary"]
    head = requests.head(gateway.url + "/")
    assert head.status_code == 200 and head.content == b""
    assert fake.requests == []  # the live status is fetched by the page, not by this route


def test_snippets_are_filled_in_with_this_servers_address(gateway):
    text = page_text(requests.get(gateway.url + "/"))
    base = gateway.url
    for line in (
        f"curl -N {base}/v1/chat/completions",
        f'OpenAI(base_url="{base}/v1", api_key=os.environ["QWEN_TOKEN"])',
        f"export ANTHROPIC_BASE_URL={base}",
        'export ANTHROPIC_AUTH_TOKEN="$QWEN_TOKEN"',
        "export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
        f"export GOOGLE_GEMINI_BASE_URL={base}",
        'export GEMINI_API_KEY="$QWEN_TOKEN"',
        "export GEMINI_CLI_TRUST_WORKSPACE=true",
        '{"security":{"auth":{"selectedType":"gemini-api-key"}}}',
        f"curl -s {base}/token/check",
    ):
        assert line in text
    assert '"model": "default"' in text  # follows the site's list (QWENFREE_DEFAULT_MODEL unset)


def test_the_address_follows_the_reverse_proxy_headers(gateway):
    r = requests.get(
        gateway.url + "/",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example.com:8443, proxy"},
    )
    text = page_text(r)
    assert "export ANTHROPIC_BASE_URL=https://gw.example.com:8443\n" in text
    assert "https://gw.example.com:8443/v1" in text
    assert gateway.url not in text


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Host": 'evil.test"><script>alert(1)</script>'},
        {"X-Forwarded-Host": "evil.test/<img src=x onerror=alert(1)>"},
        {"X-Forwarded-Proto": "javascript:alert(1)//"},
        {"X-Forwarded-Host": "a b", "X-Forwarded-Proto": "ftp"},
    ],
    ids=["script-host", "img-host", "proto", "spaces"],
)
def test_forged_forwarding_headers_cannot_inject_markup(gateway, headers):
    r = requests.get(gateway.url + "/", headers=headers)
    assert r.status_code == 200
    assert "alert(1)" not in r.text and "evil.test" not in r.text
    assert own_scripts_only(r.text)
    assert f"export ANTHROPIC_BASE_URL={gateway.url}\n" in page_text(r)


def test_a_forged_host_header_falls_back_to_a_safe_address(gateway):
    r = requests.get(gateway.url + "/", headers={"Host": "x<y>z"})
    assert r.status_code == 200
    assert "x<y>z" not in r.text and "x&lt;y&gt;z" not in r.text
    assert own_scripts_only(r.text)


def test_homepage_states_the_disclaimer_once_and_leaves_the_endpoints_to_docs(gateway):
    r = requests.get(gateway.url + "/")
    text = page_text(r)
    english = re.findall(r'<p class="note" lang="en">(.*?)</p>', r.text, re.S)
    assert len(english) == 1 and "official paid Qwen API" in english[0]
    assert len(re.findall(r'class="note" lang="zh-CN"', r.text)) == 1
    assert "/v1/messages" not in text and 'href="/docs"' in r.text
    assert f"curl -N {gateway.url}/v1/chat/completions" in text  # -N: show the stream as it comes
    assert "QWENFREE_TONGYI_TICKETS=true" in text and "off here" in text
    assert "coming" not in text


def test_the_tongyi_box_says_when_tickets_are_on(start_gateway, settings):
    on = start_gateway(dataclasses.replace(settings, tongyi_tickets=True))
    assert "on here" in page_text(requests.get(on.url + "/"))


def test_static_files_are_served_with_nosniff_and_reference_nothing_external():
    names = [p.name for p in (PACKAGE / "static").iterdir() if p.suffix in (".css", ".js")]
    assert {"qwenfree.css", "qwenfree.js", "quickstart.js", "admin.js", "charts.js"} <= set(names)
    for name in names:
        # The SVG namespace is a name, not an address anything is fetched from.
        source = (PACKAGE / "static" / name).read_text().replace('"http://www.w3.org/2000/svg"', "")
        assert "http://" not in source and "https://" not in source, name
        assert "@import" not in source and "url(" not in source
    for template in (PACKAGE / "templates").glob("*.html"):
        text = template.read_text()
        # The only absolute URLs are links for the reader to follow (chat.qwen.ai).
        assert set(re.findall(r"https?://[^\s\"<']+", text)) <= {"https://chat.qwen.ai"}
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?:", text)


def test_static_responses_carry_the_security_headers(gateway):
    css = requests.get(gateway.url + "/static/qwenfree.css")
    js = requests.get(gateway.url + "/static/qwenfree.js")
    assert css.headers["Content-Type"].startswith("text/css")
    assert "javascript" in js.headers["Content-Type"]
    assert_secured(css)
    assert_secured(js)


# --- /status --------------------------------------------------------------------------------


def test_status_reports_version_upstream_and_models(gateway, fake):
    status = requests.get(gateway.url + "/status").json()
    assert status["version"] == qwenfree.__version__
    assert status["upstream"] == {"reachable": True}
    ids = [m["id"] for m in status["models"]]
    assert ids == [m["id"] for m in fake.models]
    max_model = next(m for m in status["models"] if m["id"] == MODEL)
    assert f"{MODEL}-thinking" in max_model["variants"]


def test_status_is_a_page_for_browsers_and_json_for_programs(gateway, fake):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = requests.get(gateway.url + "/status", headers={"Accept": browser})
    assert page.headers["Content-Type"].startswith("text/html") and "Accept" in page.headers["Vary"]
    assert_secured(page)
    assert f"{MODEL}-thinking" in page_text(page)
    for accept in ("*/*", "application/json", ""):
        r = requests.get(gateway.url + "/status", headers={"Accept": accept})
        assert r.headers["Content-Type"] == "application/json", accept
        assert r.json()["default_model"] == fake.models[0]["id"]  # the site's first


def test_status_says_when_the_upstream_model_list_cannot_be_fetched(gateway, fake):
    fake.models = []  # what the catalog sees when chat.qwen.ai answers nothing usable
    status = requests.get(gateway.url + "/status").json()
    assert status["upstream"] == {"reachable": False}
    assert status["models"]  # the built-in list, still usable
    assert requests.get(gateway.url + "/").status_code == 200


# --- /openapi.json --------------------------------------------------------------------------


def test_openapi_document_is_valid_3_1(gateway):
    r = requests.get(gateway.url + "/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    doc = r.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["version"] == qwenfree.__version__
    assert doc["servers"] == [{"url": gateway.url}]


def test_openapi_covers_every_route_of_the_app(gateway):
    doc = requests.get(gateway.url + "/openapi.json").json()
    rules = [rule for rule in gateway.app.url_map.iter_rules() if rule.endpoint != "static"]
    assert len(rules) >= 12
    for rule in rules:
        path, _ = openapi.openapi_path(rule.rule)
        assert path in doc["paths"], rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (method, rule.rule)
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_openapi_describes_the_chat_completions_body_from_its_marshmallow_schema(gateway):
    doc = requests.get(gateway.url + "/openapi.json").json()
    post = doc["paths"]["/v1/chat/completions"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/openai.ChatCompletion"}
    schema = doc["components"]["schemas"]["openai.ChatCompletion"]
    assert "messages" in schema["required"]
    assert schema["properties"]["messages"]["items"] == {
        "$ref": "#/components/schemas/openai.Message"
    }
    assert set(post["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert post["security"] == [{"bearer": []}]
    error = post["responses"]["default"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/openai.Error"}


def test_openapi_path_parameters(gateway):
    doc = requests.get(gateway.url + "/openapi.json").json()
    params = doc["paths"]["/v1/models/{model_id}"]["get"]["parameters"]
    assert params == [
        {"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]


# --- the registry: describe(), inference, generic bodies --------------------------------------


class WidgetSchema(Schema):
    name = fields.String(required=True)
    size = fields.Integer(load_default=None, allow_none=True)


class GadgetSchema(Schema):
    colour = fields.String()


def _app(*views: tuple[str, object]) -> Flask:
    """A small app whose blueprint 'anthropic' carries the given POST views."""
    app = Flask(__name__)
    bp = Blueprint("anthropic", __name__)
    for rule, view in views:
        bp.add_url_rule(rule, view_func=view, methods=["POST"])  # type: ignore[arg-type]
    app.register_blueprint(bp)
    return app


def _body(doc: dict, path: str) -> dict:
    return doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def test_describe_attaches_the_body_schema_summary_streaming_and_query():
    @openapi.describe(
        body=WidgetSchema, summary="Make a widget", streams=True, query={"beta": "ignored"}
    )
    def make() -> None:
        """Docstring summary, overridden."""

    doc = openapi.build(_app(("/v1/widgets", make)), "http://h", "1")
    validate(doc)
    post = doc["paths"]["/v1/widgets"]["post"]
    assert _body(doc, "/v1/widgets") == {"$ref": "#/components/schemas/test_home.Widget"}
    assert post["summary"] == "Make a widget"
    assert "text/event-stream" in post["responses"]["200"]["content"]
    assert post["parameters"][0]["name"] == "beta"
    assert post["security"] == [{"bearer": []}, {"x-api-key": []}]
    assert doc["components"]["schemas"]["test_home.Widget"]["required"] == ["name"]


def test_a_view_naming_one_schema_is_documented_without_decoration():
    def plain() -> object:
        """Load a widget.

        Longer words for the reference page.
        """
        return web.load_or_raise(WidgetSchema(), web.json_body())

    def attribute() -> object:
        return web.load_or_raise(schemas.GadgetSchema(), {})

    def ambiguous() -> object:
        return (WidgetSchema(), GadgetSchema())

    def untyped() -> None:
        return None

    app = _app(("/a", plain), ("/b", attribute), ("/c", ambiguous), ("/d", untyped))
    doc = openapi.build(app, "http://h", "1")
    validate(doc)
    assert _body(doc, "/a") == {"$ref": "#/components/schemas/test_home.Widget"}
    assert doc["paths"]["/a"]["post"]["summary"] == "Load a widget"
    assert doc["paths"]["/a"]["post"]["description"] == "Longer words for the reference page."
    assert _body(doc, "/b") == {"$ref": "#/components/schemas/test_home.Gadget"}
    assert _body(doc, "/c")["type"] == "object" and "$ref" not in _body(doc, "/c")
    assert _body(doc, "/d")["type"] == "object"
    assert doc["paths"]["/d"]["post"]["summary"] == "Untyped"


# A dialect's ``schemas`` module, read as ``schemas.GadgetSchema`` by a view.
schemas = types.ModuleType("schemas")
schemas.GadgetSchema = GadgetSchema  # type: ignore[attr-defined]


def test_same_named_schemas_of_two_dialects_get_distinct_components():
    def make(module: str) -> type[Schema]:
        return type("MessageSchema", (Schema,), {"__module__": module, "role": fields.String()})

    anthropic_schema = make("qwenfree.dialects.anthropic.schemas")
    gemini_schema = make("qwenfree.dialects.gemini.schemas")

    @openapi.describe(body=anthropic_schema)
    def one() -> None: ...

    @openapi.describe(body=gemini_schema)
    def two() -> None: ...

    doc = openapi.build(_app(("/one", one), ("/two", two)), "http://h", "1")  # warnings = errors
    validate(doc)
    assert _body(doc, "/one") == {"$ref": "#/components/schemas/anthropic.Message"}
    assert _body(doc, "/two") == {"$ref": "#/components/schemas/gemini.Message"}


def test_one_view_on_two_rules_gets_two_operation_ids():
    def shared() -> None: ...

    app = _app(("/v1beta/x/<path:name>", shared), ("/v1/x/<path:name>", shared))
    doc = openapi.build(app, "http://h", "1")
    validate(doc)
    ids = {doc["paths"][p]["post"]["operationId"] for p in ("/v1beta/x/{name}", "/v1/x/{name}")}
    assert len(ids) == 2


# --- /docs ----------------------------------------------------------------------------------


def test_docs_page_shows_every_operation_and_schema(gateway):
    doc = requests.get(gateway.url + "/openapi.json").json()
    r = requests.get(gateway.url + "/docs")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert_secured(r)
    for item in doc["paths"].values():
        for op in item.values():
            assert f'id="op-{op["operationId"]}"' in r.text
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in r.text
    assert 'href="#schema-openai.ChatCompletion"' in r.text  # the body links to its schema
    assert own_scripts_only(r.text)


def test_unknown_pages_still_answer_in_the_openai_error_shape(gateway):
    r = requests.get(gateway.url + "/nope", headers={"Authorization": "Bearer " + TOKEN})
    assert r.status_code == 404 and r.json()["error"]["type"]


def test_docs_media_types_auth_and_bodies_are_right(start_gateway, settings, tmp_path):
    from tests.support.accounts import keyed

    gateway = start_gateway(keyed(settings, tmp_path / "data"))
    doc = requests.get(gateway.url + "/openapi.json").json()
    validate(doc)
    paths = doc["paths"]

    def media(path: str, method: str = "get") -> set[str]:
        return set(paths[path][method]["responses"]["200"].get("content", {}))

    assert media("/") == media("/docs") == media("/admin") == {"text/html"}
    assert media("/metrics") == {"text/plain"}
    assert media("/status") == {"application/json", "text/html"}
    assert "302" in paths["/v1/videos/{video_id}/content"]["get"]["responses"]
    assert paths["/admin/api/accounts"]["get"]["security"] == [{"admin-key": []}]
    assert "security" not in paths["/admin"]["get"] and "security" not in paths["/"]["get"]
    check = paths["/admin/api/accounts/{account_id}/check"]["post"]
    assert "requestBody" not in check  # it takes no body
    assert "requestBody" in paths["/admin/api/accounts"]["post"]
    assert "requestBody" in paths["/v1beta/models/{name}"]["post"]  # read through a helper
    for item in paths.values():
        for op in item.values():
            assert op["x-summary-zh"], op["operationId"]  # a new route needs its 中文 summary
            assert not op["summary"].endswith((",", "that", "(")), op["summary"]


def test_docs_show_a_request_and_response_example_per_operation(gateway):
    r = requests.get(gateway.url + "/docs")
    text = page_text(r)
    doc = requests.get(gateway.url + "/openapi.json").json()
    ops = [op for item in doc["paths"].values() for op in item.values()]
    assert r.text.count('id="req-') == len(ops)
    assert f"curl -N {gateway.url}/v1/chat/completions" in text
    assert '"content": "Hello! How can I help?"' in text
    assert "-X DELETE" in text and "$QWENFREE_ADMIN_KEY" in text
    assert f"curl {gateway.url}/v1/models/qwen3-max" in text  # path arguments filled in
