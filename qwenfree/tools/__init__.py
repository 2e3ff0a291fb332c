"""The tool-calling engine, shared by every dialect.

* ``protocol``: how tools, calls and results look in the prompt (the only place for markers).
* ``parser``: incremental extraction of calls from the answer text.
* ``repair``: finding the end of model-written JSON and repairing it.
* ``jsonmode``: JSON-only answers checked against a schema.
* ``engine``: the per-request ``OutputRules`` and the ``Shaper`` the chat service runs every
  upstream answer through.

Dialects only map their JSON to ``ToolSpec``/``ToolCallPart``/``ToolResultPart`` and the
neutral ``ToolCallStart``/``ToolCallDelta`` events back; nothing here knows a dialect.
"""
