"""Opening the embedded server imports only what serving needs (bench/open.py has the times)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Modules an embedded open and a first request must not import: each costs more than the open.
NOT_ON_OPEN = (
    "numpy",  # vector search only
    "sse_starlette",  # streamed responses only (it imports uvicorn)
    "uvicorn",
    "typer",  # the CLI
    "tenacity",  # model providers' retries
    "interstate.cli",
    "interstate.server.providers.gemini",  # providers not configured
    "interstate.server.providers.openai",
    "interstate.server.openapi",
)

_CHILD = """
import sys
from interstate.errors import NotFoundError
from interstate.langgraph import InteractionsSaver
names = set(sys.argv[2:])
with InteractionsSaver.from_url("sqlite:///" + sys.argv[1]) as saver:
    assert saver.get_tuple({"configurable": {"thread_id": "missing"}}) is None
    try:
        saver.client.interactions.get("v1_missing")
    except NotFoundError:
        pass
print(sorted(m for m in sys.modules if m in names or m.split(".")[0] in names))
"""


def test_embedded_open_imports_only_what_it_serves(tmp_path: Path) -> None:
    no_provider = {"GEMINI_API_KEY": "", "GOOGLE_API_KEY": "", "INTERSTATE_PROVIDER": ""}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "open.db"), *NOT_ON_OPEN],
        capture_output=True, text=True, env={**os.environ, **no_provider},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
