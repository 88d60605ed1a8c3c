"""The scripted model's rules for the CrewAI tests (embedded and HTTP servers use the same).

Agents pick their behaviour by model name (``scripted-researcher``, ``scripted-writer``,
``scripted-manager``, ``scripted-react``); CrewAI memory's own LLM calls are recognised by their
prompts and answered with the JSON its schemas expect.
"""

from __future__ import annotations

import json
from typing import Any

FACT = "The capital of France is Paris."
#: A long answer (non-ASCII, quotes, backslashes, newlines) that later prompts quote.
ESSAY = (
    "Essay on capitals \u2014 na\u00efve caf\u00e9 notes from \u6771\u4eac \U0001f680.\n"
    + " ".join(f'Paragraph {n}: "capitals" are chosen for reasons of trade, defence and '
               f"symbolism (path C:\\maps\\{n}); \u00c5land is an exception." for n in range(6))
)

RULES: list[dict[str, Any]] = [
    # a failing model turn (the adapters must raise, not return an empty reply)
    {"when": {"model": "scripted-fail"}, "reply": {"error": {"status": 503, "message": "simulated outage"}}},
    # -- CrewAI memory's analysis calls (any model) -----------------------------------------
    {"when": {"contains": "Extract memory statements"},
     "reply": {"text": json.dumps({"memories": [FACT]})}},
    {"when": {"contains": "Content to store:"},
     "reply": {"text": json.dumps({
         "suggested_scope": "/geography", "categories": ["geography", "capitals"],
         "importance": 0.7,
         "extracted_metadata": {"entities": ["France", "Paris"], "dates": [], "topics": ["capitals"]},
     })}},
    {"when": {"contains": "New content to consider storing"},
     "reply": {"text": json.dumps({"actions": [], "insert_new": False,
                                   "insert_reason": "already known"})}},
    {"when": {"contains": "Available scopes:"},
     "reply": {"text": json.dumps({"keywords": ["capital"], "suggested_scopes": [],
                                   "complexity": "simple", "recall_queries": ["capital"]})}},
    # -- the researcher: one native tool call, then the answer ------------------------------
    {"when": {"model": "scripted-researcher", "after": "user_input", "tool": "lookup_fact"},
     "reply": {"function_calls": [{"name": "lookup_fact", "arguments": {"topic": "France"}}]}},
    {"when": {"model": "scripted-researcher", "after": "function_result"},
     "reply": {"text": "Research: {result}"}},
    # -- the essayist: answers at once, at length (quoted by later prompts) --------------------
    {"when": {"model": "scripted-essay"}, "reply": {"text": ESSAY}},
    # -- the writer: answers at once ----------------------------------------------------------
    {"when": {"model": "scripted-writer"}, "reply": {"text": "Report: Paris is the capital of France."}},
    # -- a hierarchical crew's manager: delegates, then reports -------------------------------
    {"when": {"model": "scripted-manager", "after": "user_input", "tool": "delegate_work_to_coworker"},
     "reply": {"function_calls": [{"name": "delegate_work_to_coworker", "arguments": {
         "task": "Find the capital of France", "context": "Use lookup_fact.",
         "coworker": "Geography Researcher"}}]}},
    {"when": {"model": "scripted-manager", "after": "function_result"},
     "reply": {"text": "Manager summary: {result}"}},
    # -- says whether the lookup tool was offered this turn (config inheritance) --------------
    {"when": {"model": "scripted-toolcheck", "tool": "lookup_fact"},
     "reply": {"text": "lookup_fact offered (turn {turn})"}},
    {"when": {"model": "scripted-toolcheck"}, "reply": {"text": "no tools (turn {turn})"}},
    # -- the ReAct text protocol (function_calling=False); the reply runs past the stop word --
    {"when": {"model": "scripted-react", "contains": "Current Task"},
     "reply": {"text": "Thought: I should look it up\nAction: lookup_fact\n"
                       "Action Input: {\"topic\": \"France\"}\nObservation: made up by the model"}},
    {"when": {"model": "scripted-react"},
     "reply": {"text": "Thought: I now know the final answer\nFinal Answer: Paris (turn {turn})"}},
]  # fmt: skip
