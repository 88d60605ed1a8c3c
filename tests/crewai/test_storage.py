"""``InteractionsStorage`` against CrewAI's ``StorageBackend`` contract, in both modes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from crewai.memory.storage.backend import StorageBackend
from crewai.memory.types import MemoryRecord

from interstate.crewai import HashingEmbedder, InteractionsStorage

EMBED = HashingEmbedder(64)


def rec(content: str, scope: str = "/", **kw: Any) -> MemoryRecord:
    return MemoryRecord(content=content, scope=scope, embedding=EMBED.embed(content), **kw)


@pytest.fixture
def storage(target: Any, request: pytest.FixtureRequest) -> InteractionsStorage:
    import uuid

    return InteractionsStorage(target.client(), store=f"s-{uuid.uuid4().hex[:10]}", embedder=EMBED)


def test_is_a_storage_backend(storage: InteractionsStorage) -> None:
    assert isinstance(storage, StorageBackend)


def test_save_search_filters_and_min_score(storage: InteractionsStorage) -> None:
    paris = rec("The capital of France is Paris", "/crew/a/geo", categories=["geo", "capitals"],
                metadata={"topic": "capitals", "entities": ["France"]}, importance=0.9)
    rome = rec("Rome is the capital of Italy", "/crew/a/geo", categories=["geo"],
               metadata={"topic": "capitals"})
    cake = rec("Bake the cake for forty minutes", "/crew/ab/food", categories=["food"])
    storage.save([paris, rome, cake])

    hits = storage.search(EMBED.embed("capital of France"), limit=3)
    assert [r.id for r, _ in hits][0] == paris.id
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5
    record = hits[0][0]
    assert (record.content, record.scope, record.categories, record.importance) == (
        paris.content, paris.scope, paris.categories, 0.9)
    assert record.metadata == paris.metadata and record.created_at == paris.created_at

    # scope prefix is a path prefix: /crew/a does not match /crew/ab
    assert {r.id for r, _ in storage.search(EMBED.embed("cake"), scope_prefix="/crew/a")} == {
        paris.id, rome.id}
    assert {r.id for r, _ in storage.search(EMBED.embed("cake"), scope_prefix="/crew/ab/")} == {
        cake.id}
    assert {r.id for r, _ in storage.search(EMBED.embed("x"), categories=["capitals", "food"])} == {
        paris.id, cake.id}
    assert [r.id for r, _ in storage.search(EMBED.embed("x"), metadata_filter={"topic": "capitals"},
                                            categories=["capitals"])] == [paris.id]
    assert storage.search(EMBED.embed("capital of France"), min_score=0.99) == []
    assert len(storage.search(EMBED.embed("capital"), limit=1)) == 1
    # a vector of another dimension is another embedder's: refused as CrewAI's storage does
    from crewai.memory.storage.backend import EmbeddingDimensionMismatchError

    with pytest.raises(EmbeddingDimensionMismatchError):
        storage.search([1.0, 0.0, 0.0])


def test_get_update_touch(storage: InteractionsStorage) -> None:
    a = rec("Paris is in France", "/geo", categories=["geo"], metadata={"k": 1, "drop": True})
    storage.save([a])
    assert storage.get_record("missing-id") is None
    got = storage.get_record(a.id)
    assert got is not None and got.content == a.content and got.embedding is None

    # metadata-only update (no embedding given): still searchable afterwards
    storage.update(got.model_copy(update={"categories": ["travel"], "metadata": {"k": 2},
                                          "importance": 0.1}))  # fmt: skip
    again = storage.get_record(a.id)
    assert again is not None
    assert (again.categories, again.metadata, again.importance) == (["travel"], {"k": 2}, 0.1)
    assert [r.id for r, _ in storage.search(EMBED.embed("Paris France"))] == [a.id]

    # content update without an embedding: re-embedded with the storage's embedder
    storage.update(again.model_copy(update={"content": "Lyon is in France"}))
    hits = storage.search(EMBED.embed("Lyon"))
    assert hits[0][0].id == a.id and hits[0][0].content == "Lyon is in France"
    assert storage.count() == 1

    before = storage.get_record(a.id)
    assert before is not None
    storage.touch_records([a.id, "missing-id"])
    after = storage.get_record(a.id)
    assert after is not None and after.last_accessed >= before.last_accessed


def test_list_scopes_categories_count(storage: InteractionsStorage) -> None:
    storage.save([
        rec("one", "/crew/x/agent/a", categories=["c1"]),
        rec("two", "/crew/x/agent/b", categories=["c1", "c2"]),
        rec("three", "/crew/y", categories=["c3"]),
        rec("four", "/"),
    ])  # fmt: skip
    assert storage.count() == 4
    assert storage.count("/crew/x") == 2
    assert storage.list_scopes("/") == ["/crew"]
    assert storage.list_scopes("/crew") == ["/crew/x", "/crew/y"]
    assert storage.list_scopes("/crew/x/agent") == ["/crew/x/agent/a", "/crew/x/agent/b"]
    assert storage.list_categories() == {"c1": 2, "c2": 1, "c3": 1}
    assert storage.list_categories("/crew/x") == {"c1": 2, "c2": 1}
    info = storage.get_scope_info("/crew/x")
    assert (info.record_count, info.categories, info.child_scopes) == (2, ["c1", "c2"], ["/crew/x/agent"])
    assert info.oldest_record is not None and info.newest_record is not None
    records = storage.list_records()
    assert [r.content for r in records] == ["four", "three", "two", "one"]  # newest first
    assert [r.content for r in storage.list_records(limit=2, offset=1)] == ["three", "two"]
    assert [r.content for r in storage.list_records("/crew/x")] == ["two", "one"]


def test_delete_variants_and_reset(storage: InteractionsStorage, target: Any) -> None:
    old = rec("old fact", "/s/a", categories=["k"], created_at=datetime.utcnow() - timedelta(days=9))
    new = rec("new fact", "/s/a", categories=["k"], metadata={"m": "v"})
    other = rec("other fact", "/s/b", categories=["z"])
    keep = rec("kept", "/t")
    storage.save([old, new, other, keep])
    assert storage.delete(record_ids=["missing-id"]) == 0
    assert storage.delete(older_than=datetime.utcnow() - timedelta(days=1)) == 1
    assert storage.get_record(old.id) is None
    assert storage.delete(scope_prefix="/s", metadata_filter={"m": "v"}) == 1
    assert storage.delete(categories=["z"]) == 1
    assert storage.count() == 1
    storage.save([rec("a", "/r/1"), rec("b", "/r/2")])
    storage.reset("/r")
    assert storage.count() == 1 and storage.count("/r") == 0
    storage.reset()
    assert storage.count() == 0

    # records and their embeddings are gone on the server, not just hidden
    client = target.client()
    assert client.interstate.search(labels=storage.labels).results == []


def test_delete_by_ids_leaves_other_stores_alone(storage: InteractionsStorage, target: Any) -> None:
    other = InteractionsStorage(target.client(), store=storage.store + "-b")
    mine, theirs = rec("mine"), rec("theirs")
    storage.save([mine])
    other.save([theirs])
    assert storage.delete(record_ids=[mine.id, theirs.id]) == 1
    assert other.get_record(theirs.id) is not None
    assert storage.get_record(theirs.id) is None  # another store's record is not ours
    other.reset()


def test_async_methods(storage: InteractionsStorage) -> None:
    async def run() -> tuple[Any, int]:
        a = rec("async memory about tea", "/a")
        await storage.asave([a])
        hits = await storage.asearch(EMBED.embed("tea"), scope_prefix="/a")
        return hits, await storage.adelete(record_ids=[a.id])

    hits, deleted = asyncio.run(run())
    assert len(hits) == 1 and deleted == 1 and storage.count() == 0


def test_hashing_embedder_is_deterministic_and_lexical() -> None:
    e = HashingEmbedder()
    a, b = e(["The capital of France is Paris", "capital of France"])
    assert a == e.embed("The capital of France is Paris") and len(a) == 384
    assert abs(sum(x * x for x in a) - 1.0) < 1e-9
    far = e.embed("Bake the cake for forty minutes")
    cos = lambda x, y: sum(p * q for p, q in zip(x, y))  # noqa: E731
    assert cos(a, b) > cos(a, far) + 0.2
    assert e.embed("") == [0.0] * 384


def test_embedding_dimensions_are_checked_as_crewai_does(storage: InteractionsStorage, target: Any) -> None:
    """CrewAI's LanceDB storage raises ``EmbeddingDimensionMismatchError`` on a mixed batch
    (also on a fresh store), on save, search and update with another dimension, and when a
    store is reopened with another embedder; so does ours, changing nothing."""
    from crewai.memory.storage.backend import EmbeddingDimensionMismatchError

    wide = HashingEmbedder(96)
    with pytest.raises(EmbeddingDimensionMismatchError) as mixed:
        storage.save([rec("first"), MemoryRecord(content="other", embedding=wide.embed("other"))])
    assert (mixed.value.stored_dim, mixed.value.new_dim) == (64, 96)
    assert storage.count() == 0  # a refused batch stores nothing
    kept = rec("kept")
    storage.save([kept])
    with pytest.raises(EmbeddingDimensionMismatchError, match="64-dimensional.*96-dimensional"):
        storage.save([MemoryRecord(content="wide", embedding=wide.embed("wide"))])
    with pytest.raises(EmbeddingDimensionMismatchError):
        storage.search(wide.embed("kept"))
    with pytest.raises(EmbeddingDimensionMismatchError):
        storage.update(kept.model_copy(update={"content": "changed", "embedding": wide.embed("changed")}))
    assert storage.count() == 1 and storage.get_record(kept.id).content == "kept"  # type: ignore[union-attr]
    reopened = InteractionsStorage(target.client(), store=storage.store)
    with pytest.raises(EmbeddingDimensionMismatchError) as later:
        reopened.save([MemoryRecord(content="wide", embedding=wide.embed("wide"))])
    assert (later.value.stored_dim, later.value.new_dim) == (64, 96)
    with pytest.raises(EmbeddingDimensionMismatchError):
        reopened.search(wide.embed("kept"))
    assert [r.id for r, _ in reopened.search(EMBED.embed("kept"))] == [kept.id]
    reopened.reset()  # an emptied store takes the new embedder
    reopened.save([MemoryRecord(content="wide", embedding=wide.embed("wide"))])
    assert reopened.count() == 1
