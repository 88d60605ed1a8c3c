"""A checkpoint's skeleton, stored as a delta to its parent's, comes back as it was put: chains of
random checkpoints (versions added, bumped and removed, nodes' versions seen added and dropped,
names that are packed, timestamps that do and do not convert to microseconds, extra keys)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from interstate.langgraph._skeleton import checkpoint_of, compress_skeleton, expand_skeleton

NAMES = ["messages", "__start__", "branch:to:agent", "agent", "x", "__pregel_tasks", "!odd", "@at", "~"]
TIMES = ["2024-07-01T12:00:00.123456+00:00", "2024-07-01T12:00:01+00:00", "2024-07-01T12:00:02", "odd"]


def _checkpoint(rng: random.Random, parent: dict[str, Any] | None) -> dict[str, Any]:
    old = dict(parent["channel_versions"]) if parent else {}
    if old and rng.random() < 0.5 and all(type(v) is int for v in old.values()):
        following = max(old.values()) + 1  # as LangGraph numbers them (stored as names only)
        versions = {**old, **{k: following for k in rng.sample(NAMES, 2)}}
    else:
        versions = {n: rng.randint(1, 9) for n in rng.sample(NAMES, rng.randint(0, 5))}
    for gone in rng.sample(list(versions), min(len(versions), rng.randint(0, 1))):
        del versions[gone]
    seen = {n: {m: rng.randint(1, 5) for m in rng.sample(NAMES, rng.randint(0, 3))}
            for n in rng.sample(NAMES, rng.randint(0, 4))}  # fmt: skip
    checkpoint: dict[str, Any] = {
        "v": rng.choice([4, 4, 3]), "id": "x", "ts": rng.choice(TIMES), "channel_values": {},
        "channel_versions": versions, "versions_seen": seen,
        "updated_channels": rng.choice([None, list(versions)[:2], ["not-a-channel"]]),
    }  # fmt: skip
    if rng.random() < 0.3:
        checkpoint["pending_sends"] = [rng.randint(0, 9)]
    return checkpoint


@pytest.mark.parametrize("seed", range(20))
def test_skeletons_come_back_as_they_were_put(seed: int) -> None:
    rng, serde = random.Random(seed), JsonPlusSerializer()
    for _ in range(25):
        parent_full: dict[str, Any] | None = None
        for _ in range(rng.randint(1, 6)):
            checkpoint = _checkpoint(rng, parent_full)
            stored = compress_skeleton(checkpoint, parent_full, serde)
            full = expand_skeleton(stored, parent_full)
            assert checkpoint_of(full, "x", {}, serde) == checkpoint
            assert full["changed"] == [k for k, v in checkpoint["channel_versions"].items()
                                       if parent_full is None or parent_full["channel_versions"].get(k) != v]  # fmt: skip
            without_ts = expand_skeleton(stored, parent_full, with_ts=False)
            assert {**without_ts, "ts": full["ts"]} == full
            parent_full = full
