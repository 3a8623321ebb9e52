"""Every word and number format of the monthly briefing, Vietnamese first (SPEC §1), English beside it."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.reports.model import DistrictRow, MonthlyReport, UnitRow

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "BÁO CÁO",
        "subtitle": "Tình hình hoạt động hệ thống camera an ninh trật tự và ứng dụng HoangHoaS tháng {month}",
        "authority": "ỦY BAN NHÂN DÂN",
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "motto": "Độc lập - Tự do - Hạnh phúc",
        "place_date": "{place}, ngày {d} tháng {m} năm {y}",
        "as_of": "Số liệu tính đến {time}.",
        "unit_set_2024": "Đơn vị: 37 xã, thị trấn (trước sắp xếp 2025)",
        "unit_set_2025": "Đơn vị: các xã sau sắp xếp năm 2025 (số liệu cộng từ các xã cũ)",
        "unit_set_other": "Bộ đơn vị: {unit_set}",
        "s_summary": "I. TỔNG HỢP TOÀN {district_upper}",
        "s_units": "II. SỐ LIỆU THEO ĐƠN VỊ",
        "s_ranking": "III. ĐƠN VỊ DẪN ĐẦU VÀ CUỐI BẢNG (tỷ lệ camera hoạt động)",
        "s_charts": "IV. BIỂU ĐỒ",
        "s_shortfalls": "V. TỒN TẠI, HẠN CHẾ",
        "figure": "Chỉ tiêu",
        "value": "Số liệu",
        "change": "So với tháng trước",
        "cameras": "Số camera đang lắp đặt",
        "availability": "Tỷ lệ camera hoạt động",
        "incidents": "Số sự cố",
        "mttr": "Thời gian khắc phục trung bình",
        "mau": "Người dùng hoạt động trong tháng (MAU)",
        "adoption": "Tỷ lệ sử dụng ứng dụng / dân số",
        "new": "Người dùng mới",
        "feedback": "Phản ánh đã gửi",
        "unit": "Đơn vị",
        "no": "STT",
        "availability_short": "Hoạt động",
        "cameras_short": "Camera",
        "incidents_short": "Sự cố",
        "feedback_short": "Phản ánh",
        "availability_change": "± điểm %",
        "mau_change": "± MAU",
        "adoption_short": "Sử dụng / dân số",
        "target": "Chỉ tiêu",
        "top": "{n} đơn vị cao nhất",
        "bottom": "{n} đơn vị thấp nhất",
        "five": "Năm",
        "ten": "Mười",
        "subtotal": "Cộng: {district}",
        "district_col": "Huyện (cũ)",
        "s_cameras": "II. SỐ LIỆU THEO CAMERA",
        "s_app": "III. NGƯỜI DÙNG ỨNG DỤNG",
        "camera": "Camera",
        "camera_id": "Mã camera",
        "down_time": "Thời gian mất tín hiệu",
        "no_cameras": "Đơn vị chưa có camera trong tháng.",
        "chart_availability_district": "Tỷ lệ camera hoạt động theo huyện (cũ), tháng {month}",
        "chart_availability_camera": "Tỷ lệ hoạt động theo camera, tháng {month}",
        "sheet_districts": "Theo huyện",
        "sheet_cameras": "Theo camera",
        "chart_availability": "Tỷ lệ camera hoạt động theo đơn vị, tháng {month}",
        "chart_mau": "Người dùng hoạt động trong tháng (toàn {district}), 12 tháng",
        "shortfall_availability": "{unit}: tỷ lệ camera hoạt động {value}, dưới mức {target}.",
        "shortfall_adoption": "{unit}: tỷ lệ sử dụng ứng dụng {value}, dưới chỉ tiêu {target}.",
        "no_shortfalls": "Không có đơn vị nào dưới các ngưỡng.",
        "s_windows": "PHỤ LỤC. KHUNG BẢO TRÌ ĐÃ TÁC ĐỘNG ĐẾN SỐ LIỆU THÁNG",
        "windows_note": (
            "Thời gian trong khung bảo trì không tính vào thời gian hoạt động hay mất tín hiệu (được loại khỏi mẫu số)."
            " Khung \u201cđặt lùi\u201d được đặt sau khi thời gian nó tính đã bắt đầu, nên đã làm thay đổi số liệu"
            " đã thấy; lý do ghi kèm."
        ),
        "no_windows": "Không có khung bảo trì nào trong tháng.",
        "scope": "Phạm vi",
        "when": "Thời gian",
        "hours": "Số giờ",
        "set_by": "Người đặt, lúc đặt",
        "reason": "Lý do",
        "scope_camera": "Camera {target}",
        "scope_all": "Toàn bộ camera",
        "weekly": "Hằng tuần {days}, {start}–{end}",
        "weekdays": "T2,T3,T4,T5,T6,T7,CN",
        "set_afterwards": "đặt lùi",
        "audit_head": "Mã kiểm chứng nhật ký thao tác khi lập số liệu (pulse audit verify): {head}",
        "district_row": "Toàn {district}",
        "not_entered": "chưa nhập dân số",
        "none": "—",
        "hours_minutes": "{h} giờ {m} phút",
        "minutes": "{m} phút",
        "month": "{m:02d}/{y}",
        "sheet_summary": "Tổng hợp",
        "sheet_units": "Theo đơn vị",
        "sheet_charts": "Biểu đồ",
        "sheet_history": "MAU 12 tháng",
        "month_col": "Tháng",
        "note_synthetic": "Ghi chú: dân số ghi chú 'mô phỏng' là số liệu mô phỏng, không dùng cho báo cáo thật.",
    },
    "en": {
        "title": "REPORT",
        "subtitle": "Public-security cameras and the HoangHoaS app, {month}",
        "authority": "PEOPLE'S COMMITTEE OF",
        "nation": "SOCIALIST REPUBLIC OF VIETNAM",
        "motto": "Independence - Freedom - Happiness",
        "place_date": "{place}, {y}-{m:02d}-{d:02d}",
        "as_of": "Figures as of {time}.",
        "unit_set_2024": "Units: the 37 communes (before the 2025 reorganisation)",
        "unit_set_2025": "Units: the communes after the 2025 reorganisation (summed from the former communes)",
        "unit_set_other": "Unit set: {unit_set}",
        "s_summary": "I. {district_upper} SUMMARY",
        "s_units": "II. FIGURES PER UNIT",
        "s_ranking": "III. HIGHEST AND LOWEST UNITS (camera availability)",
        "s_charts": "IV. CHARTS",
        "s_shortfalls": "V. SHORTFALLS",
        "figure": "Figure",
        "value": "Value",
        "change": "Against last month",
        "cameras": "Cameras installed",
        "availability": "Camera availability",
        "incidents": "Incidents",
        "mttr": "Mean time to restore",
        "mau": "Monthly active users (MAU)",
        "adoption": "App adoption (users / population)",
        "new": "New users",
        "feedback": "Feedback sent",
        "unit": "Unit",
        "no": "No.",
        "availability_short": "Availability",
        "cameras_short": "Cameras",
        "incidents_short": "Incidents",
        "feedback_short": "Feedback",
        "availability_change": "± points",
        "mau_change": "± MAU",
        "adoption_short": "Adoption",
        "target": "Target",
        "top": "{n} highest",
        "bottom": "{n} lowest",
        "five": "Five",
        "ten": "Ten",
        "subtotal": "Subtotal: {district}",
        "district_col": "District (former)",
        "s_cameras": "II. FIGURES PER CAMERA",
        "s_app": "III. APP USERS",
        "camera": "Camera",
        "camera_id": "Camera id",
        "down_time": "Time down",
        "no_cameras": "The unit had no camera in service this month.",
        "chart_availability_district": "Camera availability by (former) district, {month}",
        "chart_availability_camera": "Availability by camera, {month}",
        "sheet_districts": "Per district",
        "sheet_cameras": "Per camera",
        "chart_availability": "Camera availability by unit, {month}",
        "chart_mau": "Monthly active users ({district}), 12 months",
        "shortfall_availability": "{unit}: camera availability {value}, under {target}.",
        "shortfall_adoption": "{unit}: app adoption {value}, under its target of {target}.",
        "no_shortfalls": "No unit is under the thresholds.",
        "s_windows": "ANNEX. MAINTENANCE WINDOWS THAT SHAPED THIS MONTH'S FIGURES",
        "windows_note": (
            "Time inside a maintenance window counts neither as up nor as down (it leaves the denominator). A window"
            " \u201cset afterwards\u201d was set after the time it covers began, so it changed figures already seen;"
            " its reason is given."
        ),
        "no_windows": "No maintenance window was in force this month.",
        "scope": "Scope",
        "when": "When",
        "hours": "Hours",
        "set_by": "Set by, at",
        "reason": "Reason",
        "scope_camera": "Camera {target}",
        "scope_all": "Every camera",
        "weekly": "Weekly {days}, {start}–{end}",
        "weekdays": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
        "set_afterwards": "set afterwards",
        "audit_head": "Audit trail head when the figures were read (pulse audit verify): {head}",
        "district_row": "{district} (all)",
        "not_entered": "population not entered",
        "none": "—",
        "hours_minutes": "{h} h {m} min",
        "minutes": "{m} min",
        "month": "{y}-{m:02d}",
        "sheet_summary": "Summary",
        "sheet_units": "Per unit",
        "sheet_charts": "Charts",
        "sheet_history": "MAU 12 months",
        "month_col": "Month",
        "note_synthetic": "Note: populations marked 'synthetic' are simulated figures, not for real briefings.",
    },
}


class Texts:
    """Labels and formats of one language for one report."""

    def __init__(self, report: MonthlyReport, lang: str) -> None:
        if lang not in LABELS:
            raise ValueError(f"lang: expected one of {', '.join(LABELS)}")
        self.lang = lang
        self.report = report
        self.tz = ZoneInfo(report.timezone)

    def __call__(self, key: str, **params: object) -> str:
        return LABELS[self.lang][key].format(**params)

    @property
    def district(self) -> str:
        return self.report.district_name

    def month(self, month: date | None = None) -> str:
        m = month or self.report.month
        return self("month", m=m.month, y=m.year)

    def pct(self, fraction: float | None, digits: int = 1) -> str:
        if fraction is None:
            return self("none")
        text = f"{fraction * 100:.{digits}f} %"
        return text.replace(".", ",") if self.lang == "vi" else text

    def points(self, change: float | None) -> str:
        """A change of a fraction in percentage points, signed."""
        if change is None:
            return self("none")
        text = f"{change * 100:+.1f}"
        return text.replace(".", ",") if self.lang == "vi" else text

    def relative(self, change: float | None) -> str:
        if change is None:
            return self("none")
        text = f"{change * 100:+.1f} %"
        return text.replace(".", ",") if self.lang == "vi" else text

    def count(self, n: int | None) -> str:
        if n is None:
            return self("none")
        text = f"{n:,}"
        return text.replace(",", ".") if self.lang == "vi" else text

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return self("none")
        minutes = round(seconds / 60)
        h, m = divmod(minutes, 60)
        return self("hours_minutes", h=h, m=m) if h else self("minutes", m=m)

    def moment(self, at: datetime) -> str:
        local = at.astimezone(self.tz)
        if self.lang == "vi":
            return f"{local:%H:%M} ngày {local:%d/%m/%Y}"
        return f"{local:%Y-%m-%d %H:%M} ({self.report.timezone})"

    def unit_set_line(self) -> str:
        key = f"unit_set_{self.report.unit_set}"
        return self(key) if key in LABELS[self.lang] else self("unit_set_other", unit_set=self.report.unit_set)

    def authority_lines(self) -> list[str]:
        """The issuing authority, on two lines as administrative documents have it."""
        return [self("authority"), self.district.upper()]

    def title_lines(self) -> list[str]:
        return [self("title"), self("subtitle", month=self.month())]

    def shortfall_lines(self) -> list[str]:
        lines = [
            self(f"shortfall_{s.kind}", unit=s.name, value=self.pct(s.value), target=self.pct(s.target))
            for s in self.report.shortfalls
        ]
        return lines or [self("no_shortfalls")]

    def ranking_title(self, key: str) -> str:
        return self(key, n=self("ten" if self.report.top_n == 10 else "five"))

    def summary_rows(self, part: str = "all") -> list[tuple[str, str, str]]:
        """(figure, value, change against last month) for the summary: `part` camera, app or all."""
        s = self.report.summary
        adoption = self.pct(s.adoption) if s.population else f"{self('none')} ({self('not_entered')})"
        cameras = [
            (self("cameras"), self.count(s.cameras), ""),
            (self("availability"), self.pct(s.availability), self.points(s.availability_change)),
            (self("incidents"), self.count(s.incidents), ""),
            (self("mttr"), self.duration(s.mttr_s), ""),
        ]
        app = [
            (self("mau"), self.count(s.mau), self.relative(s.mau_change)),
            (self("adoption"), adoption, ""),
            (self("new"), self.count(s.new), ""),
            (self("feedback"), self.count(s.feedback), ""),
        ]
        return {"camera": cameras, "app": app}.get(part, cameras + app)

    def camera_table(self) -> list[list[str]]:
        """A unit's cameras as its own briefing prints them."""
        header = [self("no"), self("camera"), self("camera_id"), self("availability_short"), self("down_time")]
        rows = [
            [str(i), c.name, c.camera_id, self.pct(c.availability), self.duration(c.down_s), self.count(c.incidents)]
            for i, c in enumerate(self.report.cameras, start=1)
        ]
        return [[*header, self("incidents_short")], *rows]

    def windows_table(self) -> list[list[str]]:
        """The annex: each maintenance window that shaped the month's figures (issue 31)."""
        header = [self("no"), self("scope"), self("when"), self("hours"), self("set_by"), self("reason")]
        days = self("weekdays").split(",")
        rows = []
        for i, w in enumerate(self.report.windows, start=1):
            scope = {"camera": self("scope_camera", target=w.target), "unit": w.target, "all": self("scope_all")}
            if w.starts_at is not None and w.ends_at is not None:
                when = f"{self.moment(w.starts_at)} – {self.moment(w.ends_at)}"
            else:
                listed = ", ".join(days[d - 1] for d in w.weekdays)
                when = self("weekly", days=listed, start=w.local_start, end=w.local_end)
            hours = f"{w.hours:.1f}".replace(".", ",") if self.lang == "vi" else f"{w.hours:.1f}"
            by = f"{w.created_by or self('none')}, {self.moment(w.created_at)}"
            if w.set_afterwards:
                by += f" ({self('set_afterwards')})"
            rows.append([str(i), scope[w.scope], when, hours, by, w.reason or self("none")])
        return [header, *rows]

    def audit_line(self) -> str:
        return self("audit_head", head=self.report.audit_head or self("none"))

    def line_label(self, line: UnitRow | DistrictRow) -> str:
        return line.name if isinstance(line, UnitRow) else self("subtotal", district=line.name)

    def unit_table(self) -> list[list[str]]:
        """The per-unit table as the PDF and the DOCX print it: a header, a row per unit (and a subtotal after each
        district's units, numbered blank; `subtotal_rows` says which), the district's row."""
        header = [
            self("no"),
            self("unit"),
            self("cameras_short"),
            self("availability_short"),
            self("availability_change"),
            self("incidents_short"),
            "MAU",
            self("mau_change"),
            self("adoption_short"),
            self("feedback_short"),
        ]
        rows, i = [], 0
        for u in self.report.lines():
            if isinstance(u, UnitRow):
                i += 1
            rows.append(
                [
                    str(i) if isinstance(u, UnitRow) else "",
                    self.line_label(u),
                    self.count(u.cameras),
                    self.pct(u.availability),
                    self.points(u.availability_change),
                    self.count(u.incidents),
                    self.count(u.mau),
                    self.relative(u.mau_change),
                    self.pct(u.adoption),
                    self.count(u.feedback),
                ]
            )
        s = self.report.summary
        rows.append(
            [
                "",
                self("district_row", district=self.district),
                self.count(s.cameras),
                self.pct(s.availability),
                "",
                self.count(s.incidents),
                self.count(s.mau),
                "",
                self.pct(s.adoption),
                self.count(s.feedback),
            ]
        )
        return [header, *rows]

    def subtotal_rows(self) -> list[int]:
        """Rows of `unit_table` (0 the header) that are subtotals or the total, to set in bold."""
        lines = self.report.lines()
        return [i for i, u in enumerate(lines, start=1) if isinstance(u, DistrictRow)] + [len(lines) + 1]

    def ranking_table(self, units: list[UnitRow], title: str) -> list[list[str]]:
        return [
            [title, self("availability_short"), self("availability_change")],
            *[[u.name, self.pct(u.availability), self.points(u.availability_change)] for u in units],
        ]
