"""Every python code block in the README runs (offline), so the quickstarts stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})


def test_readme_has_blocks_and_the_test_command() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(BLOCKS) >= 2
    assert 'python -m pip install -e ".[dev]" && python -m pytest' in text
    assert 'python -m pip install -e ".[dev]" && python -m pytest' in Path(
        README.parent, ".ci", "run"
    ).read_text(encoding="utf-8")
