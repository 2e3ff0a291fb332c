"""Gemini API routes (gemini-cli, google-genai) under /v1beta and /v1: thin views."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("gemini", __name__)
