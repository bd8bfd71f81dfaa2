// modelyard dashboard: fetches /dashboard/api/summary and draws plain SVG (no library, works offline).
"use strict";
const NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const fmt = (x, d = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
const usd = (x) => (x === null || x === undefined ? "–" : "$" + Number(x).toFixed(x < 0.01 ? 6 : 4));

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function clear(svg) { while (svg.firstChild) svg.removeChild(svg.firstChild); }

// Horizontal bars: rows of {label, values: [..]} with one colour per series.
function bars(svg, rows, series) {
  clear(svg);
  if (!rows.length) { svg.appendChild(el("text", { x: 10, y: 20 }, "no data")); return; }
  const W = 600, left = 150, right = 70, rowH = Math.min(28, 170 / rows.length);
  const max = Math.max(1e-12, ...rows.flatMap((r) => r.values.map((v) => v || 0)));
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    svg.appendChild(el("text", { x: left - 6, y: y + rowH * 0.6, "text-anchor": "end" }, r.label));
    const h = (rowH - 4) / series.length;
    r.values.forEach((v, j) => {
      const w = ((v || 0) / max) * (W - left - right);
      const bar = el("rect", { x: left, y: y + j * h, width: Math.max(w, 1), height: h - 1, fill: series[j].color });
      bar.appendChild(el("title", {}, `${r.label} ${series[j].name}: ${series[j].fmt(v)}`));
      svg.appendChild(bar);
      svg.appendChild(el("text", { x: left + w + 4, y: y + j * h + h * 0.75 }, series[j].fmt(v)));
    });
  });
}

// Column chart of the timeline (requests per bucket; errors in red on top).
function timeline(svg, points, bucket) {
  clear(svg);
  const W = 600, H = 160, n = points.length;
  const max = Math.max(1, ...points.map((p) => p.n));
  const w = W / n;
  points.forEach((p, i) => {
    const h = (p.n / max) * (H - 10), eh = (p.errors / max) * (H - 10);
    if (p.n) {
      const bar = el("rect", { x: i * w, y: H - h, width: Math.max(w - 1, 1), height: h, fill: "#3b6fd8" });
      bar.appendChild(el("title", {}, `${new Date(p.t * 1000).toLocaleTimeString()}: ${p.n} requests, ${(p.n / bucket).toFixed(2)}/s`));
      svg.appendChild(bar);
    }
    if (p.errors) svg.appendChild(el("rect", { x: i * w, y: H - eh, width: Math.max(w - 1, 1), height: eh, fill: "#c8412f" }));
  });
  svg.appendChild(el("line", { x1: 0, y1: H, x2: W, y2: H, stroke: "#e3e6ee" }));
  svg.appendChild(el("text", { x: 2, y: 176 }, new Date(points[0].t * 1000).toLocaleTimeString()));
  svg.appendChild(el("text", { x: W - 2, y: 176, "text-anchor": "end" }, "now · max " + max + " per " + bucket.toFixed(0) + " s"));
}

function fillTable(id, rows) {
  const body = $(id).querySelector("tbody");
  body.innerHTML = "";
  for (const cells of rows) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (typeof c === "object" && c !== null) { td.textContent = c.text; if (c.cls) td.className = c.cls; }
      else td.textContent = c;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function render(d) {
  const t = d.totals;
  $("requests-total").textContent = t.requests;
  $("rps").textContent = fmt(t.requests_per_s, 2);
  $("cost-total").textContent = usd(t.cost_usd);
  $("latency").textContent = `${fmt(t.p50_ms, 0)} / ${fmt(t.p95_ms, 0)} ms`;
  $("errors").textContent = `${t.errors} (+${t.safe_defaults} safe default)`;
  $("fallbacks").textContent = `${t.fallbacks} / ${t.escalations}`;
  $("cheap").textContent = t.cheap_share === null ? "–" : (100 * t.cheap_share).toFixed(0) + "%";
  timeline($("chart-timeline"), d.timeline, d.bucket_s);
  bars($("chart-cost-family"), d.by_family.map((g) => ({ label: g.key, values: [g.cost_usd] })),
    [{ name: "cost", color: "#3b6fd8", fmt: usd }]);
  bars($("chart-latency-model"), d.by_model.slice(0, 8).map((g) => ({ label: g.key, values: [g.p50_ms, g.p95_ms] })),
    [{ name: "p50", color: "#3b6fd8", fmt: (v) => fmt(v, 0) + " ms" }, { name: "p95", color: "#e08a2e", fmt: (v) => fmt(v, 0) + " ms" }]);
  bars($("chart-route-mix"), d.by_route.slice(0, 8).map((g) => ({ label: g.key, values: [g.n] })),
    [{ name: "requests", color: "#2f8f4e", fmt: (v) => String(v) }]);
  fillTable("by-model", d.by_model.map((g) => [g.key, g.family || "-", g.n, usd(g.cost_usd), fmt(g.p50_ms, 0),
    fmt(g.p95_ms, 0), g.quality === null ? "–" : fmt(g.quality, 2), (100 * g.fallback_rate).toFixed(0) + "%"]));
  const breakers = Object.entries(d.breakers);
  fillTable("breakers", breakers.length ? breakers.map(([m, s]) => [m, { text: s, cls: "state-" + s }]) : [["(no breakers)", ""]]);
  fillTable("sinks", d.sinks.length ? d.sinks.map((s) => [s.sink, s.written, s.queued, s.dropped, s.failed]) : [["(memory only)", "", "", "", ""]]);
  fillTable("latest", d.latest.map((r) => [
    new Date(r.time * 1000).toLocaleTimeString(), r.request_id, r.route, (r.model || "-") + (r.simulated ? " (simulated)" : ""),
    { text: r.status + (r.error_kind ? ` (${r.error_kind})` : ""), cls: "status-" + r.status },
    fmt(r.latency_ms, 1), usd(r.cost_usd),
    { text: [r.reason, ...r.events, ...r.rejected.map((x) => "✗ " + x)].join(" · "), cls: "why" },
  ]));
  $("status").textContent = `updated ${new Date(d.now * 1000).toLocaleTimeString()} · source: ${d.source}`;
}

async function refresh() {
  try {
    const res = await fetch("/dashboard/api/summary?window=" + $("window").value, { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    render(await res.json());
    document.body.dataset.loaded = "true";
  } catch (err) {
    $("status").textContent = "refresh failed: " + err.message;
  }
}

$("window").addEventListener("change", refresh);
refresh();
setInterval(refresh, 2000);
