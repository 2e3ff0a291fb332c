"""Flask glue shared by the dialect blueprints: request parsing, JSON and SSE responses, error
handlers, request ids and the per-request log line."""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from gunicorn.http.errors import ParseException
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import ClientDisconnected, HTTPException

from qwenfree import bounds, dialects, errors, heartbeats, meter
from qwenfree.chats import ChatJanitor
from qwenfree.conversation import GenerationParams
from qwenfree.service import ChatService
from qwenfree.settings import Settings
from qwenfree.sse import dumps, encode

log = logging.getLogger("qwenfree.access")
PAUSE_ABOVE = 64 * 1024  # bytes of body above which parsing pauses between steps (pause())
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
MAX_CREDENTIALS = 10  # per request (pass-through): each may cost the site a call or a refresh
# A Gemini model method (``models/<name>:generateContent`` ...) under /v1 or /v1beta: only
# Google's SDKs call these, so errors there (404, 405) are Google's, whatever route matched.
GEMINI_METHOD = re.compile(r"/v1(?:beta)?/models/[^/]+:[A-Za-z]+")
HTTP_ERRORS: dict[int, type[errors.QwenfreeError]] = {
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
}


_SCHEMAS: dict[type[Schema], Schema] = {}


@dataclass
class State:
    """Everything the app holds; stored in ``app.extensions["qwenfree"]``."""

    settings: Settings
    service: ChatService
    janitor: ChatJanitor
    ops: Any = None  # qwenfree.ops.Ops: keys, account pool and store, metrics

    def close(self) -> None:
        self.janitor.close()
        self.service.close()  # every site's client
        if self.ops is not None:
            self.ops.close()


def state() -> State:
    return current_app.extensions["qwenfree"]  # type: ignore[no-any-return]


# A JSON escape of a UTF-16 surrogate: paired ones are fine, a lone one cannot become UTF-8.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_body() -> Any:
    """The request body as JSON within ``bounds`` (depth, values, entries), or a clear 400/413.
    Every route reads its body here, so nothing after it sees an unbounded shape."""
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and len(raw) >= limit:  # werkzeug cuts chunked bodies at the limit
        raise errors.PayloadTooLarge("The request body is too large")
    if not raw.strip():
        raise errors.InvalidRequest("The request body must be a JSON object")
    g.large_body = len(raw) > PAUSE_ABOVE
    limits = json_limits()
    bounds.check_raw(raw, limits, pause)
    pause()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:  # nesting deeper than Python's parser allows, e.g. [[[[...]]]]
        raise errors.InvalidRequest("The request body is nested too deeply") from None
    pause()
    bounds.check(body, limits)
    if SURROGATE_ESCAPE.search(raw):  # rare: only then pay for a check of every string
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise errors.InvalidRequest(
                "The request body holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is "
                "not text"
            ) from None
    pause()
    return body


def pause() -> None:
    """Let other requests run between the CPU-bound steps of reading a large body (parse,
    shape check, schema, translation). Under gunicorn's gevent worker ``time.sleep`` is
    patched to switch greenlets, so /healthz answers meanwhile. Not ``sleep(0)``: gevent then
    runs ready greenlets without polling sockets, and a waiting /healthz is never read.
    Small bodies take a few milliseconds in all and skip it."""
    if g.get("large_body"):
        time.sleep(0.001)


def json_limits() -> bounds.Limits:
    settings = state().settings
    return bounds.Limits(
        depth=settings.max_json_depth,
        values=settings.max_json_values,
        items=settings.max_json_items,
    )


def load_or_raise(schema: type[Schema] | Schema, data: Any) -> dict[str, Any]:
    """Validate with marshmallow; turn its errors into InvalidRequest naming the fields. Given
    a class, one instance serves every request: building one deep-copies its fields (~90 µs),
    and ``load`` keeps no state on it."""
    if not isinstance(data, Mapping):
        raise errors.InvalidRequest("The request body must be a JSON object")
    instance = schema if isinstance(schema, Schema) else _SCHEMAS.get(schema)
    if instance is None:
        instance = _SCHEMAS[schema] = schema()  # type: ignore[index,operator]
    try:
        loaded = instance.load(data)
    except ValidationError as exc:
        fields = exc.normalized_messages()
        first = next(iter(fields), None) if isinstance(fields, dict) else None
        raise errors.InvalidRequest(f"Invalid request: {dumps(fields)}", param=first) from None
    pause()
    return loaded  # type: ignore[no-any-return]


def bearer_tokens() -> list[str]:
    """Upstream tokens the caller sent as its API key, comma-separated (``T1,T2,...``), from
    ``Authorization: Bearer``, ``x-api-key`` (Anthropic), ``x-goog-api-key`` or ``?key=``
    (Google), first found wins. With server-held accounts (``QWENFREE_API_KEYS``) this is the
    caller's key to us, already checked by ``qwenfree.ops``; the router never sends it on."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        value = (
            request.headers.get("x-api-key")
            or request.headers.get("x-goog-api-key")
            or request.args.get("key")
            or ""
        )
    return split_credentials(value)


def split_credentials(value: str) -> list[str]:
    """``C1,C2,...`` -> credentials. A browser Cookie header may hold commas inside values
    (``_ga=GA1.2.3,4``): a piece that is a cookie but no credential of its own (no
    ``refresh_token=``/``token=``) belongs to the cookie string before it. At most
    ``MAX_CREDENTIALS``: each may cost the site a call, and one request must not make hundreds."""
    out: list[str] = []
    for piece in (p.strip() for p in value.split(",")):
        if not piece:
            continue
        starts = piece.startswith(("refresh_token=", "token=", "eyJ")) or "=" not in piece
        if out and "=" in out[-1] and not starts and "refresh_token=" not in piece:
            out[-1] += "," + piece
        else:
            out.append(piece)
    if len(out) > MAX_CREDENTIALS:
        raise errors.InvalidRequest(
            f"At most {MAX_CREDENTIALS} credentials per request (this one sent {len(out)})"
        )
    return out


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(dumps(body), status=status, headers=headers, mimetype="application/json")


def stream_response(
    events: Iterator[object], dialect: dialects.Dialect, params: GenerationParams
) -> Response:
    """Pull the first event now (so failures still get a real status), then stream the rest.
    Heartbeats: kept by the upstream reader opened meanwhile when it can (``Silence``),
    else by a pump beside the source."""
    events = iter(events)
    interval = state().settings.heartbeat_interval
    silence = heartbeats.Silence(interval) if interval > 0 else None
    try:
        with heartbeats.offering(silence):
            first = next(events)
    except BaseException:
        _close(events)
        raise
    g.streaming = True
    fields = _log_fields(status=200, stream=True)
    ready: Callable[[], bool] = _never
    source, owner = itertools.chain([first], events), events
    if silence is not None and silence.reader is not None:
        silence.active = True
        ready = silence.ready
    elif silence is not None:
        pump = heartbeats.interleave(first, events, interval)
        source, owner, ready = pump, pump, pump.ready  # the pump owns ``events`` now
    departures = heartbeats.departures(request.environ) if silence is not None else None
    if departures is not None:
        source = departures.watch(source)

    def generate() -> Iterator[bytes]:
        outcome = "ok"
        burst: list[bytes] = []  # events already read go out in one write
        try:
            for message in dialect.encode_events(source, params):
                burst.append(encode(message))
                if not ready():
                    yield b"".join(burst)
                    burst.clear()
                    if departures is not None:
                        departures.writes += 1
            if burst:
                yield b"".join(burst)
        except errors.QwenfreeError as err:
            outcome = err.kind
            yield b"".join(burst) + encode(dialect.encode_stream_error(err))
        except GeneratorExit:
            outcome = "client_disconnected"
            raise
        except heartbeats.ClientLeft:  # during a silence that wrote nothing
            outcome = "client_disconnected"
        except Exception:
            outcome = "internal"
            log.exception("stream failed")
            failed = dialect.encode_stream_error(errors.QwenfreeError("Internal error"))
            yield b"".join(burst) + encode(failed)
        finally:
            _close(owner)
            _log(fields, outcome)

    return Response(generate(), mimetype="text/event-stream", headers=SSE_HEADERS)


def _never() -> bool:
    return False


def _close(events: object) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()


def dialect_for_request() -> dialects.Dialect:
    """The dialect the current request speaks."""
    name = dialects.for_request(request.path, request.blueprint, request.headers)
    return dialects.registry()[name]


def error_response(err: errors.QwenfreeError) -> Response:
    """Render an error in the dialect of the route (or URL prefix) that failed."""
    dialect = dialect_for_request()
    if GEMINI_METHOD.fullmatch(request.path) and "anthropic-version" not in request.headers:
        dialect = dialects.registry()["gemini"]
    status, body = dialect.encode_error(err)
    if dialect.error_request_id:
        body[dialect.error_request_id] = g.get("request_id", "")
    headers = {}
    if err.retry_after:
        headers["Retry-After"] = str(max(1, round(err.retry_after)))
    if isinstance(err, errors.ClientError) and status != 429:
        headers["x-should-retry"] = "false"
    g.error_kind = err.kind
    return json_response(body, status, headers)


def install(app: Flask) -> None:
    """Register the error handlers, request ids and access logging."""

    @app.errorhandler(errors.QwenfreeError)
    def _ours(err: errors.QwenfreeError) -> Response:
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        cls = HTTP_ERRORS.get(exc.code or 500, errors.InvalidRequest)
        message = {
            404: f"No route for {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: "The request body is too large",
        }.get(exc.code or 0, exc.description or "")
        if isinstance(exc, ClientDisconnected):  # also: the server's body read timed out
            message = "The request body ended early (or arrived too slowly)"
        return error_response(cls(message))

    @app.errorhandler(ParseException)
    def _unreadable_body(exc: ParseException) -> Response:
        # gunicorn parses a chunked body while the app reads it: a bad chunk size surfaces here.
        return error_response(errors.InvalidRequest(f"The request body is malformed: {exc}"[:200]))

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(errors.QwenfreeError("Internal error"))

    @app.before_request
    def _start() -> None:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        g.started = time.monotonic()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["x-request-id"] = g.get("request_id", "")
        response.headers["request-id"] = g.get("request_id", "")
        if not g.get("streaming"):
            fields = _log_fields(status=response.status_code, stream=False)
            _log(fields, g.get("error_kind", "ok"))
        return response


def _log_fields(*, status: int, stream: bool) -> dict[str, Any]:
    """What the access line says; captured while the request context exists."""
    return {
        "request_id": g.get("request_id"),
        "method": request.method,
        "path": request.path,
        "dialect": request.blueprint,
        "status": status,
        "stream": stream,
        "started": g.get("started", time.monotonic()),
        "meter": meter.current(),  # still filling in while a stream runs; read at the end
    }


def _log(fields: dict[str, Any], outcome: str) -> None:
    started = fields.pop("started")
    metered = fields.pop("meter", None)
    fields.update(outcome=outcome, duration_ms=round((time.monotonic() - started) * 1000, 1))
    if metered is not None:  # model, account, ttfb, overhead; metrics and key usage
        fields.update(metered.close(fields))
    log.info("request", extra={"fields": fields})
