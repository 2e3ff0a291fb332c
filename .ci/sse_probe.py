"""Stream one OpenAI-style chat completion and check it, for .ci/container.sh (stdlib only).

    python3 .ci/sse_probe.py http://127.0.0.1:8000 --prompt ci:slow --expect "p0 p1 ..."
    python3 .ci/sse_probe.py URL --prompt ci:stall --first-only --first-within 10
    python3 .ci/sse_probe.py URL --prompt ci:slow --on-first "podman stop -t 30 qwenfree"

Exit 0 only when the stream is well formed: HTTP 200 text/event-stream, every
event valid JSON with no "error", and (unless --first-only) the terminal ``data: [DONE]``.
--timeout bounds each read, so a stream held back by a buffer fails instead of hanging;
--first-within bounds the wait for the first content even if heartbeats trickle through.
--on-first runs a command once the first content arrived and waits for it at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shlex
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit


class ProbeError(Exception):
    """The stream was not what a client may expect."""


# A compressed stream is fine if it is flushed per event; the read timeout tells if it is not.
# wbits 47: zlib or gzip header, detected.
DECODERS: dict[str, Callable[[], Any]] = {
    "identity": lambda: None,
    "gzip": lambda: zlib.decompressobj(47),
    "deflate": lambda: zlib.decompressobj(47),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="base URL of the gateway (or of nginx in front of it)")
    p.add_argument("--prompt", default="hi")
    p.add_argument("--expect", help="the exact answer text the stream must carry")
    p.add_argument("--first-only", action="store_true", help="stop at the first content")
    p.add_argument("--on-first", help="shell command to run when the first content arrives")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per read")
    p.add_argument(
        "--first-within",
        type=float,
        help="seconds from the request to the first content, whatever else (heartbeats) came",
    )
    return p.parse_args()


Stream = tuple[http.client.HTTPConnection, http.client.HTTPResponse]


def open_stream(url: str, prompt: str, timeout: float) -> Stream:
    """POST the chat request; return it once the status and headers are checked."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    # "default": the site's first model, whatever the fake (or the site) calls it today
    body = {"model": "default", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    headers = {
        "Authorization": "Bearer ci-probe-token",
        "Content-Type": "application/json",
        # What real clients send; a proxy that compresses SSE may hold events back.
        "Accept-Encoding": "gzip, deflate",
    }
    conn.request("POST", parts.path.rstrip("/") + "/v1/chat/completions", json.dumps(body), headers)
    resp = conn.getresponse()
    ctype = resp.getheader("Content-Type", "")
    if resp.status != 200 or not ctype.startswith("text/event-stream"):
        raise ProbeError(f"HTTP {resp.status} {ctype}: {resp.read(2000)!r}")
    encoding = resp.getheader("Content-Encoding", "identity")
    if encoding not in DECODERS:
        raise ProbeError(f"unexpected Content-Encoding {encoding}")
    return conn, resp


def lines(resp: http.client.HTTPResponse) -> Iterator[bytes]:
    """Yield the body's lines as they arrive, decompressed on the fly if need be."""
    decoder = DECODERS[resp.getheader("Content-Encoding", "identity")]()
    buf = b""
    while chunk := resp.read1(65536):
        buf += decoder.decompress(chunk) if decoder else chunk
        *complete, buf = buf.split(b"\n")
        yield from complete


def events(resp: http.client.HTTPResponse) -> Iterator[str]:
    """Yield each ``data:`` payload as text; comments (heartbeats) and blank lines are skipped."""
    for line in lines(resp):
        line = line.rstrip(b"\r")
        if line.startswith(b"data:"):
            yield line[5:].strip().decode()


def content_of(data: str) -> str:
    """The text an OpenAI chunk adds (empty for role-only or final chunks)."""
    event = json.loads(data)
    if "error" in event:
        raise ProbeError(f"error event in the stream: {data}")
    choices = event.get("choices") or [{}]
    return choices[0].get("delta", {}).get("content") or ""


def read_stream(stream: Stream, args: argparse.Namespace, started: float) -> tuple[str, bool]:
    """Return (answer text, saw [DONE]); run or stop at the first content as asked.

    The connection is closed when the stream ends, before the command is waited for: an idle
    keep-alive connection would hold a stopping gunicorn worker for its whole graceful timeout.
    """
    text, done, action = "", False, None
    conn, resp = stream
    for data in events(resp):
        if data == "[DONE]":
            done = True
            break
        piece = content_of(data)
        waited = time.monotonic() - started
        if not text and args.first_within is not None and waited > args.first_within:
            raise ProbeError(f"no content within {args.first_within}s (held back on the way?)")
        if piece and not text:
            print(f"probe: first content after {waited:.2f}s: {piece!r}")
            if args.first_only:
                return piece, False
            if args.on_first:
                print(f"probe: running {args.on_first!r}", flush=True)
                action = subprocess.Popen(shlex.split(args.on_first))  # noqa: S603 - CI only
        text += piece
    resp.close()
    conn.close()
    if action is not None and action.wait() != 0:
        raise ProbeError(f"{args.on_first!r} exited with {action.returncode}")
    return text, done


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    try:
        stream = open_stream(args.url, args.prompt, args.timeout)
        text, done = read_stream(stream, args, started)
        if not text:
            raise ProbeError("the stream carried no content")
        if not args.first_only and not done:
            raise ProbeError(f"stream ended without data: [DONE] after {text!r}")
        if args.expect is not None and text != args.expect:
            raise ProbeError(f"answer {text!r} != expected {args.expect!r}")
    except TimeoutError:
        print(f"probe: FAIL: no data for {args.timeout}s (held back on the way?)", file=sys.stderr)
        return 1
    except (OSError, http.client.HTTPException, ValueError, ProbeError) as exc:
        print(f"probe: FAIL ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"probe: ok, {len(text)} chars in {elapsed:.2f}s{'' if args.first_only else ', [DONE]'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
