// The skyhive dashboard: reads /api/state every second and draws it. Plain DOM and canvas, no
// library; every text from the node goes through textContent, never through HTML.
"use strict";

const PERIOD_MS = 1000;
const HISTORY = 60; // points kept per plot: one minute

// ---- Access: a token given as #token=... in the address is kept for this tab only.

const token = (() => {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("skyhive-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return { get: () => sessionStorage.getItem("skyhive-token") };
})();

function askToken() {
  const form = document.getElementById("token-form");
  if (!form.hidden) return;
  form.hidden = false;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("skyhive-token", document.getElementById("token-input").value.trim());
    form.hidden = true;
  }, { once: true });
}

// ---- Small helpers

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function none(what) {
  return el("p", { class: "none", text: "none" + (what ? ": " + what : "") });
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function count(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 1 : 2) + " M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + " k";
  if (Number.isInteger(n) || Math.abs(n) >= 99.95) return String(Math.round(n));
  return n.toFixed(Math.abs(n) < 9.995 ? 2 : 1).replace(/\.?0+$/, "");
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(2) + " GB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MB";
  return (n / 1024).toFixed(1) + " KB";
}

function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m";
}

function clock(ms) {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().slice(11, 23);
}

// A board value's field as text: a list or a table is joined.
function flat(v) {
  if (v === null || v === undefined) return "–";
  if (Array.isArray(v)) return v.length ? v.map(flat).join(", ") : "none";
  if (isObject(v)) {
    const keys = Object.keys(v);
    if ("address" in v || "addr" in v) return flat(v.address || v.addr);
    return keys.map((k) => k + "=" + flat(v[k])).join(" ");
  }
  return String(v);
}

// ---- Plots: a line over the last HISTORY points, the newest on the right.

class Plot {
  constructor(figure) {
    this.figure = figure;
    this.canvas = figure.querySelector("canvas");
    this.output = figure.querySelector("output");
    this.unit = figure.dataset.unit || "";
    this.points = []; // numbers or null (no figure at that moment)
  }

  push(v) {
    this.points.push(v === undefined ? null : v);
    if (this.points.length > HISTORY) this.points.shift();
    const known = this.points.filter((p) => p !== null);
    this.figure.dataset.points = String(known.length);
    this.figure.dataset.last = v === null || v === undefined ? "" : String(v);
    this.output.textContent = v === null || v === undefined ? "–" : count(v);
    this.draw();
  }

  draw() {
    const c = this.canvas, ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * ratio)) c.width = Math.round(w * ratio);
    if (c.height !== Math.round(h * ratio)) c.height = Math.round(h * ratio);
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    const ink = css.getPropertyValue("--muted").trim();
    const accent = css.getPropertyValue("--accent").trim();
    const fill = css.getPropertyValue("--plot-fill").trim();
    const known = this.points.filter((p) => p !== null);
    const max = niceMax(known.length ? Math.max(...known) : 0);
    const top = 14, bottom = h - 4, left = 2, right = w - 2;
    const y = (v) => bottom - (v / max) * (bottom - top);
    const x = (i) => right - (this.points.length - 1 - i) * ((right - left) / (HISTORY - 1));

    g.strokeStyle = ink;
    g.globalAlpha = 0.25;
    g.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      const yy = Math.round(y(max * f)) + 0.5;
      g.beginPath();
      g.moveTo(left, yy);
      g.lineTo(right, yy);
      g.stroke();
    }
    g.globalAlpha = 1;
    g.fillStyle = ink;
    g.font = "11px system-ui, sans-serif";
    g.fillText(count(max) + (this.unit === "ms" ? " ms" : ""), left + 2, top - 3);

    // One path per run of known points; a null breaks the line.
    let run = [];
    const flush = () => {
      if (!run.length) return;
      g.beginPath();
      run.forEach(([i, v], k) => (k ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
      g.strokeStyle = accent;
      g.lineWidth = 1.6;
      g.stroke();
      g.lineTo(x(run[run.length - 1][0]), bottom);
      g.lineTo(x(run[0][0]), bottom);
      g.closePath();
      g.fillStyle = fill;
      g.fill();
      if (run.length === 1) {
        g.fillStyle = accent;
        g.fillRect(x(run[0][0]) - 2, y(run[0][1]) - 2, 4, 4);
      }
      run = [];
    };
    this.points.forEach((v, i) => (v === null ? flush() : run.push([i, v])));
    flush();
  }
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// The q-quantile (0..1) of the observations between two cumulative histograms, in seconds,
// by linear interpolation inside the bucket that holds it; null without observations.
function quantile(q, now, before) {
  if (!now) return null;
  const prev = new Map(((before && before.buckets) || []).map(([le, n]) => [String(le), n]));
  const delta = now.buckets.map(([le, n]) => [le === "+Inf" ? Infinity : le,
    n - (prev.get(String(le)) || 0)]);
  const total = delta.length ? delta[delta.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const [le, n] of delta) {
    if (n >= rank) {
      if (le === Infinity) return lower; // past the last bound: the best known is that bound
      const inBucket = n - below;
      return inBucket > 0 ? lower + (le - lower) * ((rank - below) / inBucket) : le;
    }
    lower = le;
    below = n;
  }
  return lower;
}

// ---- The services table

const table = {
  key: "rate",
  descending: true,
  rows: [],
  filter: "",
};

function setupTable() {
  for (const th of document.querySelectorAll("#services th")) {
    th.addEventListener("click", () => {
      if (table.key === th.dataset.key) table.descending = !table.descending;
      else {
        table.key = th.dataset.key;
        table.descending = th.dataset.type === "number";
      }
      renderTable();
    });
  }
  document.getElementById("services-filter").addEventListener("input", (e) => {
    table.filter = e.target.value.trim().toLowerCase();
    renderTable();
  });
}

function renderTable() {
  for (const th of document.querySelectorAll("#services th")) {
    if (th.dataset.key === table.key)
      th.setAttribute("aria-sort", table.descending ? "descending" : "ascending");
    else th.removeAttribute("aria-sort");
  }
  const k = table.key, dir = table.descending ? -1 : 1;
  const rows = table.rows
    .filter((r) => !table.filter || [r.address, r.name, r.module, r.args].join(" ")
      .toLowerCase().includes(table.filter))
    .sort((a, b) => {
      const x = a[k] ?? -1, y = b[k] ?? -1;
      if (x < y) return -dir;
      if (x > y) return dir;
      return a.address < b.address ? -1 : 1;
    });
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr", { "data-address": r.address });
    tr.append(
      el("td", { class: "addr", text: r.address }),
      el("td", { class: "mono", text: r.name || "" }),
      el("td", { text: r.args ? r.module + " " + r.args : r.module }),
      el("td", { class: "num", text: count(r.messages) }),
      el("td", { class: "num" + (r.rate > 1000 ? " hot" : ""), text: count(r.rate) }),
      el("td", { class: "num", text: r.cpu.toFixed(3) }),
      el("td", { class: "num" + (r.mailbox > 100 ? " hot" : ""), text: String(r.mailbox) }),
      el("td", { class: "num", text: r.memory === null ? "–" : bytes(r.memory) }),
    );
    body.append(tr);
  }
  document.querySelector("#services tbody").replaceWith(body);
  document.getElementById("services-shown").textContent = rows.length === table.rows.length
    ? "(" + rows.length + ")" : "(" + rows.length + " of " + table.rows.length + ")";
}

// ---- The boards

function setBody(id, ...children) {
  const body = document.querySelector("#" + id + " .body");
  body.replaceChildren(...children);
}

function renderSentinel(board, nowMs) {
  const names = Object.keys(board || {}).sort();
  if (!names.length) {
    return setBody("sentinel-panel", none("the node's Redis is not watched by Sentinel"));
  }
  const items = names.map((name) => {
    const m = board[name] || {};
    const kv = el("dl", { class: "kv" },
      el("dt", { text: "master" }), el("dd", { text: flat(m.master) }),
      el("dt", { text: "replicas" }), el("dd", { text: flat(m.replicas || []) }),
      el("dt", { text: "sentinels" }), el("dd", { text: flat(m.sentinels || []) }));
    const fact = (term, text, cls) =>
      kv.append(el("dt", { text: term }), el("dd", { class: cls || "", text }));
    if (m.epoch !== undefined) fact("epoch", String(m.epoch));
    if (m.failover) fact("failover", "in progress", "hot");
    if (m.err) fact("error", flat(m.err), "hot");
    const events = Array.isArray(m.last_failover) ? m.last_failover : [];
    const item = el("div", { class: "item", "data-master": name }, el("h3", { text: name }), kv);
    if (!events.length) {
      item.append(el("p", { class: "none", text: "last failover: none seen" }));
    } else {
      const first = events[0].at;
      item.append(el("div", { text: "last failover" + (Number.isFinite(first) && nowMs
        ? ", " + duration((nowMs - first) / 1000) + " ago" : "") }));
      const list = el("ol", { class: "timeline" });
      for (const e of events) {
        const offset = Number.isFinite(e.at) && Number.isFinite(first)
          ? "+" + ((e.at - first) / 1000).toFixed(3) + " s" : "";
        list.append(el("li", {},
          el("time", { text: Number.isFinite(e.at) ? clock(e.at) + " " + offset : "" }),
          el("span", { class: "event", text: e.event || "?" }), " ",
          el("span", { text: e.detail === undefined ? "" : flat(e.detail) })));
      }
      item.append(list);
    }
    return item;
  });
  setBody("sentinel-panel", ...items);
}

function renderLocks(board, nowMs) {
  const names = Object.keys(board || {}).sort();
  if (!names.length) return setBody("locks-panel", none("no lock is held or awaited"));
  const t = el("table", {}, el("thead", {}, el("tr", {},
    el("th", { text: "lock" }), el("th", { text: "kind" }), el("th", { text: "holder" }),
    el("th", { text: "fencing" }),
    el("th", { text: "held for" }), el("th", { text: "waiting" }))));
  const body = el("tbody");
  for (const name of names) {
    const l = board[name] || {};
    const held = Number.isFinite(l.since) && nowMs ? duration((nowMs - l.since) / 1000) : "–";
    body.append(el("tr", { "data-lock": name },
      el("td", { class: "mono", text: name }),
      el("td", { text: l.kind === undefined ? "lock" : flat(l.kind) }),
      el("td", { class: "mono", text: l.holder === undefined ? "none"
        : flat(l.holder) + (l.holders > 1 ? " +" + (l.holders - 1) : "") }),
      el("td", { class: "num", text: l.fencing === undefined ? "–" : String(l.fencing) }),
      el("td", { class: "num", text: l.holder === undefined ? "–" : held }),
      el("td", { class: "num" + (l.waiters > 0 ? " hot" : ""), text: String(l.waiters || 0) })));
  }
  t.append(body);
  setBody("locks-panel", t);
}

function renderCluster(board, nowMs) {
  const names = Object.keys(board || {}).sort();
  if (!names.length) return setBody("cluster-panel", none("this node is not in a cluster"));
  const t = el("table", {}, el("thead", {}, el("tr", {},
    el("th", { text: "node" }), el("th", { text: "address" }), el("th", { text: "link" }),
    el("th", { text: "epoch" }), el("th", { text: "up for" }))));
  const body = el("tbody");
  for (const name of names) {
    const n = board[name] || {};
    const link = n.link || "?";
    body.append(el("tr", { "data-node": name },
      el("td", { class: "mono", text: name }),
      el("td", { class: "mono", text: flat(n.address) }),
      el("td", {}, el("span", { class: "tag " + (link === "up" ? "up" : "down"), text: link })),
      el("td", { class: "num", text: n.epoch === undefined ? "–" : String(n.epoch) }),
      el("td", { class: "num", text: Number.isFinite(n.up_since) && nowMs
        ? duration((nowMs - n.up_since) / 1000) : "–" })));
  }
  t.append(body);
  setBody("cluster-panel", t);
}

// ---- The loop

const plots = {};
// Recent snapshots, oldest first. Rates are taken against the newest one at least a second of
// the node's time older (the last one when the page polls on time), so two polls close together
// (a browser catching up on its timers) do not turn into a spike.
const recent = [];
const RATE_WINDOW_S = 1;

function baseFor(now) {
  let base = null;
  for (const r of recent) if (now - r.node.uptime >= RATE_WINDOW_S * 0.95) base = r;
  return base || recent[0] || null;
}

function update(s) {
  const now = s.node.uptime;
  const previous = baseFor(now);
  const dt = previous ? now - previous.node.uptime : 0;
  const rate = (a, b) => (previous && dt > 0 && a !== undefined && b !== undefined
    ? Math.max(0, (a - b) / dt) : null);

  document.getElementById("node-name").textContent = s.node.name || "node";
  document.title = "skyhive " + (s.node.name || "node");
  document.getElementById("uptime").textContent = duration(s.node.uptime);
  document.getElementById("workers").textContent = s.node.workers ?? "–";
  document.getElementById("service-count").textContent = String(s.node.services);
  const players = s.totals.players_online;
  document.getElementById("players-online").textContent =
    players === undefined ? "–" : String(players);

  if (previous) {
    plots.messages.push(rate(s.totals.messages, previous.totals.messages));
    plots.redisOps.push(rate(s.totals.redis_commands, previous.totals.redis_commands));
    const p99 = quantile(0.99, s.redis_latency, previous.redis_latency);
    plots.redisP99.push(p99 === null ? null : p99 * 1000);
  }
  plots.players.push(players === undefined ? null : players);

  const before = new Map(previous ? previous.services.map((r) => [r.address, r.messages]) : []);
  table.rows = s.services.map((r) => ({
    address: r.address,
    name: r.name || "",
    module: r.module,
    args: r.args || "",
    messages: r.messages,
    rate: before.has(r.address) && dt > 0
      ? Math.max(0, (r.messages - before.get(r.address)) / dt) : null,
    cpu: r.cpu,
    mailbox: r.mailbox,
    memory: r.memory ?? null,
  }));
  renderTable();

  const nowMs = s.node.time * 1000;
  renderSentinel(s.sentinel, nowMs);
  renderLocks(s.locks, nowMs);
  renderCluster(s.cluster, nowMs);
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  recent.push(s);
  while (recent.length > 1 && now - recent[1].node.uptime >= RATE_WINDOW_S) recent.shift();
  if (recent.length > 32) recent.shift();
}

function status(state, text) {
  const p = document.getElementById("status");
  p.dataset.state = state;
  p.textContent = text;
}

async function poll() {
  const headers = {};
  const t = token.get();
  if (t) headers.Authorization = "Bearer " + t;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 3 * PERIOD_MS);
  try {
    const r = await fetch("/api/state", { headers, cache: "no-store", signal: abort.signal });
    if (r.status === 401) {
      status("error", "this node needs its admin token");
      askToken();
    } else if (!r.ok) {
      status("error", "/api/state answered " + r.status + ": " + (await r.text()).slice(0, 200));
    } else {
      update(await r.json());
      status("live", "live");
    }
  } catch (e) {
    const why = e.name === "AbortError" ? "no answer" : e.message;
    status("error", "node unreachable (" + why + ")");
  } finally {
    clearTimeout(timer);
    setTimeout(poll, PERIOD_MS);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  plots.messages = new Plot(document.getElementById("plot-messages"));
  plots.redisOps = new Plot(document.getElementById("plot-redis-ops"));
  plots.redisP99 = new Plot(document.getElementById("plot-redis-p99"));
  plots.players = new Plot(document.getElementById("plot-players"));
  setupTable();
  window.addEventListener("resize", () => Object.values(plots).forEach((p) => p.draw()));
  poll();
});
