"""Uploads, document parsing and video tasks of the fake chat.qwen.ai (§6.5, §6.6, §9.3, §16.5)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import unquote

from .frames import Script, _now, _uid
from .scripts import _json, answer, business_error
from .state import BUCKET, Chat, Recorded, StoredFile, VideoTask, _oss_error, oss_signature, user_of

# The fake model's one feat of reading (see README "Attached text files").
RECALL = re.compile(r"what is the codeword\?", re.IGNORECASE)
CODEWORD = re.compile(r"codeword is ([A-Za-z0-9_-]+)")


class MediaMixin:
    """Files and video tasks; mixed into FakeUpstream (state lives there)."""

    def _user_id(self, req: Recorded) -> str:
        return user_of(self._token(req) or "")

    def _owns(self, owner_token: str, req: Recorded) -> bool:
        """Whether the asking credential owns something made with ``owner_token``: the same
        token (legacy) or, with 15-minute tokens (2026-09), the same account."""
        token = self._token(req) or ""
        return owner_token == token or (self.modern and user_of(owner_token) == user_of(token))

    def _sts(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        name, size, kind = body.get("filename"), str(body.get("filesize", "")), body.get("filetype")
        if not isinstance(name, str) or not name or not size.isdigit() or not kind:
            return business_error("Bad_Request", "filename, filesize and filetype are required")
        fid = _uid()
        key = f"{self._user_id(req)}/{fid}_{name}"
        expires = _now() + 3600
        url = f"{self.url}/oss/{BUCKET}/{key}?Expires={expires}&OSSAccessKeyId=LTAIfake&Signature=x"
        stored = StoredFile(fid, self._token(req) or "", name, int(size), str(kind), key, url)
        with self._lock:
            self.files[fid] = stored
        creds = {
            "access_key_id": stored.key_id,
            "access_key_secret": stored.secret,
            "security_token": stored.security_token,
            "file_url": url,
            "file_path": key,
            "file_id": fid,
            "bucketname": BUCKET,
            "region": "oss-ap-southeast-1",
            "endpoint": "oss-ap-southeast-1.aliyuncs.com",
        }
        if self.sts_shapes.get(m["v"]) == "flat":
            return _json(200, creds)
        return _json(200, {"success": True, "request_id": _uid(), "data": creds})

    def _oss_put(self, req: Recorded, m: re.Match[str]) -> Script:
        """Accept an upload only with the issued security token and a valid V1 signature."""
        key = unquote(m["key"])
        stored = next((f for f in list(self.files.values()) if f.key == key), None)
        if stored is None or m["bucket"] != BUCKET:
            return _oss_error(403, "AccessDenied", "No credentials were issued for this object.")
        if req.headers.get("x-oss-security-token") != stored.security_token:
            return _oss_error(403, "InvalidSecurityToken", "The security token is not valid.")
        if not req.headers.get("date"):
            return _oss_error(403, "AccessDenied", "The request has no Date header.")
        signature = oss_signature(stored.secret, req, f"/{BUCKET}/{key}")
        if req.headers.get("authorization") != f"OSS {stored.key_id}:{signature}":
            return _oss_error(403, "SignatureDoesNotMatch", "The request signature does not match.")
        digest = base64.b64encode(hashlib.md5(req.body).digest()).decode()
        if req.headers.get("content-md5", digest) != digest:
            return _oss_error(400, "InvalidDigest", "The Content-MD5 does not match the body.")
        if len(req.body) != stored.size:
            return _oss_error(400, "InvalidArgument", "The body is not the size declared for it.")
        with self._lock:
            stored.data, stored.content_type = req.body, req.headers.get("content-type", "")
        return Script(status=200, content_type="text/plain", body=b"", headers={"ETag": digest})

    def _owned_file(self, req: Recorded, file_id: Any) -> StoredFile | None:
        stored = self.files.get(file_id) if isinstance(file_id, str) else None
        return stored if stored is not None and self._owns(stored.owner, req) else None

    def _parse(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        stored = self._owned_file(req, body.get("file_id"))
        if stored is None or stored.data is None:
            return business_error("Not_Found", f"file {body.get('file_id')} not found")
        with self._lock:
            stored.parse, stored.pending = "pending", self.parse_pending
        return _json(200, {"success": True, "request_id": _uid(), "data": {}})

    def _parse_status(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        records = []
        for file_id in body.get("file_id_list") or []:
            stored = self._owned_file(req, file_id)
            status = "failed" if stored is None or stored.parse is None else stored.parse
            if stored is not None and status == "pending":
                with self._lock:
                    stored.pending -= 1
                    if stored.pending < 0:
                        stored.parse = status = self.parse_outcome
            records.append({"file_id": file_id, "status": status})
        return _json(200, {"success": True, "request_id": _uid(), "data": records})

    def _bad_files(self, req: Recorded, body: dict[str, Any]) -> Script | None:
        """A message may reference only files its account uploaded; documents must be parsed."""
        files = body["messages"][0].get("files", [])
        if not isinstance(files, list):
            return business_error("Bad_Request", "RequestValidationError: files must be a list")
        for entry in files:
            entry = entry if isinstance(entry, dict) else {}
            stored = self._owned_file(req, entry.get("id"))
            if stored is None or stored.data is None:
                return business_error("Bad_Request", f"file {entry.get('id')} was never uploaded")
            if entry.get("url") != stored.url:
                return business_error("Bad_Request", f"file {stored.id} has another url")
            if (entry.get("type") == "image") != stored.content_type.startswith("image/"):
                return business_error("Bad_Request", f"file {stored.id} is not of its type")
            if entry.get("type") == "file" and stored.parse != "success":
                return business_error("Bad_Request", f"document {stored.id} was not parsed")
        msg = body["messages"][0]
        if msg.get("chat_type") == "image_edit" and not any(
            isinstance(f, dict) and f.get("type") == "image" for f in files
        ):
            return business_error("Bad_Request", "image_edit needs an image in files")
        return None

    def attached_text(self, req: Recorded, msg: dict[str, Any]) -> str:
        """The text of the parsed text documents a message carries: what the model reads."""
        out = []
        for entry in msg.get("files") or []:
            entry = entry if isinstance(entry, dict) else {}
            stored = self._owned_file(req, entry.get("id"))
            if stored is not None and stored.parse == "success" and stored.data is not None:
                if stored.content_type.startswith("text/"):
                    out.append(stored.data.decode("utf-8", "replace"))
        return "\n".join(out)

    def _recall(self, req: Recorded, msg: dict[str, Any]) -> Script | None:
        """Asked "What is the codeword?" in the message text, the fake answers with the last
        "codeword is X" it can see: in its attached text documents, then the message itself."""
        text = msg.get("content") if isinstance(msg.get("content"), str) else ""
        if not RECALL.search(text):
            return None
        found = CODEWORD.findall(self.attached_text(req, msg) + "\n" + text)
        return answer(f"The codeword is {found[-1]}." if found else "I see no codeword.")

    def _start_video(self, req: Recorded, chat: Chat, msg: dict[str, Any], model: str) -> Script:
        """A t2v completion: JSON naming a task (the video is fetched by polling it)."""
        task = VideoTask(
            _uid(), self._token(req) or "", str(msg.get("content")),
            msg.get("size") or (req.json or {}).get("size"),
            self.task_polls, self.task_outcome,
        )  # fmt: skip
        with self._lock:
            self.tasks[task.id] = task
        reply = {"role": "assistant", "chat_type": "t2v", "extra": {"wanx": {"task_id": task.id}}}
        data = {"model": model, "chat_id": chat.id, "messages": [reply]}
        if self.modern:  # S1 §5
            reply |= {"content": "", "done": False, "size": task.size}
            data |= {"parent_id": _uid(), "message_id": _uid()}
        return _json(200, {"success": True, "request_id": _uid(), "data": data})

    def _poll(self, req: Recorded, task_id: str) -> tuple[VideoTask, str, str] | None:
        """One status check: (task, status, video URL) or None for a task not found."""
        task = self.tasks.get(task_id)
        if task is None or not self._owns(task.owner, req):
            return None
        with self._lock:
            task.polls -= 1
            status = "running" if task.polls >= 0 else task.outcome
        content = f"{self.url}/output/t2v/{task.id}.mp4?key=abc" if status == "success" else ""
        return task, "success" if status == "empty" else status, content

    def _task_status(self, req: Recorded, m: re.Match[str]) -> Script:
        """v1 (§6.6): flat JSON; gone in 2026-09."""
        if self.modern:
            return self._not_found()
        polled = self._poll(req, m["tid"])
        if polled is None:
            return business_error("Not_Found", "task not found")
        task, status, content = polled
        return _json(200, {"task_status": status, "content": content, "task_id": task.id})

    def _task_status_v2(self, req: Recorded, m: re.Match[str]) -> Script:
        """``GET /api/v2/task/status/<id>`` (S1 §6): wrapped; any task_status string."""
        polled = self._poll(req, m["tid"])
        if polled is None:
            return business_error("Not_Found", "Task not found")
        task, status, content = polled
        data = {"chat_type": "t2v", "task_status": status, "message": "", "content": content}
        data |= {"remaining_time": "", "sub_chat_type": None, "duration": None}
        return _json(200, {"success": True, "request_id": _uid(), "data": data})
