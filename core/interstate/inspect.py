"""Render stored conversations for people: a chain as a list of turns, and a list of threads.

Used by ``interstate show`` and ``interstate threads``; works on any interstate target (embedded
or HTTP) through the client's extensions. Both read at 80 columns: a linear chain is a flat list
(it branches only where the conversation forks), ids are never broken, a message is shown once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Iterable

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from interstate.client import Client

EXCERPT = 100
#: Indentation of a turn's steps under its header.
STEP_INDENT = 4
_STEP_STYLES = {"user_input": "cyan", "model_output": "green", "function_call": "yellow",
                "function_result": "magenta", "thought": "dim"}  # fmt: skip
_STATUS_STYLES = {"requires_action": "yellow", "failed": "red", "cancelled": "red",
                  "in_progress": "blue"}  # fmt: skip


def excerpt(text: str, limit: int = EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _content_text(contents: Iterable[dict[str, Any]] | None) -> str:
    parts = []
    for content in contents or []:
        kind = content.get("type")
        parts.append(content.get("text", "") if kind == "text" else f"[{kind}]")
    return " ".join(p for p in parts if p)


def step_body(step: dict[str, Any]) -> str:
    """What a step says, in one line (not shortened)."""
    kind = step.get("type", "?")
    if kind in ("user_input", "model_output"):
        return _content_text(step.get("content"))
    if kind == "thought":
        return _content_text(step.get("summary")) or "(signature only)"
    if kind == "function_call":
        return f"{step.get('name')}({json.dumps(step.get('arguments'), ensure_ascii=False)})"
    if kind == "function_result":
        result = step.get("result")
        shown = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        return f"{step.get('name') or step.get('call_id')} → {shown}"
    return json.dumps({k: v for k, v in step.items() if k != "type"}, ensure_ascii=False)


def describe_step(step: dict[str, Any]) -> Text:
    """One line for a step: its type, then what it says."""
    kind = step.get("type", "?")
    return Text.assemble((kind, _STEP_STYLES.get(kind, "white")), "  ", excerpt(step_body(step)))


def _labels(labels: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (labels or {}).items())


def _turn_header(turn: dict[str, Any], *, focus: bool) -> Text:
    """The turn's id (whole: the header wraps between its fields, never inside the id), status,
    model or agent, kind and labels."""
    info = turn.get("interstate") or {}
    status = turn.get("status") or ""
    labels = _labels(turn.get("labels"))
    fields: list[Any] = [(turn["id"], "bold reverse" if focus else "bold"), (" ◀" if focus else "", "bold"),
                         "  ", (status, _STATUS_STYLES.get(status, ""))]  # fmt: skip
    for extra in (turn.get("model") or turn.get("agent"), info.get("kind")):
        if extra:
            fields.append(f"  {extra}")
    if labels:
        fields.append((f"  [{labels}]", "dim"))
    return Text.assemble(*fields)


class ChainView:
    """The tree of turns in export ``lines`` (parents first): the chain from the root to
    ``focus`` with its steps, one turn after another; at a fork, the branch holding ``focus``
    goes on and the others are folded to their first turn and a count."""

    def __init__(self, lines: list[dict[str, Any]], focus: str) -> None:
        self.turns = {line["interaction"]["id"]: {**line["interaction"], "interstate": line.get("interstate")}
                      for line in lines}  # fmt: skip
        self.children: dict[str, list[str]] = defaultdict(list)
        self.roots: list[str] = []
        for turn_id, turn in self.turns.items():
            parent = turn.get("previous_interaction_id")
            (self.children[parent] if parent in self.turns else self.roots).append(turn_id)
        self.focus = focus
        self.path: set[str] = set()
        cursor: str | None = focus
        while cursor in self.turns:
            self.path.add(cursor)
            cursor = self.turns[cursor].get("previous_interaction_id")

    def render(self) -> RenderableType:
        if len(self.roots) == 1:
            return self._run(self.roots[0], None)[0]
        return self._fork(self.roots, None)

    def _run(self, start: str, last_user: dict[str, Any] | None) -> tuple[Group, dict[str, Any] | None]:
        """``start`` and the turns after it up to the next fork (or the end), flat."""
        parts: list[RenderableType] = []
        cursor = start
        while True:
            turn = self.turns[cursor]
            parts.append(_turn_header(turn, focus=cursor == self.focus))
            if cursor in self.path:
                steps, last_user = self._steps(turn, last_user)
                if steps is not None:
                    parts.append(Padding(steps, (0, 0, 0, STEP_INDENT), expand=False))
            kids = self.children.get(cursor, [])
            if len(kids) != 1:
                if kids:
                    parts.append(self._fork(kids, last_user))
                return Group(*parts), last_user
            cursor = kids[0]

    def _fork(self, kids: list[str], last_user: dict[str, Any] | None) -> Tree:
        tree = Tree(Text(f"forks into {len(kids)} branches:", "dim"), guide_style="dim")
        for kid in kids:
            tree.add(self._run(kid, last_user)[0] if kid in self.path else self._folded(kid))
        return tree

    def _folded(self, start: str) -> RenderableType:
        """A branch off the shown chain: its first turn, and how many follow."""
        below, newest, stack = 0, start, list(self.children.get(start, []))
        while stack:
            turn_id = stack.pop()
            below += 1
            newest = max(newest, turn_id, key=lambda i: self.turns[i].get("created") or "")
            stack.extend(self.children.get(turn_id, []))
        header = _turn_header(self.turns[start], focus=False)
        if not below:
            return header
        more = f"+{below} more turn{'s' if below > 1 else ''}, newest {newest}"
        return Group(header, Padding(Text(more, "dim"), (0, 0, 0, STEP_INDENT), expand=False))

    @staticmethod
    def _steps(turn: dict[str, Any], last_user: dict[str, Any] | None) -> tuple[Table | None, dict[str, Any] | None]:
        """The turn's input and steps as a two-column grid (text wrapped under its column). A
        user message equal to the last one shown, with nothing in between, is not repeated:
        LangGraph records a turn's input in two checkpoints."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for step in [*(turn.get("input") or []), *(turn.get("steps") or [])]:
            kind = step.get("type", "?")
            if kind == "user_input" and step == last_user:
                continue
            last_user = step if kind == "user_input" else None
            grid.add_row(Text(kind, _STEP_STYLES.get(kind, "white")), excerpt(step_body(step)))
        return (grid if grid.row_count else None), last_user


def show(client: Client, interaction_id: str, console: Console) -> None:
    lines = [json.loads(line) for line in client.interstate.export([interaction_id]).splitlines()]
    console.print(ChainView(lines, interaction_id).render())


def threads(
    client: Client, console: Console, *, limit: int, labels: dict[str, str] | None = None,
    tenant: str | None = None,
) -> int:
    """Recent conversations, newest first: each chain's newest turn (leaf) on a line of its own,
    then its last step, cut to the width. ``tenant``: the tenant read, named in the title (an
    embedded database; a server's key decides otherwise). Returns how many were shown."""
    page = client.interstate.list(leaves=True, page_size=limit, labels=labels or None)
    if not page.interactions:
        return 0
    whose = f" of tenant {tenant!r}" if tenant else ""
    console.print(Text(f"Recent threads{whose} (the newest turn of each chain), newest first", "bold"))
    for turn in page.interactions:
        info = turn.interstate
        turns = (info.depth or 0) + 1 if info else None
        updated = str(getattr(turn, "updated", "") or "")
        fields: list[Any] = [(turn.id, "bold")]
        for field in (f"{turns} turn{'s' if turns != 1 else ''}" if turns else "", turn.status,
                      turn.model or turn.agent, updated):  # fmt: skip
            if field:
                fields.append(f"  {field}")
        if turn.labels:
            fields.append((f"  [{_labels(turn.labels)}]", "dim"))
        console.print(Text.assemble(*fields))
        steps = [s.to_wire() for s in turn.steps or []]
        if steps:
            last = describe_step(steps[-1])
            last.no_wrap, last.overflow = True, "ellipsis"
            console.print(Padding(last, (0, 0, 0, STEP_INDENT), expand=False))
    return len(page.interactions)
