// Every word the dashboard shows, in Vietnamese (the default) and English, and the number/date formats of each.
// Operators read Vietnamese: keep the Vietnamese text first and complete; English mirrors it.

const STRINGS = {
  vi: {
    app_name: "Giám sát camera & ứng dụng",
    skip: "Bỏ qua, tới nội dung chính",
    nav_overview: "Tổng quan",
    nav_incidents: "Sự cố",
    nav_engagement: "Người dùng ứng dụng",
    nav_reports: "Báo cáo",
    unit_set: "Bộ đơn vị",
    unit_set_2024: "37 xã, thị trấn (2024)",
    unit_set_2025: "8 xã mới (2025)",
    language: "English",
    language_label: "Chuyển sang tiếng Anh",
    logout: "Đăng xuất",
    role_admin: "Quản trị",
    role_viewer: "Xem số liệu",
    role_commune: "Cán bộ xã",
    login_title: "Đăng nhập",
    login_intro: "Hệ thống giám sát camera an ninh trật tự và ứng dụng HoangHoaS.",
    username: "Tên đăng nhập",
    password: "Mật khẩu",
    login_button: "Đăng nhập",
    login_wrong: "Sai tên đăng nhập hoặc mật khẩu.",
    login_too_many: "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {s} giây.",
    loading: "Đang tải…",
    updated: "Cập nhật lúc {t}",
    update_failed: "Không tải được số liệu mới ({e}); đang thử lại.",
    offline: "Mất kết nối tới máy chủ; đang thử lại.",
    kpi_cameras: "Tổng số camera",
    kpi_up: "Đang hoạt động",
    kpi_down: "Mất kết nối",
    kpi_degraded: "Hình ảnh kém",
    kpi_unknown: "Không rõ trạng thái",
    kpi_avail_today: "Tỷ lệ hoạt động hôm nay",
    kpi_avail_month: "Tỷ lệ hoạt động tháng này",
    kpi_mau: "Người dùng hoạt động trong tháng",
    kpi_open_incidents: "Sự cố đang mở",
    units_heading: "Các đơn vị",
    units_heading_note: "Màu và nhãn theo tỷ lệ hoạt động hôm nay",
    band_good: "Tốt",
    band_fair: "Cần chú ý",
    band_poor: "Kém",
    band_none: "Chưa có số liệu",
    legend: "Chú giải: Tốt ≥ 99 %; Cần chú ý 95–99 %; Kém < 95 %",
    unit_cameras: "{up}/{total} camera hoạt động",
    unit_down: "{n} mất kết nối",
    unit_mau: "MAU {n}",
    down_now: "Camera đang mất kết nối",
    down_none: "Không có camera nào mất kết nối.",
    down_more: "và {n} camera khác",
    open_incidents: "Sự cố đang mở",
    incidents_none: "Không có sự cố nào đang mở.",
    camera: "Camera",
    unit: "Đơn vị",
    state: "Trạng thái",
    last_seen: "Tín hiệu gần nhất",
    quality: "Chất lượng hình ảnh",
    picture: "Ảnh kiểm tra",
    no_picture: "Chưa có ảnh",
    picture_of: "Ảnh kiểm tra gần nhất của camera {id}",
    never: "Chưa từng",
    state_up: "Hoạt động",
    state_degraded: "Hình ảnh kém",
    state_down: "Mất kết nối",
    state_unknown: "Không rõ",
    state_maintenance: "Bảo trì",
    q_black: "Màn hình đen",
    q_frozen: "Hình bị đứng",
    q_obstructed: "Bị che khuất",
    q_blur: "Độ nét {v}",
    q_ok: "Bình thường",
    q_poor: "Kém",
    back: "← Tổng quan",
    availability: "Tỷ lệ hoạt động",
    availability_chart: "Tỷ lệ hoạt động theo thời gian",
    window_24h: "24 giờ",
    window_7d: "7 ngày",
    window_30d: "30 ngày",
    chart_table: "Số liệu của biểu đồ",
    period: "Thời gian",
    coverage: "Độ phủ số liệu",
    cameras_heading: "Danh sách camera ({n})",
    filter_state: "Lọc theo trạng thái",
    all_states: "Tất cả",
    engagement_heading: "Ứng dụng HoangHoaS tháng này",
    dau_avg: "Người dùng trung bình mỗi ngày",
    mau: "Người dùng hoạt động trong tháng",
    stickiness: "Mức độ gắn bó (DAU/MAU)",
    new_users: "Người dùng mới",
    returning: "Người dùng quay lại",
    adoption: "Tỷ lệ sử dụng / dân số",
    feedback: "Phản ánh đã gửi",
    population: "Dân số",
    population_missing: "chưa nhập",
    synthetic: "số liệu mô phỏng",
    dau_chart: "Người dùng hoạt động mỗi ngày (30 ngày)",
    day: "Ngày",
    dau: "Người dùng trong ngày",
    incidents_title: "Sự cố",
    tab_open: "Đang mở",
    tab_resolved: "Đã xử lý",
    kind: "Loại sự cố",
    opened_at: "Bắt đầu",
    resolved_at: "Kết thúc",
    duration: "Thời lượng",
    acknowledged: "Tiếp nhận",
    not_acknowledged: "Chưa tiếp nhận",
    ack_by: "{who} lúc {t}",
    ack_button: "Tiếp nhận",
    ack_note: "Ghi chú (không bắt buộc)",
    ack_confirm: "Xác nhận tiếp nhận",
    cancel: "Hủy",
    ack_done: "Đã tiếp nhận sự cố #{id}.",
    kind_camera_down: "Camera mất kết nối",
    kind_camera_degraded: "Camera hình ảnh kém",
    kind_commune_outage: "Mất kết nối diện rộng",
    kind_gateway_down: "Cổng thu thập không gửi dữ liệu",
    kind_pipeline_stalled: "Hệ thống xử lý dữ liệu bị nghẽn",
    resolution_recovered: "đã hoạt động lại",
    resolution_maintenance: "chuyển sang bảo trì",
    resolution_went_down: "chuyển thành mất kết nối",
    cameras_n: "{n} camera",
    engagement_title: "Người dùng ứng dụng HoangHoaS",
    month: "Tháng",
    district: "Toàn huyện",
    district_hidden: "Số liệu toàn huyện chỉ dành cho tài khoản xem toàn huyện.",
    ranking: "Xếp hạng các đơn vị",
    sort_by: "Sắp xếp theo",
    rank: "Hạng",
    dau_trend: "Người dùng hoạt động mỗi ngày (90 ngày)",
    reports_title: "Báo cáo",
    reports_intro: "Báo cáo giao ban hằng tháng: số liệu đọc tại thời điểm tải về.",
    report_month: "Tháng báo cáo",
    report_lang: "Ngôn ngữ",
    lang_vi: "Tiếng Việt",
    lang_en: "Tiếng Anh",
    download: "Tải về",
    format_xlsx: "Excel (XLSX)",
    format_pdf: "PDF để in",
    format_docx: "Word (DOCX)",
    format_csv: "CSV",
    kept_heading: "Báo cáo đã phát hành",
    kept_note: "Mở lại với đúng số liệu lúc phát hành.",
    kept_none: "Chưa có báo cáo nào được lưu.",
    issued_at: "Phát hành lúc",
    scheduled: "Tự động hằng tháng",
    on_request: "Theo yêu cầu",
    not_found: "Không tìm thấy trang này.",
    forbidden: "Bạn không có quyền xem nội dung này.",
    error: "Lỗi: {e}",
    none: "—",
    not_attributable: "Không xác định được đơn vị",
    yes: "Có",
  },
  en: {
    app_name: "Camera & app monitor",
    skip: "Skip to main content",
    nav_overview: "Overview",
    nav_incidents: "Incidents",
    nav_engagement: "App users",
    nav_reports: "Reports",
    unit_set: "Unit set",
    unit_set_2024: "37 communes (2024)",
    unit_set_2025: "8 new communes (2025)",
    language: "Tiếng Việt",
    language_label: "Switch to Vietnamese",
    logout: "Log out",
    role_admin: "Administrator",
    role_viewer: "Viewer",
    role_commune: "Commune operator",
    login_title: "Log in",
    login_intro: "Monitoring of public-security cameras and the HoangHoaS app.",
    username: "Username",
    password: "Password",
    login_button: "Log in",
    login_wrong: "Wrong username or password.",
    login_too_many: "Too many failed log-ins. Please try again in {s} seconds.",
    loading: "Loading…",
    updated: "Updated at {t}",
    update_failed: "Could not load new figures ({e}); retrying.",
    offline: "The server cannot be reached; retrying.",
    kpi_cameras: "Cameras",
    kpi_up: "Up",
    kpi_down: "Down",
    kpi_degraded: "Poor picture",
    kpi_unknown: "Unknown",
    kpi_avail_today: "Availability today",
    kpi_avail_month: "Availability this month",
    kpi_mau: "Monthly active users",
    kpi_open_incidents: "Open incidents",
    units_heading: "Units",
    units_heading_note: "Colour and label by today's availability",
    band_good: "Good",
    band_fair: "Needs attention",
    band_poor: "Poor",
    band_none: "No data yet",
    legend: "Legend: Good ≥ 99 %; Needs attention 95–99 %; Poor < 95 %",
    unit_cameras: "{up}/{total} cameras up",
    unit_down: "{n} down",
    unit_mau: "MAU {n}",
    down_now: "Cameras down now",
    down_none: "No camera is down.",
    down_more: "and {n} more",
    open_incidents: "Open incidents",
    incidents_none: "No open incident.",
    camera: "Camera",
    unit: "Unit",
    state: "State",
    last_seen: "Last heartbeat",
    quality: "Picture quality",
    picture: "Probe picture",
    no_picture: "No picture yet",
    picture_of: "Latest probe picture of camera {id}",
    never: "Never",
    state_up: "Up",
    state_degraded: "Poor picture",
    state_down: "Down",
    state_unknown: "Unknown",
    state_maintenance: "Maintenance",
    q_black: "Black screen",
    q_frozen: "Frozen picture",
    q_obstructed: "Obstructed",
    q_blur: "Sharpness {v}",
    q_ok: "Normal",
    q_poor: "Poor",
    back: "← Overview",
    availability: "Availability",
    availability_chart: "Availability over time",
    window_24h: "24 hours",
    window_7d: "7 days",
    window_30d: "30 days",
    chart_table: "Chart data",
    period: "Period",
    coverage: "Data coverage",
    cameras_heading: "Cameras ({n})",
    filter_state: "Filter by state",
    all_states: "All",
    engagement_heading: "HoangHoaS app this month",
    dau_avg: "Average daily users",
    mau: "Monthly active users",
    stickiness: "Stickiness (DAU/MAU)",
    new_users: "New users",
    returning: "Returning users",
    adoption: "Adoption (users / population)",
    feedback: "Feedback sent",
    population: "Population",
    population_missing: "not entered",
    synthetic: "synthetic figure",
    dau_chart: "Daily active users (30 days)",
    day: "Day",
    dau: "Daily users",
    incidents_title: "Incidents",
    tab_open: "Open",
    tab_resolved: "Resolved",
    kind: "Kind",
    opened_at: "Opened",
    resolved_at: "Resolved",
    duration: "Duration",
    acknowledged: "Acknowledged",
    not_acknowledged: "Not acknowledged",
    ack_by: "{who} at {t}",
    ack_button: "Acknowledge",
    ack_note: "Note (optional)",
    ack_confirm: "Confirm",
    cancel: "Cancel",
    ack_done: "Incident #{id} acknowledged.",
    kind_camera_down: "Camera down",
    kind_camera_degraded: "Camera picture degraded",
    kind_commune_outage: "Commune-wide outage",
    kind_gateway_down: "Gateway silent",
    kind_pipeline_stalled: "Data pipeline stalled",
    resolution_recovered: "recovered",
    resolution_maintenance: "went into maintenance",
    resolution_went_down: "became down",
    cameras_n: "{n} cameras",
    engagement_title: "HoangHoaS app users",
    month: "Month",
    district: "District",
    district_hidden: "District figures are for accounts that see the whole district.",
    ranking: "Units ranked",
    sort_by: "Sort by",
    rank: "Rank",
    dau_trend: "Daily active users (90 days)",
    reports_title: "Reports",
    reports_intro: "The monthly briefing: figures read when you download.",
    report_month: "Month",
    report_lang: "Language",
    lang_vi: "Vietnamese",
    lang_en: "English",
    download: "Download",
    format_xlsx: "Excel (XLSX)",
    format_pdf: "PDF for printing",
    format_docx: "Word (DOCX)",
    format_csv: "CSV",
    kept_heading: "Reports issued",
    kept_note: "Open again with the figures they had when issued.",
    kept_none: "No report kept yet.",
    issued_at: "Issued at",
    scheduled: "Monthly schedule",
    on_request: "On request",
    not_found: "No such page.",
    forbidden: "You may not see this.",
    error: "Error: {e}",
    none: "—",
    not_attributable: "Unit not attributable",
    yes: "Yes",
  },
};

const LOCALES = { vi: "vi-VN", en: "en-GB" };
let lang = localStorage.getItem("pulse.lang") === "en" ? "en" : "vi";
let timeZone = "Asia/Ho_Chi_Minh";

export function getLang() {
  return lang;
}

export function setLang(value) {
  lang = value === "en" ? "en" : "vi";
  localStorage.setItem("pulse.lang", lang);
  document.documentElement.lang = lang;
}

export function setTimeZone(value) {
  timeZone = value;
}

export function t(key, params = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export function has(key) {
  return key in STRINGS[lang];
}

export function num(value, digits = 0) {
  if (value === null || value === undefined) return t("none");
  return new Intl.NumberFormat(LOCALES[lang], { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
}

// A fraction 0–1 as a percentage with one decimal (the API gives fractions; null: no denominator).
export function pct(fraction, digits = 1) {
  if (fraction === null || fraction === undefined) return t("none");
  return `${num(fraction * 100, digits)} %`;
}

export function dateTime(iso) {
  if (!iso) return t("never");
  return new Intl.DateTimeFormat(LOCALES[lang], {
    timeZone, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).format(new Date(iso));
}

export function clock(date) {
  return new Intl.DateTimeFormat(LOCALES[lang], { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit" })
    .format(date);
}

export function bucketLabel(iso, hourly) {
  const options = hourly ? { hour: "2-digit", minute: "2-digit" } : { day: "2-digit", month: "2-digit" };
  return new Intl.DateTimeFormat(LOCALES[lang], { timeZone, ...options }).format(new Date(iso));
}

export function dayLabel(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Intl.DateTimeFormat(LOCALES[lang], { timeZone: "UTC", day: "2-digit", month: "2-digit" })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

export function monthLabel(month) {
  const [y, m] = month.split("-");
  return lang === "vi" ? `Tháng ${Number(m)}/${y}` : new Intl.DateTimeFormat("en-GB", { month: "long", year: "numeric", timeZone: "UTC" })
    .format(new Date(Date.UTC(Number(y), Number(m) - 1, 1)));
}

export function duration(fromIso, toIso) {
  const seconds = Math.max(0, (new Date(toIso) - new Date(fromIso)) / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return lang === "vi" ? (h ? `${h} giờ ${m} phút` : `${m} phút`) : (h ? `${h} h ${m} min` : `${m} min`);
}
