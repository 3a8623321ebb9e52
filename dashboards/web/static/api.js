// The JSON API with the session cookie. Changes carry the session's CSRF token (from /me or the log-in answer).

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

let csrfToken = null;
let onUnauthorized = () => {};
let onReads = () => {};

export function setCsrf(token) {
  csrfToken = token;
}

export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

// Where a read was answered from, when worth saying (services/api/reads.py): "lag=SECONDS" from a replica that far
// behind, "primary" when the replica did not answer; null otherwise.
export function whenReads(callback) {
  onReads = callback;
}

export async function api(path, { method = "GET", params = {}, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
  }
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (method === "GET") onReads(response.headers.get("X-Pulse-Reads"));
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, payload?.detail ?? response.statusText);
    error.retryAfter = Number(response.headers.get("Retry-After")) || null;
    if (response.status === 401 && !path.endsWith("/session")) onUnauthorized();
    throw error;
  }
  return payload;
}

// Reads begun before the operator is known (issue 28): the page's first reads go out beside /me instead of after
// it, which under load was the longest wait before the overview's tiles. Each is used once, by the first read of
// the same path and parameters; those not used (another unit set, not logged in) are forgotten.
const early = new Map();

function readKey(path, params) {
  const kept = Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "");
  return `${path}?${new URLSearchParams(kept.sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

export function readEarly(path, params = {}) {
  const promise = api(path, { params });
  promise.catch(() => {}); // a refused early read is read again when it is used, not an unhandled rejection
  early.set(readKey(path, params), promise);
}

// A GET: the early read of it when there is one (once), else a read now.
export function read(path, params = {}) {
  const key = readKey(path, params);
  const found = early.get(key);
  early.delete(key);
  return found ?? api(path, { params });
}

export function forgetEarlyReads() {
  early.clear();
}
