"""The derived engagement figures and the retention cohorts (pure)."""

from datetime import date

from services.core.engagement import Figures, cohorts, days_begun


def test_derived_figures() -> None:
    f = Figures(mau=10, active_days=62, days=31, new=4, feedback_submitted=3, population=1000)
    assert (f.dau_avg, f.stickiness, f.returning, f.adoption) == (2.0, 0.2, 6, 0.01)


def test_figures_without_a_denominator_are_blank_not_zero() -> None:
    f = Figures(mau=0, active_days=0, days=0, new=0, feedback_submitted=0, population=None)
    assert (f.dau_avg, f.stickiness, f.adoption) == (None, None, None)
    assert Figures(mau=5, active_days=5, days=1, new=5, feedback_submitted=0, population=0).adoption is None


def test_days_begun() -> None:
    assert days_begun(date(2024, 2, 1), date(2024, 5, 1)) == 29  # leap year, month over
    assert days_begun(date(2024, 3, 1), date(2024, 3, 1)) == 1  # the first day has begun
    assert days_begun(date(2024, 3, 1), date(2024, 3, 15)) == 15
    assert days_begun(date(2024, 4, 1), date(2024, 3, 31)) == 0


def test_cohorts_fill_months_without_activity_and_cross_the_year() -> None:
    rows = [(date(2023, 12, 1), date(2023, 12, 1), 4), (date(2023, 12, 1), date(2024, 2, 1), 1)]
    assert cohorts(rows, date(2024, 2, 1)) == [
        {
            "cohort": "2023-12-01",
            "size": 4,
            "months": [
                {"month": "2024-01-01", "active": 0, "share": 0.0},
                {"month": "2024-02-01", "active": 1, "share": 0.25},
            ],
        }
    ]
