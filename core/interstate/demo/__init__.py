"""``interstate demo``: what interstate does for LangGraph, AutoGen and CrewAI, in one run.

Each framework runs a few turns with a tool call on the embedded server (a SQLite file, no
network; the scripted model, or Gemini when ``GEMINI_API_KEY`` is set), is resumed from the
database alone in a new process, and is measured against the same conversation run the stock
way. ``run_demo`` is the entry point; the frameworks are imported only while their part runs.
"""

from interstate.demo._app import run_demo
from interstate.demo._setup import MissingFrameworkError, choose_mode

__all__ = ["run_demo", "choose_mode", "MissingFrameworkError"]
