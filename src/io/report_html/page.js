// newsclust report.html: draws the JSON in #data (topics, tree, over_time, run) as inline SVG.
// Text goes in with textContent only, never as markup; nothing is fetched or logged.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const D = JSON.parse(document.getElementById("data").textContent);
  const topics = D.topics || [];
  const nodes = D.tree || [];
  const OT = D.over_time;
  const run = D.run || {};
  const byId = new Map(topics.map((t) => [t.id, t]));
  const bySize = topics.slice().sort((a, b) => b.size - a.size || a.id - b.id);
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];
  const GREY = "#8c959f";

  function h(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function s(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function put(parent, child) {
    parent.appendChild(child);
    return child;
  }
  const num = (n) => Number(n).toLocaleString("en-US");
  const pct = (x) => (x === 0 ? "0%" : (100 * x).toFixed(x < 0.001 ? 3 : x < 0.1 ? 2 : 1) + "%");
  const finite = (x) => (Number.isFinite(Number(x)) ? Number(x) : 0);
  const r1 = (x) => Math.round(x * 10) / 10;
  function short(text, n) {
    text = String(text === null || text === undefined ? "" : text);
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }
  const name = (t) => "#" + t.id + " " + t.label;
  function empty(box, text) {
    put(box, h("p", { class: "empty" }, text));
  }
  function canvas(box, w, hgt, label) {
    return put(box, s("svg", { viewBox: "0 0 " + w + " " + hgt, role: "img", "aria-label": label }));
  }

  // The tree: each topic's branch, cutting the tree into at most 8 groups (the last merges
  // undone first), each group coloured.
  const node = new Map(nodes.map((n) => [n.id, n]));
  const roots = nodes.filter((n) => n.parent === null || n.parent === undefined || !node.has(n.parent));
  const kids = (n) => (n.children || []).map((c) => node.get(c)).filter((c) => c);
  function leavesOf(n) {
    const out = [];
    const stack = [n];
    while (stack.length) {
      const m = stack.pop();
      const c = kids(m);
      if (c.length) for (let i = c.length - 1; i >= 0; i--) stack.push(c[i]);
      else if (m.topic !== null && m.topic !== undefined) out.push(m.topic);
    }
    return out;
  }
  let groups = roots.slice();
  const wanted = Math.min(PALETTE.length, topics.length);
  while (groups.length < wanted) {
    let best = -1;
    groups.forEach((g, i) => {
      if (kids(g).length && (best < 0 || g.distance > groups[best].distance)) best = i;
    });
    if (best < 0) break;
    groups.splice(best, 1, ...kids(groups[best]));
  }
  groups = groups.map((g) => ({ node: g, topics: leavesOf(g) })).sort((a, b) => b.node.size - a.node.size);
  const groupOf = new Map();
  groups.forEach((g, i) => g.topics.forEach((t) => groupOf.set(t, i)));
  const colour = (id) => (groupOf.has(id) ? PALETTE[groupOf.get(id) % PALETTE.length] : GREY);

  // One tooltip for every mark, by delegation.
  const tip = document.getElementById("tip");
  function topicTip(t) {
    return [
      ["b", name(t)],
      ["", t.theme ? "theme: " + t.theme : "no theme"],
      ["", num(t.size) + " documents (" + pct(t.share) + ")"],
      ["muted", (t.keywords || []).join(", ")],
    ];
  }
  function nodeTip(id) {
    const n = node.get(id);
    if (!n) return null;
    return [
      ["b", n.label],
      ["", leavesOf(n).length + " topics, " + num(n.size) + " documents"],
      ["muted", "merge distance " + finite(n.distance).toFixed(3)],
    ];
  }
  function cellTip(key) {
    const [id, at] = key.split(":").map(Number);
    const t = byId.get(id);
    if (!t || !OT) return null;
    const c = (series.get(id) || new Map()).get(at);
    return [
      ["b", name(t)],
      ["", "period from " + OT.starts[at]],
      ["", c ? num(c[2]) + " documents, " + pct(c[3]) + " of the period's" : "no documents"],
      ["muted", c && c[4] ? c[4] : ""],
    ];
  }
  function place(ev) {
    const pad = 14;
    const r = tip.getBoundingClientRect();
    let x = ev.clientX + pad;
    let y = ev.clientY + pad;
    if (x + r.width > window.innerWidth) x = ev.clientX - r.width - pad;
    if (y + r.height > window.innerHeight) y = ev.clientY - r.height - pad;
    tip.style.left = Math.max(0, x) + "px";
    tip.style.top = Math.max(0, y) + "px";
  }
  document.addEventListener("mousemove", (ev) => {
    const e = ev.target instanceof Element ? ev.target.closest("[data-topic],[data-node],[data-cell]") : null;
    let lines = null;
    if (e && e.hasAttribute("data-cell")) lines = cellTip(e.getAttribute("data-cell"));
    else if (e && e.hasAttribute("data-node")) lines = nodeTip(Number(e.getAttribute("data-node")));
    else if (e) lines = byId.has(Number(e.getAttribute("data-topic"))) ? topicTip(byId.get(Number(e.getAttribute("data-topic")))) : null;
    if (!lines) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren();
    for (const [kind, text] of lines) {
      if (text) put(tip, h(kind === "b" ? "b" : "div", kind === "muted" ? { class: "muted" } : {}, text));
    }
    tip.hidden = false;
    place(ev);
  });
  document.addEventListener("click", (ev) => {
    const e = ev.target instanceof Element ? ev.target.closest("[data-topic],[data-row]") : null;
    if (!e) return;
    const id = Number(e.getAttribute(e.hasAttribute("data-topic") ? "data-topic" : "data-row"));
    if (byId.has(id)) toggle(id);
  });

  function drawSummary() {
    const c = run.counts || {};
    const cfg = run.config || {};
    const dates = run.dates || {};
    const docs = c.documents !== undefined ? c.documents : topics.reduce((a, t) => a + t.size, 0);
    const parts = [num(docs) + " documents", num(topics.length) + " topics"];
    if (c.unassigned) parts.push(num(c.unassigned) + " unassigned (noise, in no topic)");
    if (run.model && run.model.id) parts.push("model " + run.model.id);
    if (cfg.algorithm) parts.push(cfg.algorithm + (cfg.k !== undefined && cfg.k !== null ? " (k " + cfg.k + ")" : ""));
    if (dates.first) parts.push("dates " + dates.first + " to " + dates.last);
    if (run.newsclust_version) parts.push("newsclust " + run.newsclust_version);
    document.getElementById("summary").textContent = parts.join(" · ");
  }

  function drawMap() {
    const box = document.getElementById("map-plot");
    if (!topics.length) return empty(box, "No topics.");
    const W = 1000;
    const H = 600;
    const M = 24;
    let pts = topics.map((t) => [finite(t.x), finite(t.y)]);
    const span = (i) => Math.max(...pts.map((p) => p[i])) - Math.min(...pts.map((p) => p[i]));
    if (topics.length > 1 && Math.max(span(0), span(1)) < 1e-9) {
      // Every centroid in one place: a sunflower spiral, largest first, so each can be seen.
      const rank = new Map(bySize.map((t, i) => [t.id, i]));
      pts = topics.map((t) => {
        const i = rank.get(t.id);
        return [Math.sqrt(i + 0.5) * Math.cos(i * 2.39996), Math.sqrt(i + 0.5) * Math.sin(i * 2.39996)];
      });
      put(box, h("p", { class: "note" }, "All topics' centroids are the same point: the bubbles are laid out in a spiral, largest in the middle, and their places say nothing."));
    }
    const [sx, sy] = [span(0) || 1, span(1) || 1];
    const mid = (i) => (Math.max(...pts.map((p) => p[i])) + Math.min(...pts.map((p) => p[i]))) / 2;
    const [mx, my] = [mid(0), mid(1)];
    const rMax = Math.min(60, Math.max(4, 0.9 * Math.sqrt((W * H) / topics.length / Math.PI)));
    const scale = Math.min((W - 2 * M - 2 * rMax) / sx, (H - 2 * M - 2 * rMax) / sy);
    const maxSize = Math.max(1, ...topics.map((t) => t.size));
    const svg = canvas(box, W, H, "topic map");
    const radius = (t) => Math.max(1.5, rMax * Math.sqrt(t.size / maxSize));
    const xy = topics.map((t, i) => [W / 2 + (pts[i][0] - mx) * scale, H / 2 - (pts[i][1] - my) * scale]);
    if (topics.length <= 400) relax(xy, topics.map(radius), W, H);
    const at = new Map(topics.map((t, i) => [t.id, xy[i]]));
    for (const t of bySize) {
      const [cx, cy] = at.get(t.id);
      put(svg, s("circle", { class: "mark", "data-topic": t.id, cx: r1(cx), cy: r1(cy), r: r1(radius(t)), fill: colour(t.id) }));
    }
    for (const t of bySize.slice(0, 15)) {
      const [cx, cy] = at.get(t.id);
      put(svg, s("text", { class: "halo", x: r1(cx), y: r1(cy + 4), "text-anchor": "middle" }, short(t.label, 28)));
    }
    const legend = document.getElementById("map-legend");
    if (groups.every((g) => g.topics.length < 2)) return;
    for (const [i, g] of groups.entries()) {
      const item = put(legend, h("span"));
      put(item, h("span", { class: "swatch", style: "background:" + PALETTE[i % PALETTE.length] }));
      put(item, document.createTextNode(short(g.node.label, 40) + " (" + g.topics.length + ")"));
    }
  }

  // Nudges overlapping bubbles apart (pairs pushed along the line between them, a few rounds,
  // kept inside the frame): places stay near the projection and none hides another.
  function relax(xy, r, W, H) {
    const n = xy.length;
    for (let round = 0; round < 60; round++) {
      let moved = false;
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          let dx = xy[j][0] - xy[i][0];
          let dy = xy[j][1] - xy[i][1];
          let d = Math.hypot(dx, dy);
          const need = r[i] + r[j] + 1;
          if (d >= need) continue;
          if (d < 1e-6) {
            [dx, dy, d] = [Math.cos(i + j), Math.sin(i + j), 1];
          }
          const push = (need - d) / 2 / d;
          xy[i][0] -= dx * push;
          xy[i][1] -= dy * push;
          xy[j][0] += dx * push;
          xy[j][1] += dy * push;
          moved = true;
        }
      }
      for (let i = 0; i < n; i++) {
        xy[i][0] = Math.min(W - r[i], Math.max(r[i], xy[i][0]));
        xy[i][1] = Math.min(H - r[i], Math.max(r[i], xy[i][1]));
      }
      if (!moved) break;
    }
  }

  function drawSizes() {
    const box = document.getElementById("sizes-plot");
    if (!topics.length) return empty(box, "No topics.");
    const shown = bySize.slice(0, 40);
    const [W, L, R, row] = [1000, 300, 80, 18];
    const svg = canvas(box, W, shown.length * row + 6, "topic sizes");
    const maxSize = Math.max(1, shown[0].size);
    shown.forEach((t, i) => {
      const y = 3 + i * row;
      const w = Math.max(1, ((W - L - R) * t.size) / maxSize);
      put(svg, s("text", { x: L - 8, y: y + 12, "text-anchor": "end" }, short(name(t), 46)));
      put(svg, s("rect", { class: "bar", "data-topic": t.id, x: L, y: y + 1, width: r1(w), height: row - 4, fill: colour(t.id) }));
      put(svg, s("text", { x: r1(L + w + 6), y: y + 12 }, num(t.size)));
    });
    if (topics.length > shown.length) {
      empty(box, "The " + num(topics.length - shown.length) + " smaller topics are in the table below.");
    }
  }

  // Topics over time: the chosen topics' lines (the 5 largest at first; a click on a topic
  // anywhere adds or removes it), by share of each period's documents or by count.
  const series = new Map();
  const chosen = [];
  let byCount = false;
  function drawTimeFrame() {
    const box = document.getElementById("time-plot");
    if (!OT) return empty(box, "The documents carry no dates: nothing to show over time.");
    if (!OT.cells.length) return empty(box, "None of the documents' dates could be read (run.json counts them under dates): nothing to show over time.");
    for (const c of OT.cells) {
      if (!series.has(c[0])) series.set(c[0], new Map());
      series.get(c[0]).set(c[1], c);
    }
    for (const t of bySize) if (chosen.length < 5 && series.has(t.id)) chosen.push(t.id);
    const ctl = document.getElementById("time-controls");
    const modes = put(ctl, h("span"));
    for (const [value, text] of [["share", "share of the period's documents"], ["count", "documents"]]) {
      const label = put(modes, h("label"));
      const radio = put(label, h("input", { type: "radio", name: "time-mode", value: value }));
      radio.checked = (value === "count") === byCount;
      radio.addEventListener("change", () => {
        byCount = value === "count";
        drawTime();
      });
      put(label, document.createTextNode(" " + text + " "));
    }
    const pick = put(ctl, h("select", { "aria-label": "add a topic" }));
    put(pick, h("option", { value: "" }, "add a topic…"));
    for (const t of bySize) if (series.has(t.id)) put(pick, h("option", { value: t.id }, short(name(t), 60)));
    pick.addEventListener("change", () => {
      if (pick.value !== "") toggle(Number(pick.value), true);
      pick.value = "";
    });
    put(ctl, h("span", { id: "time-chips", class: "legend" }));
    if (OT.topics_left_out) {
      put(ctl, h("span", { class: "empty" }, OT.topics_left_out + " smallest topics are left out of this chart (topics_over_time.parquet has them)"));
    }
    drawTime();
  }
  function drawTime() {
    const box = document.getElementById("time-plot");
    if (!OT || !OT.cells.length) return;
    box.replaceChildren();
    const chips = document.getElementById("time-chips");
    chips.replaceChildren();
    if (!chosen.length) return empty(box, "Pick a topic above, or click one on the map, to see it over time.");
    const [W, H, L, R, T, B] = [1000, 360, 64, 20, 14, 44];
    const days = OT.days;
    const [d0, d1] = [days[0], days[days.length - 1]];
    const x = (i) => (d1 > d0 ? L + ((days[i] - d0) / (d1 - d0)) * (W - L - R) : L + (W - L - R) / 2);
    const value = (c) => (c ? (byCount ? c[2] : c[3]) : 0);
    let top = 0;
    for (const id of chosen) for (const c of series.get(id).values()) top = Math.max(top, value(c));
    top = top > 0 ? top : 1;
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const svg = canvas(box, W, H, "topics over time");
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      put(svg, s("line", { class: "grid", x1: L, x2: W - R, y1: r1(y(v)), y2: r1(y(v)) }));
      put(svg, s("text", { x: L - 6, y: r1(y(v) + 4), "text-anchor": "end" }, byCount ? num(Math.round(v)) : pct(v)));
    }
    const n = days.length;
    const ticks = Math.min(n, 8);
    const seen = new Set();
    for (let j = 0; j < ticks; j++) {
      const i = ticks > 1 ? Math.round((j * (n - 1)) / (ticks - 1)) : 0;
      if (seen.has(i)) continue;
      seen.add(i);
      put(svg, s("line", { class: "grid", x1: r1(x(i)), x2: r1(x(i)), y1: T, y2: H - B }));
      const anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
      put(svg, s("text", { x: r1(x(i)), y: H - B + 16, "text-anchor": anchor }, OT.starts[i]));
    }
    chosen.forEach((id, k) => {
      const col = PALETTE[k % PALETTE.length];
      const cells = series.get(id);
      let d = "";
      for (let i = 0; i < n; i++) d += (i ? " L" : "M") + r1(x(i)) + " " + r1(y(value(cells.get(i))));
      put(svg, s("path", { class: "line", d: d, stroke: col, "data-topic": id }));
      if (n <= 80) {
        for (let i = 0; i < n; i++) {
          put(svg, s("circle", { cx: r1(x(i)), cy: r1(y(value(cells.get(i)))), r: 3, fill: col, "data-cell": id + ":" + i }));
        }
      }
      const chip = put(chips, h("button", { class: "chip", type: "button", title: "remove" }));
      put(chip, h("span", { class: "swatch", style: "background:" + col }));
      put(chip, document.createTextNode(short(name(byId.get(id)), 40) + " ×"));
      chip.addEventListener("click", (ev) => {
        ev.stopPropagation();
        toggle(id);
      });
    });
  }
  function toggle(id, onlyAdd) {
    const at = chosen.indexOf(id);
    if (at >= 0 && !onlyAdd) chosen.splice(at, 1);
    else if (at < 0 && series.has(id)) chosen.push(id);
    for (const m of document.querySelectorAll(".mark")) m.classList.toggle("on", chosen.includes(Number(m.getAttribute("data-topic"))));
    for (const r of document.querySelectorAll("tr[data-row]")) r.classList.toggle("on", chosen.includes(Number(r.getAttribute("data-row"))));
    drawTime();
  }

  function drawTree() {
    const box = document.getElementById("tree-plot");
    if (!nodes.length) return empty(box, "No topic tree.");
    const order = [];
    for (const root of roots) {
      const stack = [root];
      while (stack.length) {
        const m = stack.pop();
        const c = kids(m);
        if (c.length) for (let i = c.length - 1; i >= 0; i--) stack.push(c[i]);
        else order.push(m);
      }
    }
    const n = order.length;
    const [W, T, B] = [1000, 10, 10];
    const H = Math.min(1200, Math.max(120, n * 16 + T + B));
    const step = (H - T - B) / Math.max(1, n);
    const named = step >= 11;
    const [L, R] = [16, named ? 320 : 16];
    const dmax = Math.max(0, ...nodes.map((m) => finite(m.distance))) || 1;
    const x = (m) => L + (1 - finite(m.distance) / dmax) * (W - L - R);
    const yOf = new Map();
    order.forEach((m, i) => yOf.set(m.id, T + step * (i + 0.5)));
    // Merged nodes after their children: by distance, then id.
    const merged = nodes.filter((m) => kids(m).length).sort((a, b) => finite(a.distance) - finite(b.distance) || a.id - b.id);
    const pending = merged.slice();
    let guard = pending.length + 1;
    while (pending.length && guard-- > 0) {
      for (let i = 0; i < pending.length; i++) {
        const c = kids(pending[i]);
        if (c.every((k) => yOf.has(k.id))) {
          yOf.set(pending[i].id, c.reduce((a, k) => a + yOf.get(k.id), 0) / c.length);
          pending.splice(i--, 1);
        }
      }
    }
    const svg = canvas(box, W, H, "topic tree");
    const groupColour = (m) => {
      const g = new Set(leavesOf(m).map((t) => groupOf.get(t)));
      return g.size === 1 && !g.has(undefined) ? PALETTE[[...g][0] % PALETTE.length] : GREY;
    };
    for (const m of merged) {
      if (!yOf.has(m.id)) continue;
      const c = kids(m).filter((k) => yOf.has(k.id));
      const ys = c.map((k) => yOf.get(k.id));
      let d = "M" + r1(x(m)) + " " + r1(Math.min(...ys)) + " V" + r1(Math.max(...ys));
      for (const k of c) d += " M" + r1(x(m)) + " " + r1(yOf.get(k.id)) + " H" + r1(x(k));
      put(svg, s("path", { d: d, fill: "none", stroke: groupColour(m), "stroke-width": 1.5, "data-node": m.id }));
    }
    for (const m of order) {
      const t = byId.get(m.topic);
      const attrs = { class: "leaf", cx: r1(x(m)), cy: r1(yOf.get(m.id)), r: step >= 6 ? 3 : 1.5, fill: colour(m.topic) };
      if (t) attrs["data-topic"] = t.id;
      put(svg, s("circle", attrs));
      if (named) put(svg, s("text", { x: r1(x(m) + 7), y: r1(yOf.get(m.id) + 4) }, short(t ? name(t) : m.label, 48)));
    }
    for (const g of groups) {
      const m = g.node;
      if (kids(m).length && yOf.has(m.id)) {
        put(svg, s("text", { class: "halo", x: r1(x(m) + 4), y: r1(yOf.get(m.id) - 5), "data-node": m.id }, short(m.label, 32)));
      }
    }
    if (!named) empty(box, "Too many topics to name each leaf: hover a leaf or a branch for its name.");
  }

  function drawTable() {
    const body = document.querySelector("#topics tbody");
    const rows = [];
    for (const t of topics) {
      const tr = h("tr", { "data-row": t.id });
      put(tr, h("td", { class: "num" }, t.id));
      const cell = put(tr, h("td"));
      put(cell, h("b", {}, t.label));
      if (t.phrase && t.phrase !== t.label) put(cell, h("div", { class: "empty" }, t.phrase));
      put(tr, h("td", {}, t.theme || ""));
      put(tr, h("td", { class: "num" }, num(t.size)));
      put(tr, h("td", { class: "num" }, pct(t.share)));
      put(tr, h("td", {}, (t.keywords || []).join(", ")));
      const list = put(put(tr, h("td")), h("ul"));
      for (const title of t.titles || []) put(list, h("li", {}, title));
      rows.push({ tr: tr, t: t, text: tr.textContent.toLowerCase() });
    }
    rows.forEach((r) => put(body, r.tr));
    const filter = document.getElementById("filter");
    const count = document.getElementById("filter-count");
    const apply = () => {
      const words = filter.value.toLowerCase().split(/\s+/).filter((w) => w);
      let shown = 0;
      for (const r of rows) {
        const on = words.every((w) => r.text.includes(w));
        r.tr.hidden = !on;
        shown += on ? 1 : 0;
      }
      count.textContent = shown + " of " + rows.length + " topics";
    };
    filter.addEventListener("input", apply);
    apply();
    let last = null;
    let up = true;
    for (const th of document.querySelectorAll("#topics th[data-key]")) {
      th.addEventListener("click", () => {
        const key = th.getAttribute("data-key");
        up = last === key ? !up : key !== "size";
        last = key;
        const get = (r) => (r.t[key] === null || r.t[key] === undefined ? "" : r.t[key]);
        rows.sort((a, b) => (get(a) < get(b) ? -1 : get(a) > get(b) ? 1 : a.t.id - b.t.id) * (up ? 1 : -1));
        rows.forEach((r) => put(body, r.tr));
      });
    }
  }

  function drawRun() {
    const box = document.getElementById("run-info");
    const show = (v) => {
      if (v === null || v === undefined) return "—";
      if (Array.isArray(v)) return v.length ? v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ") : "—";
      if (typeof v === "object") return JSON.stringify(v);
      if (typeof v === "number" && !Number.isInteger(v)) return String(Math.round(v * 1000) / 1000);
      return String(v);
    };
    const table = (title, obj) => {
      if (!obj || typeof obj !== "object" || !Object.keys(obj).length) return;
      put(box, h("h3", {}, title));
      const t = put(box, h("table"));
      for (const k of Object.keys(obj)) {
        const tr = put(t, h("tr"));
        put(tr, h("th", {}, k));
        put(tr, h("td", {}, show(obj[k])));
      }
    };
    table("Counts", run.counts);
    table("Timings (seconds)", run.seconds);
    table("Model", run.model);
    table("Dates", run.dates);
    table("Configuration", run.config);
    const rest = {};
    for (const k of Object.keys(run)) {
      if (!["counts", "seconds", "model", "dates", "config"].includes(k)) rest[k] = run[k];
    }
    table("Also in run.json", rest);
  }

  drawSummary();
  drawMap();
  drawSizes();
  drawTimeFrame();
  drawTree();
  drawTable();
  drawRun();
})();
