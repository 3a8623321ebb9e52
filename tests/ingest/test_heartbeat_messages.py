"""A version-2 heartbeat message is read in one call when all its items are good, and item by item when one is
not (so the bad one is named and set aside alone): both readings give the same rows. Pure: no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.core.heartbeats import Delivery, to_message
from services.ingest.heartbeats import process_message

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
DELIVERY = Delivery(7, "2024", "15865", NOW)
ITEMS = st.lists(
    st.fixed_dictionaries(
        {"camera_id": st.from_regex(r"\A[A-Za-z0-9._:-]{1,64}\Z"), "ts": st.integers(-3600, 60)},
        optional={
            "status": st.sampled_from(["ok", "degraded", "down"]),
            "seq": st.integers(0, 2**40),
            "metrics": st.fixed_dictionaries({}, optional={"fps": st.floats(0, 60), "rtt_ms": st.integers(0, 900)}),
            "quality": st.fixed_dictionaries({}, optional={"frozen": st.booleans(), "blur": st.floats(0, 900)}),
        },
    ).map(lambda d: {**d, "ts": (NOW + timedelta(seconds=d["ts"])).isoformat()}),
    min_size=1,
    max_size=20,
)
BAD_ITEMS = st.sampled_from(
    [{"camera_id": "bad id!", "ts": NOW.isoformat()}, {"camera_id": "c", "ts": "yesterday"}, {"camera_id": "c"}, 7]
)


def message(items: list) -> bytes:
    """A v2 message as the gateway writes it, holding exactly these items (valid or not)."""
    envelope = json.loads(to_message([], DELIVERY))
    return json.dumps({**envelope, "items": items}).encode()


@given(ITEMS, BAD_ITEMS, st.integers(0, 20))
def test_a_message_with_a_bad_item_gives_the_rows_of_the_good_ones_as_a_good_message_does(items, bad, at) -> None:
    at = min(at, len(items))
    whole = process_message(message(items))
    assert whole.rejected == () and len(whole.rows) == len(items)
    one_bad = process_message(message([*items[:at], bad, *items[at:]]))
    assert one_bad.rows == whole.rows
    (reason,) = one_bad.rejected
    assert reason.startswith(f"items[{at}]: ")
