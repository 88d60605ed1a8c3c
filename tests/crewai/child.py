"""The second process of the cross-process tests.

``python child.py URL STORE NAME FLOW_ID``: enables interstate on URL (embedded: a SQLite file the
first process also wrote; http: the shared server), runs the same crew again and the flow by id,
and prints one JSON line: whether the crew's prompt carried the first process's memory, and the
flow's state after resuming.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import conftest  # noqa: E402,F401  (the offline switches, before CrewAI is imported)

url, store, name, flow_id = sys.argv[1:5]
if url.startswith("sqlite"):
    from interstate.server.embedded import EmbeddedServer

    EmbeddedServer.start(url, providers=conftest.scripted_registry())

import interstate.crewai as icrew  # noqa: E402
from interstate.client import Client  # noqa: E402

handle = icrew.enable(client=Client.from_url(url), store=store)
count_before = handle.storage.count()

from crewai_script import FACT  # noqa: E402
from flows import counter_flow  # noqa: E402
from helpers import input_text, llm_turns  # noqa: E402
from test_crews import sequential_crew  # noqa: E402

seen = {t.id for t in llm_turns(handle)}
sequential_crew(handle, name).kickoff(inputs={"country": "France"})
fresh = [t for t in llm_turns(handle) if t.id not in seen and t.labels.get("crewai-call") == "agent"]
prompt = input_text(fresh[0]) if fresh else ""

flow = counter_flow()
flow.kickoff(inputs={"id": flow_id})
print(json.dumps({
    "records_before": count_before,
    "recalled": "Memories from past conversations" in prompt and FACT in prompt,
    "flow_id": flow.state.id,
    "turns": flow.state.turns,
    "log": flow.state.log,
}))
