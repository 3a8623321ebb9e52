// How the overview narrows and orders a long list of units (a province's 166): names folded for a search typed
// with or without diacritics, the state filters, and the units grouped by former district (or, in a set from
// before the reform, by district), worst first. Pure: the API's /units items in, plain values out; no DOM here.

// "Hoằng Hóa", "Hoàng  hoá", "HOANG HOA" → "hoang hoa": decomposed, combining marks dropped, đ → d, lower case,
// spaces collapsed. Both the names and what the operator types go through it.
export function fold(text) {
  return String(text ?? "")
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .replace(/[đĐ]/g, "d")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim();
}

// The state filter's choices, in the order the select lists them.
export const FILTERS = {
  all: () => true,
  down: (u) => u.cameras_down > 0,
  degraded: (u) => u.cameras_degraded > 0,
  none: (u) => u.availability_today === null || u.availability_today === undefined,
};

// A unit matches a folded query by its name (or its code) and the chosen filter.
export function matches(unit, foldedQuery, filter = "all") {
  if (!(FILTERS[filter] ?? FILTERS.all)(unit)) return false;
  return !foldedQuery || fold(unit.unit_name).includes(foldedQuery) || String(unit.unit_code).startsWith(foldedQuery);
}

const NONE = "";

function collator() {
  return new Intl.Collator("vi", { sensitivity: "base", numeric: true });
}

// Lowest availability first; a unit without a figure today (mostly: no cameras at all) after every unit with one,
// so the province's real problems are not buried under 150 units without cameras. Ties: more cameras down first,
// then by name.
export function compareUnits(a, b, names = collator()) {
  const av = a.availability_today ?? null;
  const bv = b.availability_today ?? null;
  if (av !== bv) {
    if (av === null) return 1;
    if (bv === null) return -1;
    return av - bv;
  }
  return b.cameras_down - a.cameras_down || names.compare(a.unit_name, b.unit_name);
}

// The units in groups, or null when a flat grid reads better (fewer than two groups: a district's 37 communes, a
// commune operator's one). Grouped by former district when the set has one for any unit (the sets after the
// reform), else by the unit's group (the district, in the sets before it). A group holds its units worst first
// and counts, over all its units: cameras (total, up, down, degraded), the share of cameras up now and the lowest
// availability today of its units. Groups come worst first: most cameras down, then the lowest unit's
// availability (groups without any figure last), then fewest cameras up in share, then by name; the group of units
// without a district goes after the others it ties with.
export function groupUnits(items) {
  const byFormer = items.some((u) => u.former_district_code);
  const keyOf = (u) => (byFormer ? u.former_district_code : u.group_code) ?? NONE;
  const nameOf = (u) => (byFormer ? u.former_district_name : u.group_name) ?? null;
  const groups = new Map();
  for (const u of items) {
    const key = keyOf(u);
    if (!groups.has(key)) groups.set(key, { key, name: key === NONE ? null : nameOf(u) ?? key, units: [] });
    groups.get(key).units.push(u);
  }
  if (groups.size < 2) return null;
  const names = collator();
  const out = [...groups.values()].map((g) => {
    const sum = (field) => g.units.reduce((n, u) => n + (u[field] ?? 0), 0);
    const figures = g.units.map((u) => u.availability_today).filter((a) => a !== null && a !== undefined);
    const cameras = sum("cameras_total");
    const up = sum("cameras_up");
    return {
      ...g,
      byFormer,
      units: [...g.units].sort((a, b) => compareUnits(a, b, names)),
      cameras,
      up,
      down: sum("cameras_down"),
      degraded: sum("cameras_degraded"),
      upShare: cameras ? up / cameras : null,
      worst: figures.length ? Math.min(...figures) : null,
    };
  });
  const rank = (v) => (v === null ? Infinity : v);
  return out.sort(
    (a, b) =>
      b.down - a.down ||
      rank(a.worst) - rank(b.worst) ||
      rank(a.upShare) - rank(b.upShare) ||
      (a.key === NONE) - (b.key === NONE) ||
      names.compare(a.name ?? "", b.name ?? ""),
  );
}
