// Small DOM helpers: HTML built from templates with every value escaped, and updates that touch the page only
// when what it shows has changed (so a refresh every few seconds keeps focus, scroll and open menus).

class Raw {
  constructor(text) {
    this.text = text;
  }
}

export function raw(text) {
  return new Raw(text);
}

function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function piece(value) {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return value.map(piece).join("");
  if (value === null || value === undefined || value === false) return "";
  return escape(value);
}

// html`<p>${text}</p>`: interpolated values are escaped unless they are html`` results themselves (or raw()).
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, i) => {
    out += piece(value) + strings[i + 1];
  });
  return new Raw(out);
}

const shown = new WeakMap();

// Replace an element's content only when the new HTML differs from what it shows.
export function render(element, content) {
  const text = piece(content);
  if (shown.get(element) === text) return false;
  shown.set(element, text);
  element.innerHTML = text;
  return true;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return [...root.querySelectorAll(selector)];
}
