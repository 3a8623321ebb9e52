"""The batch waiting for the writer (`consumer._Handover`): what is decoded while the writer is busy joins it, in
order, up to the pipeline's bounds; beyond them the fetcher waits. Pure asyncio: no Kafka, no database."""

from __future__ import annotations

import asyncio

from aiokafka import ConsumerRecord

from services.ingest.consumer import Pipeline, _Batch, _Handover


def pipeline(batch_max: int, batch_max_bytes: int) -> Pipeline[int]:
    return Pipeline("t", "t.dlq", "g", decode=int, write=lambda c, items: len(items), batch_max=batch_max,
                    batch_max_bytes=batch_max_bytes)  # fmt: skip


def batch(*offsets: int, size: int = 10) -> _Batch[int]:
    records = [ConsumerRecord("t", 0, o, 0, 0, None, b"x" * size, None, size, -1, []) for o in offsets]
    return _Batch(records, list(offsets), {}, [], size * len(offsets))


async def test_batches_decoded_while_the_writer_is_busy_join_in_order_up_to_the_bounds() -> None:
    handover: _Handover[int] = _Handover(pipeline(batch_max=5, batch_max_bytes=1000))
    await handover.put(batch(0, 1))
    await handover.put(batch(2, 3))
    blocked = asyncio.create_task(handover.put(batch(4, 5)))  # 6 messages would pass batch_max
    await asyncio.sleep(0)  # ok: one turn of the loop lets the task reach its wait; nothing is timed
    assert not blocked.done()
    first = await handover.take()
    assert first is not None and first.items == [0, 1, 2, 3] and [r.offset for r in first.records] == [0, 1, 2, 3]
    assert first.size == 40
    await blocked
    await handover.close()
    second = await handover.take()
    assert second is not None and second.items == [4, 5]
    assert await handover.take() is None  # closed, nothing waiting


async def test_a_batch_over_the_byte_bound_waits_for_the_writer() -> None:
    handover: _Handover[int] = _Handover(pipeline(batch_max=100, batch_max_bytes=50))
    await handover.put(batch(0, 1, 2))  # 30 bytes
    blocked = asyncio.create_task(handover.put(batch(3, 4, 5)))  # 60 together
    await asyncio.sleep(0)  # ok: one turn of the loop lets the task reach its wait; nothing is timed
    assert not blocked.done()
    assert (await handover.take()).items == [0, 1, 2]
    await blocked
    assert (await handover.take()).items == [3, 4, 5]
