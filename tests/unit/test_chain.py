"""The worker's chain: which steps each composition runs, in the order worker/chain.py
documents, and the items settled afresh by every run (a refused batch is run again in
parts). No database: the steps tested here touch none, and the split on refusal is
driven by plain functions standing in for a transaction."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any, cast

from schemas.envelope import EventEnvelope
from worker import chain, steps
from worker.batch import Batch, BatchResult, Polled, Stream
from worker.chain import REBUILD, REPLAY, live_sync
from worker.decode import decode
from worker.errors import PermanentDbError
from worker.item import Accepted, Decoded, Record, Rejected
from worker.refusals import SplitOnRefusal
from worker.store import TxConn

STREAM = Stream("group", "topic")
NO_CONNECTION = cast(TxConn, None)  # the steps run here send nothing to the database


def _name(step: steps.Step) -> str:
    names = {
        steps.Fence: "fence",
        steps.StoreOffsets: "store_offsets",
        steps.RecordLatencyBudget: "latency_budget",
    }
    if type(step) in names:
        return names[type(step)]
    return "access" if step is steps.sync_batch_access else getattr(step, "__name__", "?")


def _documented_steps() -> list[str]:
    doc = chain.__doc__ or ""
    listed = doc.split("The steps, in the order they run:")[1].split("The compositions:")[0]
    return re.findall(r"^    (\w+) ", listed, flags=re.MULTILINE)


def test_live_sync_runs_every_step_in_the_documented_order() -> None:
    assert [_name(step) for step in live_sync(STREAM, 30.0)] == _documented_steps()


def test_replay_has_no_fence_inbox_offsets_or_latency_budget() -> None:
    names = [_name(step) for step in REPLAY]
    for left_out in ("fence", "dedupe", "store_offsets", "latency_budget"):
        assert left_out not in names
    assert names == [n for n in _documented_steps() if n in names]  # the same order


def test_rebuild_takes_no_directory_locks_and_leaves_access_alone() -> None:
    names = [_name(step) for step in REBUILD]
    assert names == [
        n for n in (_name(s) for s in REPLAY) if n not in ("lock_directories", "access")
    ]


def _item(user_id: str, offset: int, partition: int = 0) -> Decoded:
    data: dict[str, Any] = {
        "id": user_id,
        "directory_id": "directory_1",
        "organization_id": "org_1",
        "idp_id": user_id,
        "email": None,
        "first_name": None,
        "last_name": None,
        "state": "active",
        "custom_attributes": {},
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:00:00.000Z",
    }
    payload = {"id": f"event_{offset}", "event": "dsync.user.created", "data": data}
    body = json.dumps({**payload, "created_at": "2024-01-01T00:00:00.000Z"})
    envelope = EventEnvelope(
        source="workos",
        event_id=f"event_{offset}",
        event_type="dsync.user.created",
        directory_id="directory_1",
        received_at=datetime(2024, 5, 6, tzinfo=UTC),
        body=body.encode(),
    )
    record = Record("topic", partition, offset, body.encode(), tuple(envelope.headers()))
    return decode(record)


async def test_an_item_settled_by_an_earlier_run_is_settled_again() -> None:
    """A part of a refused batch, or a batch run again without a held partition, must not
    keep the outcome a rolled-back run gave it."""
    item = _item("directory_user_1", 0)
    assert isinstance(item, Accepted)
    item.settle("dead_lettered", "refused by a rolled-back run")
    batch = Batch.of_items([item])

    for step in (steps.set_aside_rejected, steps.fold):
        await step(NO_CONNECTION, batch)

    assert (item.outcome, item.reason) == ("applied", None)
    assert batch.result().outcomes == Counter({"applied": 1})


class _Database:
    """Stands in for the transactions of the chain: refuses every poll holding `poison`."""

    def __init__(self, poison: Decoded) -> None:
        self.poison = poison
        self.refused_alone: list[Rejected] = []

    async def run(self, polled: Polled) -> BatchResult:
        items = [item for partition in sorted(polled) for item in polled[partition]]
        if self.poison in items:
            raise PermanentDbError("23514", "check_violation")
        for item in items:
            if isinstance(item, Rejected):
                self.refused_alone.append(item)
                item.settle("dead_lettered", item.reason)
            else:
                item.settle("applied")
        next_offsets = {p: polled[p][-1].record.offset + 1 for p in polled}
        outcomes = Counter(item.outcome for item in items if item.outcome)
        return BatchResult(outcomes, next_offsets, list(items))


async def test_a_refused_batch_is_settled_in_halves_and_the_refused_event_alone() -> None:
    polled: dict[int, list[Any]] = {
        0: [_item(f"u{n}", n) for n in range(6)],
        1: [_item(f"v{n}", n, partition=1) for n in range(3)],
    }
    poison = polled[0][4]
    database = _Database(poison)
    split = SplitOnRefusal(database.run, database.run)

    result = await split(polled)

    assert result.outcomes == Counter({"applied": 8, "dead_lettered": 1})
    assert result.next_offsets == {0: 6, 1: 3}
    [refused] = database.refused_alone
    assert refused.record == poison.record
    assert refused.reason.startswith("database refused the event")
    assert 0 < split.transactions <= 2 * 4  # k·2·log2(n) for one refused event of nine
