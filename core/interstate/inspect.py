"""Render stored conversations for people: a chain as a tree of turns, and a list of threads.

Used by ``interstate show`` and ``interstate threads``; works on any interstate target (embedded
or HTTP) through the client's extensions.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from interstate.client import Client

EXCERPT = 100


def excerpt(text: str, limit: int = EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _content_text(contents: Iterable[dict[str, Any]] | None) -> str:
    parts = []
    for content in contents or []:
        kind = content.get("type")
        parts.append(content.get("text", "") if kind == "text" else f"[{kind}]")
    return " ".join(p for p in parts if p)


def describe_step(step: dict[str, Any]) -> Text:
    """One line for a step: its type, then what it says."""
    kind = step.get("type", "?")
    if kind in ("user_input", "model_output"):
        body = _content_text(step.get("content"))
    elif kind == "thought":
        body = _content_text(step.get("summary")) or "(signature only)"
    elif kind == "function_call":
        body = f"{step.get('name')}({json.dumps(step.get('arguments'), ensure_ascii=False)})"
    elif kind == "function_result":
        result = step.get("result")
        shown = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        body = f"{step.get('name') or step.get('call_id')} → {shown}"
    else:
        body = json.dumps({k: v for k, v in step.items() if k != "type"}, ensure_ascii=False)
    style = {"user_input": "cyan", "model_output": "green", "function_call": "yellow",
             "function_result": "magenta", "thought": "dim"}.get(kind, "white")  # fmt: skip
    return Text.assemble((f"{kind:<16}", style), excerpt(body))


def _turn_label(turn: dict[str, Any], highlight: bool) -> Text:
    info = turn.get("interstate") or {}
    labels = ",".join(f"{k}={v}" for k, v in (turn.get("labels") or {}).items())
    return Text.assemble(
        (turn["id"], "bold reverse" if highlight else "bold"),
        f"  {turn.get('status')}",
        f"  {turn.get('model') or turn.get('agent') or ''}",
        f"  {info.get('kind', '')}",
        (f"  [{labels}]" if labels else "", "dim"),
    )


def chain_tree(lines: list[dict[str, Any]], focus: str) -> Tree:
    """The tree of turns in export ``lines`` (parents first), with each turn's steps."""
    turns = {line["interaction"]["id"]: line for line in lines}
    path: set[str] = set()
    cursor: str | None = focus
    while cursor in turns:
        path.add(cursor)
        cursor = turns[cursor]["interaction"].get("previous_interaction_id")
    nodes: dict[str, Tree] = {}
    root: Tree | None = None
    for line in lines:
        turn = {**line["interaction"], "interstate": line.get("interstate")}
        parent = nodes.get(turn.get("previous_interaction_id") or "")
        label = _turn_label(turn, highlight=turn["id"] == focus)
        node = parent.add(label) if parent is not None else Tree(label)
        if parent is None and root is None:
            root = node
        if turn["id"] in path:  # steps of the focused chain; other branches stay folded
            for step in [*(turn.get("input") or []), *(turn.get("steps") or [])]:
                node.add(describe_step(step))
        nodes[turn["id"]] = node
    assert root is not None
    return root


def show(client: Client, interaction_id: str, console: Console) -> None:
    lines = [json.loads(line) for line in client.interstate.export([interaction_id]).splitlines()]
    console.print(chain_tree(lines, interaction_id))


def threads(
    client: Client, console: Console, *, limit: int, labels: dict[str, str] | None = None
) -> None:
    """Recent conversations: their newest turns (leaves), newest first."""
    page = client.interstate.list(leaves=True, page_size=limit, labels=labels or None)
    table = Table(title="recent threads (newest turn of each chain)")
    table.add_column("latest turn", no_wrap=True)
    for column in ("turns", "status", "model", "updated", "labels", "last step"):
        table.add_column(column)
    for turn in page.interactions:
        info = turn.interstate
        steps = [s.to_wire() for s in turn.steps or []]
        last = describe_step(steps[-1]).plain if steps else ""
        table.add_row(
            turn.id,
            str((info.depth or 0) + 1 if info else "?"),
            turn.status or "",
            turn.model or turn.agent or "",
            str(getattr(turn, "updated", "") or ""),
            ",".join(f"{k}={v}" for k, v in (turn.labels or {}).items()),
            excerpt(last, 60),
        )
    console.print(table)
    if not page.interactions:
        console.print("No interactions stored yet.")
