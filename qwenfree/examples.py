"""What the API reference shows for each operation: a summary in both languages and a request
and response example (``x-summary-zh`` and ``x-examples`` in ``/openapi.json``).

Keyed by Flask endpoint. A route missing here still gets an English summary from its docstring
and a generic example, and the 中文 browser test names it, so a new route is not forgotten.
Examples are illustrations written by hand, shaped like what the gateway answers; they are not
fetched from anywhere.
"""

# ruff: noqa: E501  (sentences in two languages read better whole than cut across lines)
from __future__ import annotations

from typing import Any

# endpoint -> (English sentence, Chinese sentence)
SUMMARIES = {
    "home.index": ("The homepage: a quick start with your credential, snippets and a playground.",
                   "首页：凭据检测、配置示例和试用区的快速入门。"),
    "home.docs": ("This API reference, generated from the routes and their schemas.",
                  "本接口参考，由路由和它们的数据结构自动生成。"),
    "home.openapi_json": ("This API as an OpenAPI 3.1 document.", "本接口的 OpenAPI 3.1 文档。"),
    "home.status": ("Version, whether chat.qwen.ai's model list can be fetched, and the models: a page for browsers, JSON otherwise.",
                    "版本、能否获取 chat.qwen.ai 的模型列表，以及可用模型：浏览器得到页面，其他情况得到 JSON。"),
    "admin.page": ("The admin dashboard: accounts, live charts and caller keys.",
                   "管理面板：账号、实时图表和调用方密钥。"),
    "admin.list_accounts": ("List every server-held account with its state, cooldowns and usage (masked, no secrets).",
                            "列出服务器持有的每个账号及其状态、冷却和用量（已脱敏，不含密钥）。"),
    "admin.add_account": ("Add an account from a token, a browser Cookie header, or an email and password.",
                          "用 token、浏览器 Cookie 请求头或邮箱和密码添加账号。"),
    "admin.remove_account": ("Remove an account; accounts from `QWENFREE_ACCOUNTS` come back at the next start.",
                             "移除账号；来自 `QWENFREE_ACCOUNTS` 的账号会在下次启动时恢复。"),
    "admin.check_account": ("Ask chat.qwen.ai whether the account's token works, and revive or bench the account accordingly.",
                            "询问 chat.qwen.ai 该账号的 token 是否可用，并据此恢复或停用账号。"),
    "admin.refresh_account": ("Sign an account with a password in again now.", "立即让有密码的账号重新登录。"),
    "admin.list_keys": ("Usage per caller key: requests, failures, tokens and last use.",
                        "每个调用方密钥的用量：请求数、失败数、token 数和最近使用时间。"),
    "admin.set_account_cookie": ("Give an account a browser's Cookie header (after passing a captcha there, say): it lifts a challenge cooldown and its cookies ride on the account's calls.",
                                 "为账号设置浏览器的 Cookie 请求头（例如在浏览器中通过验证码之后）：解除验证冷却，之后该账号的请求都会带上这些 Cookie。"),
    "admin.run_doctor": ("Run the live self-check (make doctor) for a configured account: one line per call the gateway needs, with a verdict and advice, redacted.",
                         "对一个已配置账号运行在线自检（与命令行自检相同）：网关所需的每个调用一行，附结论和建议，已脱敏。"),
    "admin.series": ("Per-minute counters of the last hours, for the dashboard's charts.",
                     "最近几小时每分钟的计数，供管理面板的图表使用。"),
    "health.hello": ("Claude Code's reachability probe, answered without calling chat.qwen.ai.",
                     "Claude Code 的连通性探测，不会调用 chat.qwen.ai。"),
    "health.healthz": ("The process is alive; no call to chat.qwen.ai (the container health check).",
                       "进程存活；不调用 chat.qwen.ai（容器健康检查使用）。"),
    "health.ping": ("A minimal liveness answer.", "最简单的存活应答。"),
    "health.readyz": ("Ready to serve: with server-held accounts, at least one can answer; 503 otherwise.",
                      "可以提供服务：使用服务器账号时至少有一个账号可用；否则返回 503。"),
    "health.token_check": ("Check a credential: whether the site accepts it, which kind it is, when it expires and what to do.",
                           "检测凭据：网站是否接受、属于哪种类型、何时过期以及该怎么做。"),
    "metrics.metrics": ("Prometheus metrics of all workers; no authentication and no secrets.",
                        "所有工作进程的 Prometheus 指标；无需认证，不含密钥。"),
    "openai.chat_completions": ("Create a chat completion, streamed or not (OpenAI Chat Completions).",
                                "创建对话补全，可流式返回（OpenAI `chat.completions` 格式）。"),
    "openai.list_models": ("List the models and their mode variants.", "列出模型及其模式变体。"),
    "openai.get_model": ("Describe one model.", "查看单个模型。"),
    "anthropic.messages": ("Create a message, streamed or not (Anthropic Messages, as Claude Code sends).",
                           "创建消息，可流式返回（Anthropic `messages` 格式，与 Claude Code 发送的一致）。"),
    "anthropic.count_tokens": ("Estimate a prompt's size in tokens, as the context budget counts it.",
                               "按上下文预算的算法估算提示词的 token 数。"),
    "gemini.list_models": ("List the Qwen models and their variants as Gemini model resources.",
                           "以 Gemini 模型资源的形式列出 Qwen 模型及其变体。"),
    "gemini.get_model": ("Describe one model; Gemini names such as `gemini-2.5-flash` resolve to a Qwen model.",
                         "查看单个模型；`gemini-2.5-flash` 等 Gemini 名称会对应到 Qwen 模型。"),
    "gemini.model_method": ("Call a model method: `generateContent`, `streamGenerateContent` (with `alt=sse`) or `countTokens`.",
                            "调用模型方法：`generateContent`、`streamGenerateContent`（配合 `alt=sse`）或 `countTokens`。"),
    "images.generations": ("Draw pictures from a prompt.", "根据提示词画图。"),
    "images.edits": ("Edit a picture as a prompt says.", "按提示词编辑图片。"),
    "images.create_video": ("Start making a video from a prompt.", "根据提示词开始生成视频。"),
    "images.get_video": ("Ask how a video is going: queued, in progress, completed or failed.",
                         "查询视频进度：排队中、生成中、已完成或失败。"),
    "images.video_content": ("Redirect to the finished video.", "重定向到已完成的视频。"),
}  # fmt: skip

_CHAT = {"model": "qwen3-max", "messages": [{"role": "user", "content": "Hello"}]}
_MODEL = {"id": "qwen3-max", "object": "model", "created": 1764979200, "owned_by": "qwen"}
_ACCOUNT = {
    "id": "a1b2c3", "alias": "acct-a1b2", "email": "de***@example.com", "token": "…9f3e",  # nosec B105: a masked example
    "state": "ready", "reason": None, "retry_in": None, "requests": 12, "failures": 0,
}  # fmt: skip

# endpoint -> {"args": path arguments, "query": ..., "body": ..., "response": ..., "stream": bool}
EXAMPLES: dict[str, dict[str, Any]] = {
    "openai.chat_completions": {
        "body": _CHAT | {"stream": False},
        "response": {
            "id": "chatcmpl-8f2c", "object": "chat.completion", "model": "qwen3-max",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hello! How can I help?"}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
        },
    },
    "openai.list_models": {"response": {"object": "list", "data": [_MODEL]}},
    "openai.get_model": {"args": {"model_id": "qwen3-max"}, "response": _MODEL},
    "anthropic.messages": {
        "body": {"model": "claude-sonnet-4-5", "max_tokens": 1024,
                 "messages": [{"role": "user", "content": "Hello"}]},
        "response": {
            "id": "msg_01", "type": "message", "role": "assistant", "model": "qwen3-max",
            "content": [{"type": "text", "text": "Hello! How can I help?"}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 9, "output_tokens": 7},
        },
    },
    "anthropic.count_tokens": {
        "body": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hello"}]},
        "response": {"input_tokens": 9},
    },
    "gemini.model_method": {
        "args": {"name": "qwen3-max:generateContent"},
        "body": {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]},
        "response": {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello!"}]},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 2},
        },
    },
    "gemini.list_models": {
        "response": {"models": [{"name": "models/qwen3-max", "displayName": "Qwen3-Max"}]}
    },
    "gemini.get_model": {
        "args": {"name": "gemini-2.5-flash"},
        "response": {"name": "models/qwen3-max", "displayName": "Qwen3-Max"},
    },
    "images.generations": {
        "body": {"model": "qwen3-max-image", "prompt": "A red lantern at night", "n": 1},
        "response": {"created": 1764979200, "data": [{"url": "https://cdn.example/p.png"}]},
    },
    "images.edits": {
        "body": {"prompt": "Make the sky purple", "image": "data:image/png;base64,iVBORw0..."},
        "response": {"created": 1764979200, "data": [{"url": "https://cdn.example/e.png"}]},
    },
    "images.create_video": {
        "body": {"model": "qwen3.7-plus-video", "prompt": "Waves on a beach"},
        "response": {"id": "video_7d1e", "object": "video", "status": "queued"},
    },
    "images.get_video": {
        "args": {"video_id": "video_7d1e"},
        "response": {"id": "video_7d1e", "object": "video", "status": "completed"},
    },
    "images.video_content": {"args": {"video_id": "video_7d1e"}, "response": "302 → Location: …"},
    "health.token_check": {
        "body": {"token": "refresh_token=…"},  # nosec B105: a placeholder
        "response": {"live": True, "kind": "refresh token", "expires_at": "2026-12-06T12:15:00Z"},
    },
    "health.healthz": {"response": {"status": "ok"}},
    "health.hello": {"response": {"status": "ok"}},
    "health.readyz": {
        "response": {"status": "ready", "tokens": "from callers", "chats_pending_cleanup": 0}
    },
    "health.ping": {"response": "pong"},
    "home.status": {
        "response": {
            "service": "qwenfree", "version": "0.1.0", "upstream": {"reachable": True},
            "default_model": "qwen3-max",
            "models": [{"id": "qwen3-max", "name": "Qwen3-Max", "vision": True,
                        "variants": ["qwen3-max", "qwen3-max-thinking", "qwen3-max-search"]}],
        }
    },
    "metrics.metrics": {
        "response": '# TYPE qwenfree_requests_total counter\n'
        'qwenfree_requests_total{dialect="openai",model="qwen3-max",status="200"} 12.0'
    },
    "admin.list_accounts": {
        "response": {"accounts": [_ACCOUNT], "counts": {"ready": 1, "cooling": 0, "dead": 0}}
    },
    "admin.add_account": {
        "body": {"cookie": "refresh_token=…; x5sec=…"},
        "response": {"account": _ACCOUNT | {"source": "admin"}},
    },
    "admin.remove_account": {"args": {"account_id": "a1b2c3"}, "response": {"removed": "a1b2c3"}},
    "admin.check_account": {
        "args": {"account_id": "a1b2c3"},
        "response": {"live": True, "account": _ACCOUNT},
    },
    "admin.refresh_account": {"args": {"account_id": "a1b2c3"}, "response": {"account": _ACCOUNT}},
    "admin.list_keys": {
        "response": {
            "keys": [{"id": "6ab9f1eb8f", "key": "…0001", "requests": 40, "failed": 1,
                      "input_tokens": 5200, "output_tokens": 880, "last_used": None}],
            "rate_limit": "60/minute",
        }
    },
    "admin.set_account_cookie": {
        "args": {"account_id": "a1b2c3"},
        "body": {"cookie": "cna=…; x5sec=…"},
        "response": {"account": _ACCOUNT | {"cookies": ["cna", "x5sec"]}},
    },
    "admin.run_doctor": {
        "body": {"account": "acct-a1b2c3"},
        "response": {
            "ok": True, "profile": "chrome-149-windows", "web_version": "0.3.12",
            "steps": [{"step": "model list", "endpoint": "GET /api/models", "http_status": 200,
                       "actual_status": "200", "code": None, "details": None, "ms": 41.0,
                       "verdict": "ok"}],
            "summary": "OK: all 6 checks passed", "advice": [],
        },
    },
    "admin.series": {
        "response": {"minutes": 180, "start": "2026-12-06T09:00:00Z",
                     "series": {"requests:openai": [0, 2, 5], "errors:rate_limited": [0, 0, 1]}}
    },
}  # fmt: skip
