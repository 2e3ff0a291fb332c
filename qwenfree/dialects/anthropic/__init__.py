"""Anthropic Messages routes (Claude Code, the anthropic SDK): thin views over the chat service."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("anthropic", __name__, url_prefix="/v1")
