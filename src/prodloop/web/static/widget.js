/* prodloop feedback widget: <script src="https://HOST/widget.js" data-key="pk_..." defer>.
 * Strict-CSP and Trusted Types safe: no eval, no inline script or style attribute, the DOM is
 * built node by node and the styles are a constructed stylesheet inside a shadow root. */
(() => {
"use strict";
if (window.prodloop && window.prodloop.version) return; // the tag was added twice
const script =
  document.currentScript || document.querySelector('script[src*="/widget.js"][data-key]');
const opts = (script && script.dataset) || {};
const key = opts.key;
if (!key) return console.error('prodloop widget: the script tag needs data-key="pk_..."');
const base = new URL(script.src, location.href).origin;
const capturing = (opts.capture || "").split(/[\s,]+/);
let position = opts.position || "bottom-right";
if (!/^((bottom|top)-(left|right)|none)$/.test(position)) {
  console.warn("prodloop widget: unknown data-position " + position);
  position = "bottom-right";
}
let user = opts.user || "";

// randomUUID exists only in secure contexts, getRandomValues everywhere.
const uuid = () =>
  crypto.randomUUID ? crypto.randomUUID() : "10000000-1000-4000-8000-100000000000".replace(
    /[018]/g, (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4))))
      .toString(16));
const memory = {};
// Storage can be disabled or throw (private modes, sandboxed frames): then memory serves.
const remembered = (area, name) => {
  try {
    let value = window[area].getItem(name);
    if (!value) window[area].setItem(name, (value = uuid()));
    return value;
  } catch (e) {
    return (memory[name] = memory[name] || uuid());
  }
};
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// POST JSON. Network errors, 429 and 5xx are retried with the same body, whose idempotency
// id makes a retry store nothing new. Rejects with the server's message, status and field.
async function post(path, body, keepalive) {
  let error;
  for (let attempt = 1; attempt <= 3; attempt++) {
    let response, json = null;
    try {
      response = await fetch(base + path, {
        method: "POST", mode: "cors", credentials: "omit", keepalive: !!keepalive,
        headers: { "content-type": "application/json", "x-prodloop-key": key },
        body: JSON.stringify(body),
      });
    } catch (e) {
      error = Object.assign(new Error("Could not reach the feedback server."), { status: 0 });
      await sleep(400 * attempt);
      continue;
    }
    try {
      json = await response.json();
    } catch (e) {}
    if (response.ok) return json;
    const detail = (json && json.error) || {};
    error = Object.assign(new Error(detail.message || "HTTP " + response.status),
      { status: response.status, field: detail.field || null });
    const wait = 1000 * (parseFloat(response.headers.get("retry-after")) || 0);
    if ((response.status !== 429 && response.status < 500) || wait > 5000) throw error;
    await sleep(Math.max(wait, 400 * attempt));
  }
  throw error;
}

function feedback(input) {
  const o = input || {};
  const body = { id: o.id || uuid(), source: "widget", page: location.pathname };
  if (o.traceId != null) body.trace_id = String(o.traceId);
  for (const name of ["rating", "comment", "category", "email", "metadata"]) {
    if (o[name] != null && o[name] !== "") body[name] = o[name];
  }
  if (o.userId || user) body.user_id = String(o.userId || user);
  return post("/ingest/feedback", body).then((answer) => answer.id);
}

// Events go in batches: a second after the first one, or at once when the page hides.
let batch = null;
const inflight = new Set();
function send(keepalive) {
  const sending = batch;
  if (!sending) return;
  batch = null;
  clearTimeout(sending.timer);
  inflight.add(sending.promise);
  post("/ingest/events", { source: "widget", events: sending.events }, keepalive)
    .then((answer) => sending.resolve(answer.stored), sending.reject)
    .finally(() => inflight.delete(sending.promise));
}
// Resolves once everything captured so far is stored, with how many events were stored.
const flush = () => {
  send(false);
  return Promise.all(inflight).then((counts) => counts.reduce((sum, n) => sum + n, 0));
};
function capture(event, properties, extra) {
  if (typeof event !== "string" || !event) {
    return Promise.reject(new TypeError("prodloop.capture: event must be a non-empty string"));
  }
  if (!batch) {
    batch = { events: [], timer: setTimeout(send, 1000) };
    batch.promise = new Promise((resolve, reject) => Object.assign(batch, { resolve, reject }));
    batch.promise.catch((e) => console.warn("prodloop: events not sent: " + e.message));
  }
  batch.events.push({
    event, distinct_id: user || remembered("localStorage", "prodloop_id"), uuid: uuid(),
    timestamp: new Date().toISOString(), session_id: remembered("sessionStorage", "prodloop_sid"),
    path: location.pathname, properties: properties || {}, ...extra,
  });
  const promise = batch.promise;
  if (batch.events.length >= 50) send();
  return promise;
}
addEventListener("visibilitychange", () => document.visibilityState === "hidden" && send(true));
addEventListener("pagehide", () => send(true));

const h = (tag, attrs, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
};
const CSS = `:host{all:initial;color-scheme:light dark}
*{box-sizing:border-box;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif}
.open{position:fixed;z-index:2147483000;bottom:16px;right:16px;padding:9px 16px;border:0;
border-radius:20px;background:#1f6feb;color:#fff;font-weight:600;cursor:pointer;
box-shadow:0 2px 10px rgba(0,0,0,.3)}
.open.left{right:auto;left:16px}.open.top{bottom:auto;top:16px}
:focus-visible{outline:2px solid #1f6feb;outline-offset:2px}
.open:focus-visible{outline-color:#0a3069}
dialog{width:min(440px,calc(100vw - 32px));padding:20px;border:1px solid #d0d7de;
border-radius:12px;background:#fff;color:#1f2328;box-shadow:0 8px 30px rgba(0,0,0,.3)}
dialog::backdrop{background:rgba(0,0,0,.4)}
h2{margin:0 0 8px;font-size:18px;font-weight:600}
label,legend{display:block;margin:12px 0 4px;padding:0;font-weight:600}
fieldset{margin:0;padding:0;border:0}
select,textarea,input[type=email]{width:100%;padding:7px 9px;border:1px solid #8c959f;
border-radius:6px}
textarea{min-height:90px;resize:vertical}
.stars{display:flex}
.stars input{position:absolute;width:1px;height:1px;margin:0;opacity:0}
.stars label{margin:0;padding:0 3px;color:#8c959f;font-size:28px;line-height:1.1}
.stars label:has(~input:checked),.stars input:checked+label{color:#bf8700}
.stars input:focus-visible+label{outline:2px solid #1f6feb;border-radius:4px}
.msg{min-height:1.4em;margin:12px 0 0}.err{color:#cf222e}.ok{color:#1a7f37}
.actions{display:flex;justify-content:flex-end;gap:8px;margin-top:12px}
.actions button{padding:7px 16px;border:1px solid #8c959f;border-radius:6px;
background:transparent;color:inherit;cursor:pointer}
.actions .send{border-color:#1f6feb;background:#1f6feb;color:#fff;font-weight:600}
@media (prefers-color-scheme:dark){
dialog{border-color:#30363d;background:#161b22;color:#e6edf3}
.open:focus-visible{outline-color:#79c0ff}.stars label{color:#6e7681}
.stars label:has(~input:checked),.stars input:checked+label{color:#e3b341}
.err{color:#ff7b72}.ok{color:#3fb950}}`;

// The widget lives in a shadow root, so the page's CSS and the widget's never meet.
const ui = {};
const say = (text, kind) => {
  ui.message.textContent = text;
  ui.message.className = "msg " + kind;
};
function mount() {
  const host = (ui.host = h("prodloop-widget"));
  const root = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  root.adoptedStyleSheets = [sheet];
  const stars = [];
  for (let n = 1; n <= 5; n++) {
    const id = "pl-r" + n;
    stars.push(
      h("input", { type: "radio", name: "rating", value: n, id,
        "aria-label": n + (n > 1 ? " stars" : " star") }),
      h("label", { for: id, text: "\u2605", title: n + "/5" }));
  }
  const category = h("select", { id: "pl-category", name: "category" },
    ...[["", "Choose\u2026"], ["bug", "Bug"], ["idea", "Idea"],
      ["answer_quality", "Answer quality"], ["other", "Other"]]
      .map(([value, text]) => h("option", { value, text })));
  ui.message = h("p", { class: "msg", role: "status", "aria-live": "polite" });
  const send = h("button", { type: "submit", class: "send", text: "Send" });
  const close = h("button", { type: "button", text: "Close" });
  const form = h("form", { "aria-describedby": "pl-intro" },
    h("h2", { id: "pl-title", text: "Send feedback" }),
    h("p", { id: "pl-intro", text: "Tell us what works and what does not." }),
    h("fieldset", {}, h("legend", { text: "Rating" }), h("div", { class: "stars" }, ...stars)),
    h("label", { for: "pl-category", text: "Category" }), category,
    h("label", { for: "pl-comment", text: "Comment" }),
    h("textarea", { id: "pl-comment", name: "comment", rows: 4 }),
    h("label", { for: "pl-email", text: "Email (optional, if you want an answer)" }),
    h("input", { id: "pl-email", name: "email", type: "email", autocomplete: "email" }),
    ui.message, h("div", { class: "actions" }, close, send));
  const dialog = (ui.dialog = h("dialog", { "aria-labelledby": "pl-title" }, form));
  root.append(dialog);
  if (position !== "none") {
    const button = h("button", {
      type: "button", class: "open " + position.replace("-", " "), "aria-haspopup": "dialog",
      text: "Send feedback",
    });
    button.addEventListener("click", open);
    root.append(button);
  }
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => ui.opener && ui.opener.focus && ui.opener.focus());
  // A modal dialog already makes the page inert; wrapping Tab also keeps focus off the
  // browser's own UI.
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const active = root.activeElement;
    if (!event.shiftKey && active === send) {
      event.preventDefault();
      (form.querySelector(":checked[name=rating]") || stars[0]).focus();
    } else if (event.shiftKey && active && active.name === "rating") {
      event.preventDefault();
      send.focus();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (ui.busy) return;
    const fields = form.elements;
    const rating = fields.rating.value;
    const comment = fields.comment.value.trim();
    if (!rating && !comment) return say("Choose a rating or write a comment.", "err");
    for (const field of form.querySelectorAll("[aria-invalid]")) {
      field.removeAttribute("aria-invalid");
    }
    ui.busy = true;
    form.setAttribute("aria-busy", "true");
    say("Sending\u2026", "");
    try {
      await feedback({
        id: ui.pending, rating: rating ? Number(rating) : null, comment,
        category: fields.category.value, email: fields.email.value.trim(),
      });
      ui.pending = uuid();
      form.reset();
      say("Thank you! Your feedback was sent.", "ok");
    } catch (error) {
      // A 4xx stored nothing, so the corrected form is a new submission; after a network
      // error or a 5xx the same id keeps a resend from storing it twice.
      if (error.status >= 400 && error.status < 500) ui.pending = uuid();
      const field = error.field && fields[error.field];
      if (field && field.focus) {
        field.setAttribute("aria-invalid", "true");
        field.focus();
      }
      say(error.message, "err");
    } finally {
      ui.busy = false;
      form.removeAttribute("aria-busy");
    }
  });
  document.body.append(host);
}

function open() {
  if (!ui.dialog || ui.dialog.open) return;
  const active = document.activeElement;
  ui.opener = active === ui.host ? ui.host.shadowRoot.activeElement : active;
  ui.pending = ui.pending || uuid();
  say("", "");
  ui.dialog.showModal();
}

let lastPath = null;
function pageview() {
  if (location.pathname === lastPath) return;
  lastPath = location.pathname;
  capture("$pageview", { title: document.title, referrer: document.referrer });
}
function start() {
  mount();
  if (capturing.includes("pageviews")) {
    pageview();
    // Single-page apps change the path without loading a page.
    for (const method of ["pushState", "replaceState"]) {
      const original = history[method];
      history[method] = function () {
        const result = original.apply(this, arguments);
        pageview();
        return result;
      };
    }
    addEventListener("popstate", pageview);
  }
  if (capturing.includes("clicks")) {
    const share = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1e4) / 1e4;
    document.addEventListener("click", (event) => {
      // detail 0: a click made with the keyboard, which has no position.
      const target = event.target;
      if (!event.detail || target === ui.host) return;
      const tag = (target.tagName || "").toLowerCase();
      const properties = { tag, element_id: target.id || null };
      capture("$click", properties,
        { x: share(event.clientX / innerWidth), y: share(event.clientY / innerHeight) });
    }, { capture: true, passive: true });
  }
  document.dispatchEvent(new CustomEvent("prodloop:ready"));
}

window.prodloop = {
  version: "1",
  feedback,
  capture: (event, properties) => capture(event, properties),
  identify: (userId) => { user = userId ? String(userId) : ""; },
  flush,
  open,
  close: () => ui.dialog && ui.dialog.close(),
};
if (document.body) start();
else addEventListener("DOMContentLoaded", start);
})();
