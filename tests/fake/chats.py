"""Chat endpoints of the fake chat.qwen.ai: models, chats, completions (§6, §7, §16)."""

from __future__ import annotations

import re
from typing import Any

from .frames import (
    CHAT_GONE,
    COMPLETIONS,
    DEFAULT_SEARCH,
    DEFAULT_THINKING,
    MUST_THINK,
    NEEDS_FEATURE_CONFIG,
    PNG,
    Script,
    _now,
    _uid,
    _with_rid,
)
from .scripts import (
    _json,
    answer,
    business_error,
    empty_stream,
    http_error,
    image_edit_answer,
    waf_json,
)
from .state import Chat, Recorded, _Ctx, _is_video, _Reply, user_of

RATIOS = ("1:1", "3:4", "4:3", "16:9", "9:16")  # the only video sizes the site takes (S1 §4.1)


def video_problem(body: dict[str, Any]) -> str | None:
    """2026-09 (S1 §4.1): t2v in all three places, the size at the top and in extra.meta."""
    msg = body["messages"][0]
    meta = msg["extra"].get("meta") if isinstance(msg["extra"].get("meta"), dict) else {}
    if not msg.get("chat_type") == msg.get("sub_chat_type") == meta.get("subChatType") == "t2v":
        return "t2v must be in chat_type, sub_chat_type and extra.meta.subChatType"
    if body.get("size") is None or meta.get("size") != body.get("size"):
        return "size must be at the top level and in messages[0].extra.meta.size, the same"
    if body["size"] not in RATIOS:
        return f"size must be one of {', '.join(RATIOS)}"
    return None


class ChatMixin:
    """Endpoints about models and chats; mixed into FakeUpstream (state lives there)."""

    def _models(self, req: Recorded, m: re.Match[str]) -> Script:
        return _json(200, {"data": self.models})

    def _new_chat(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        chat = Chat(
            id=_uid(),
            title=body.get("title") or "New Chat",
            chat_type=body.get("chat_type") or "t2t",
            models=list(body.get("models") or []),
            creator=req.headers.get("authorization", ""),
        )
        with self._lock:
            self.chats[chat.id] = chat
        return _json(200, {"success": True, "request_id": _uid(), "data": {"id": chat.id}})

    def _live_chat(self, chat_id: str | None) -> Chat | None:
        chat = self.chats.get(chat_id or "")
        return chat if chat and not chat.deleted else None

    def _list_chats(self, req: Recorded, m: re.Match[str]) -> Script:
        # Newest first; the sort is stable, so reversing first orders same-second ties by age.
        newest = sorted(reversed(list(self.chats.values())), key=lambda c: -c.updated_at)
        live = [c.summary() for c in newest if not c.deleted]
        return _json(200, {"success": True, "request_id": _uid(), "data": live})

    def _get_chat(self, req: Recorded, m: re.Match[str]) -> Script:
        chat = self._live_chat(m["cid"])
        if chat is None:
            return business_error("Not_Found", "chat not found")
        nodes = {k: dict(v) for k, v in chat.nodes.items()}
        history = {"messages": nodes, "currentId": next(reversed(nodes), None)}
        data = chat.summary() | {
            "models": chat.models,
            "chat": {"history": history, "messages": list(nodes.values())},
        }
        return _json(200, {"success": True, "request_id": _uid(), "data": data})

    def _delete_chat(self, req: Recorded, m: re.Match[str]) -> Script:
        chat = self._live_chat(m["cid"])
        if chat is None:
            return business_error("Not_Found", "chat not found")
        with self._lock:
            chat.deleted = True
            self.deleted_chats.append(chat.id)
        return _json(200, {"success": True, "request_id": _uid(), "data": {"status": True}})

    def _image(self, req: Recorded, m: re.Match[str]) -> Script:
        # Real CDN URLs only work with their signed ?key=..., so a stripped URL fails here too.
        if "key" not in req.query:
            return http_error(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        return Script(content_type="image/png", body=PNG)

    def _completion(self, req: Recorded, m: re.Match[str]) -> _Reply:
        if self.max_body is not None and len(req.body) > self.max_body:
            return waf_json()
        chat = self._live_chat(req.query.get("chat_id"))
        if chat is None:
            return business_error("Not_Found", CHAT_GONE)
        body = req.json if isinstance(req.json, dict) else None
        problem = self._invalid(body, chat) or self._bad_files(req, body)
        if problem:
            return problem
        assert body is not None
        msg, model = body["messages"][0], self._find_model(body["model"])
        assert model is not None
        user_id = _uid()
        with self._lock:
            text = msg.get("content") if isinstance(msg.get("content"), str) else ""
            if chat.title == "New Chat" and text:
                chat.title = text[:40]
            chat.nodes[user_id] = {
                "id": user_id,
                "parentId": body.get("parent_id", body.get("parentId")),
                "childrenIds": [],
                "role": "user",
                "content": msg.get("content"),
                "chat_type": msg.get("chat_type"),
                "timestamp": _now(),
            }
            chat.updated_at = _now()
        script = self._pop("token:" + (self._token(req) or "")) or self._pop(COMPLETIONS)
        if script is None and msg.get("chat_type") == "t2v":
            return self._start_video(req, chat, msg, model["id"])
        script = script or self._recall(req, msg) or self._default_reply(msg)
        return script, _Ctx(chat, user_id, _uid(), model["id"], self._release, self._gen)

    def _find_model(self, model_id: Any) -> dict[str, Any] | None:
        return next((m for m in self.models if m.get("id") == model_id), None)

    def _invalid(self, body: dict[str, Any] | None, chat: Chat) -> Script | None:
        """Validate a completion body in the order the real server seems to."""
        if body is None:
            return business_error("Bad_Request", "RequestValidationError: expected a JSON object")
        if body.get("chat_id", body.get("chatId")) != chat.id:
            return business_error("Bad_Request", "chat_id in the body does not match the query")
        wants_stream = not _is_video(body)  # t2v alone is sent with stream:false (§9.3)
        if body.get("stream") is not wants_stream:
            return business_error("Bad_Request", "Internal error")
        msgs = body.get("messages")
        if not isinstance(msgs, list) or len(msgs) != 1 or not isinstance(msgs[0], dict):
            many = isinstance(msgs, list) and len(msgs) > 1
            return business_error(
                "Bad_Request", "Invalid input too many messages" if many else "Invalid input"
            )
        msg, fc = msgs[0], msgs[0].get("feature_config")
        if (
            not isinstance(msg.get("extra"), dict)
            or not isinstance(fc, dict)
            or fc.get("output_schema") != "phase"
            or not isinstance(fc.get("thinking_enabled"), bool)
        ):
            return business_error("Bad_Request", NEEDS_FEATURE_CONFIG)
        if msg.get("chat_type") == "image_gen":
            return business_error("Bad_Request", "Internal error")
        if self.modern and _is_video(body) and (problem := video_problem(body)):
            return business_error("Bad_Request", problem)
        model = self._find_model(body.get("model"))
        if model is None:
            return business_error("Not_Found", "Model not found")
        must_think = model["info"]["meta"].get("think_skip", {}).get("enable") is False
        if must_think and not fc["thinking_enabled"]:
            return business_error("Bad_Request", MUST_THINK)
        parent = body.get("parent_id", body.get("parentId"))
        if parent is not None and parent not in chat.response_ids():
            return business_error("PARENT_NOT_FOUND", f"parent message {parent} not found")
        return None

    def _default_reply(self, msg: dict[str, Any]) -> Script:
        # System messages are not honoured upstream: the stream opens, then ends without an answer.
        if msg.get("role", "user") != "user":
            return empty_stream()
        thinking = DEFAULT_THINKING if msg["feature_config"]["thinking_enabled"] else None
        chat_type = msg.get("chat_type") or "t2t"
        if chat_type in ("t2i", "image_edit"):
            image_url = f"{self.url}/output/{chat_type}/{_uid()}.png?key=abc"
            if chat_type == "image_edit" and self.modern:  # §16.5: its own phase, URLs in extra
                return image_edit_answer([image_url], thinking=thinking)
            return answer("", thinking=thinking, image_url=image_url)
        search = [DEFAULT_SEARCH] if chat_type == "search" else None
        return answer(self.default_text, thinking=thinking, search=search)

    def _fill(self, obj: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        """Fill in this request's ids; remember created responses and their answer text."""
        if "response.created" in obj:
            given = obj["response.created"] or {}
            index = given.get("response_index", "0")
            rid = given.get("response_id") or (ctx.response_id if index == "0" else _uid())
            if index == "0":
                ctx.response_id = rid
            # Register before the write: a fast follow-up may already name it as its parent.
            self._add_response(ctx, rid, index)
            chat_id = ctx.chat.id if ctx.chat else ""
            ids = {"chat_id": chat_id, "parent_id": ctx.user_id, "response_id": rid}
            return {"response.created": ids | {"response_index": index} | given}
        obj = _with_rid(obj, ctx.response_id)
        try:
            delta = obj["choices"][0]["delta"]
        except (KeyError, IndexError, TypeError):
            return obj
        node = ctx.chat.nodes.get(obj.get("response_id", "")) if ctx.chat else None
        text = delta.get("content") if delta.get("phase") in ("answer", "image_gen") else None
        if node is not None and isinstance(text, str):
            node["content"] += text
        return obj

    def _add_response(self, ctx: _Ctx, rid: str, index: str) -> None:
        if ctx.chat is None:
            return
        with self._lock:
            ctx.chat.nodes[rid] = {
                "id": rid,
                "parentId": ctx.user_id,
                "childrenIds": [],
                "role": "assistant",
                "content": "",
                "model": ctx.model,
                "response_index": index,
                "timestamp": _now(),
            }
            user = ctx.chat.nodes.get(ctx.user_id)
            if user is not None:
                user["childrenIds"].append(rid)

    def _save_image(self, ctx: _Ctx, url: str | None) -> None:
        """A picture the stream never showed, kept in the chat's answer node (§16.5)."""
        url = url or f"{self.url}/output/t2i/{_uid()}.png?key=abc"
        node = ctx.chat.nodes.get(ctx.response_id) if ctx.chat else None
        if node is None:
            return
        item = {"phase": "image_gen", "status": "finished", "content": url, "role": "assistant"}
        with self._lock:  # where a streamed image_gen URL lands too (see _fill)
            node["content"] += url
            node["content_list"] = [*node.get("content_list", []), item]
            node.setdefault("extra", {})["output_image_hw"] = [[1328, 1328]]

    def _settings_update(self, req: Recorded, m: re.Match[str]) -> Script:
        """``POST /api/v2/users/user/settings/update``: remembers ``tools_enabled`` per account."""
        body = req.json if isinstance(req.json, dict) else {}
        tools = body.get("tools_enabled")
        if tools is not None and not isinstance(tools, dict):
            return business_error("Bad_Request", "tools_enabled must be an object")
        if tools is not None:
            with self._lock:
                self.tools_enabled[user_of(self._token(req) or "")] = dict(tools)
        return _json(200, {"success": True, "request_id": _uid(), "data": body})
