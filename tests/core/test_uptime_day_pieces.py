"""`uptime_days.pieces`: a window cut into whole local days, whole UTC hours (from when they are kept) and signed
raw pieces covers exactly the window — checked as a measure: for any instant, the days and hours that hold it plus
the signs of the raw pieces that hold it make 1 inside the window and 0 outside."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.uptime_days import pieces

ZONES = [ZoneInfo("Asia/Ho_Chi_Minh"), ZoneInfo("UTC"), ZoneInfo("Europe/Berlin")]  # Berlin: days of 23 and 25 h
T0 = datetime(2025, 3, 28, tzinfo=UTC)


def weight(at: datetime, cut, tz: ZoneInfo) -> int:
    local_day = at.astimezone(tz).date()
    days = sum(1 for d in cut.days if d == local_day)
    hours = sum(1 for h in cut.hours if h <= at < h + timedelta(hours=1))
    return days + hours + sum(sign for lo, hi, sign in cut.raw if lo <= at < hi)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 6 * 86400),
    st.integers(1, 4 * 86400),
    st.sampled_from(ZONES),
    st.lists(st.integers(-86400, 10 * 86400), min_size=1, max_size=30),
    st.sampled_from([None, 0, 2 * 86400, 20 * 86400]),
    st.one_of(st.none(), st.integers(-86400, 10 * 86400)),
)
def test_pieces_cover_the_window_once(
    start_s: int, length_s: int, tz: ZoneInfo, probes: list[int], kept_s: int | None, stored_s: int | None
) -> None:
    start = T0 + timedelta(seconds=start_s)
    end = start + timedelta(seconds=length_s)
    stored_until = None if stored_s is None else T0 + timedelta(seconds=stored_s)
    cut = pieces(start, end, tz, None if kept_s is None else T0 + timedelta(seconds=kept_s), stored_until)
    assert len(set(cut.hours)) == len(cut.hours)
    assert all(h >= T0 + timedelta(seconds=kept_s or 0) for h in cut.hours)
    for p in [*probes, start_s, start_s + length_s - 1, start_s + length_s]:
        at = T0 + timedelta(seconds=p)
        assert weight(at, cut, tz) == (1 if start <= at < end else 0), (start, end, at)


def test_a_month_is_whole_days_and_today_is_the_day_less_the_rest() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    month = pieces(datetime(2026, 10, 1, tzinfo=tz), datetime(2026, 11, 1, tzinfo=tz), tz)
    assert len(month.days) == 31 and month.raw == ()
    now = datetime(2026, 10, 31, 21, 0, tzinfo=tz)
    today = pieces(datetime.combine(now.date(), time(0), tzinfo=tz), now, tz)
    assert today.days == (now.date(),)
    assert today.raw == ((now, datetime(2026, 11, 1, tzinfo=tz), -1),)
    morning = pieces(datetime(2026, 10, 31, tzinfo=tz), datetime(2026, 10, 31, 3, tzinfo=tz), tz)
    assert morning.days == () and len(morning.raw) == 1


def test_today_is_its_hours_and_the_current_hour_less_the_rest() -> None:
    """With hours kept, a part day reads whole hours and at most one hour's remainder at each end: today up to
    21:40 is 21 hours and the hour of 21:00 less [21:40, 22:00) — nothing stored lies after now."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    now = datetime(2026, 10, 31, 21, 40, tzinfo=tz)
    midnight = datetime(2026, 10, 31, tzinfo=tz)
    today = pieces(midnight, now, tz, hours_from=midnight - timedelta(days=30))
    assert today.days == ()
    assert today.hours == tuple(midnight + timedelta(hours=k) for k in range(22))
    assert today.raw == ((now, datetime(2026, 10, 31, 22, tzinfo=tz), -1),)
    early = pieces(midnight, now, tz, hours_from=midnight + timedelta(hours=1))  # not kept that far back
    assert early.hours == () and early.days == (now.date(),)


def test_a_window_ending_now_reads_only_after_now() -> None:
    """Early in an hour (or a day), the part so far is still read as the whole less [now, its end) when nothing is
    stored after now: any piece of the past reads about the whole fleet, however short."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    now = datetime(2026, 10, 31, 21, 5, tzinfo=tz)
    hour = datetime(2026, 10, 31, 21, tzinfo=tz)
    cut = pieces(hour, now, tz, hours_from=hour - timedelta(days=3), stored_until=now - timedelta(seconds=20))
    assert cut.hours == (hour,) and cut.raw == ((now, hour + timedelta(hours=1), -1),)
    assert pieces(hour, now, tz, hours_from=hour - timedelta(days=3)).raw == ((hour, now, 1),)  # unknown: shorter
    morning = datetime(2026, 10, 31, 3, tzinfo=tz)
    day = pieces(morning.replace(hour=0), morning, tz, stored_until=morning)
    assert day.days == (morning.date(),) and day.raw == ((morning, datetime(2026, 11, 1, tzinfo=tz), -1),)
