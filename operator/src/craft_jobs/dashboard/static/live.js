// Live numbers without reloading: polls the JSON API, updates counts, the chart
// and (on a job's page) says when the job changed state. No framework, no CDN.
(function () {
  "use strict";
  const body = document.body;
  const base = body.dataset.base || "";
  const every = Number(body.dataset.liveMs || 3000);
  const page = body.dataset.page;
  let range = "minute";
  let overview = null;

  function text(el, value) { if (el && el.textContent !== String(value)) el.textContent = String(value); }

  function setCounts(counts) {
    document.querySelectorAll("[data-count]").forEach(function (el) {
      const value = counts[el.dataset.count];
      if (value !== undefined) text(el, value);
    });
  }

  const SVG = "http://www.w3.org/2000/svg";
  function node(name, attrs, parent) {
    const el = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(el);
    return el;
  }

  function label(iso) {
    const d = new Date(iso);
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  // A stacked bar chart in inline SVG: succeeded below, failed above.
  function drawChart() {
    const box = document.getElementById("chart");
    if (!box || !overview) return;
    const points = range === "minute" ? overview.per_minute : overview.per_hour;
    const w = 1000, h = 220, left = 36, bottom = 20, top = 8;
    const max = Math.max(1, ...points.map(function (p) { return p.succeeded + p.failed; }));
    const svg = node("svg", { viewBox: "0 0 " + w + " " + h, preserveAspectRatio: "none", role: "img" });
    const plotH = h - bottom - top, step = (w - left) / Math.max(points.length, 1);
    [0, 0.5, 1].forEach(function (f) {
      const y = top + plotH * (1 - f);
      node("line", { x1: left, x2: w, y1: y, y2: y, class: "axis" }, svg);
      node("text", { x: 2, y: y + 3 }, svg).textContent = String(Math.round(max * f));
    });
    let total = 0, failed = 0;
    points.forEach(function (p, i) {
      total += p.succeeded; failed += p.failed;
      const x = left + i * step + step * 0.12, bw = Math.max(step * 0.76, 1);
      const hs = plotH * p.succeeded / max, hf = plotH * p.failed / max;
      const ok = node("rect", { x: x, y: top + plotH - hs, width: bw, height: hs, class: "ok" }, svg);
      const bad = node("rect", { x: x, y: top + plotH - hs - hf, width: bw, height: hf, class: "bad" }, svg);
      const tip = label(p.bucket) + ": " + p.succeeded + " succeeded, " + p.failed + " failed";
      node("title", {}, ok).textContent = tip; node("title", {}, bad).textContent = tip;
      const every = Math.ceil(points.length / 8);
      if (i % every === 0) node("text", { x: x, y: h - 5 }, svg).textContent = label(p.bucket);
    });
    box.replaceChildren(svg);
    text(document.getElementById("chart-total"), total + " succeeded, " + failed + " failed");
  }

  function fmt(s) {
    if (s === null || s === undefined) return "—";
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 120) return s.toFixed(1) + " s";
    return (s / 60).toFixed(1) + " min";
  }

  function drawDurations() {
    const tbody = document.querySelector("#durations tbody");
    if (!tbody || !overview) return;
    if (!overview.durations.length) return;
    const rows = overview.durations.map(function (d) {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = base + "/jobs?job_type=" + encodeURIComponent(d.job_type);
      link.textContent = d.job_type;  // textContent: a job type is never markup
      const first = document.createElement("td"); first.appendChild(link); tr.appendChild(first);
      [String(d.executions), fmt(d.run_p50), fmt(d.run_p95), fmt(d.run_p99), fmt(d.run_max),
       fmt(d.wait_p50), fmt(d.wait_p95)].forEach(function (v) {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      return tr;
    });
    tbody.replaceChildren.apply(tbody, rows);
  }

  function status(ok) {
    const el = document.getElementById("live-status");
    if (el) { el.classList.toggle("stale", !ok); el.textContent = ok ? "live" : "reconnecting"; }
  }

  async function poll() {
    try {
      if (page === "overview") {
        const r = await fetch("/api/stats/overview", { credentials: "same-origin" });
        if (!r.ok) throw new Error(r.status);
        overview = await r.json();
        setCounts(overview.counts); drawChart(); drawDurations();
      } else if (document.querySelector("[data-count]")) {
        const r = await fetch("/api/stats/counts", { credentials: "same-origin" });
        if (!r.ok) throw new Error(r.status);
        setCounts(await r.json());
      }
      const job = document.getElementById("job");
      if (job) {
        const r = await fetch("/api/jobs/" + job.dataset.jobId, { credentials: "same-origin" });
        if (r.ok) {
          const detail = await r.json();
          if (detail.job.state !== job.dataset.state) {
            const note = document.getElementById("state-changed");
            note.textContent = "This job is now " + detail.job.state + ". ";
            const again = document.createElement("a");
            again.href = window.location.pathname; again.textContent = "Reload to see its history";
            note.appendChild(again); note.classList.remove("hidden");
          }
        }
      }
      status(true);
    } catch (e) {
      status(false);
    }
  }

  function wire() {
    const data = document.getElementById("overview-data");
    if (data) { overview = JSON.parse(data.textContent); drawChart(); }
    document.querySelectorAll("[data-range]").forEach(function (tab) {
      tab.addEventListener("click", function () {
        range = tab.dataset.range;
        document.querySelectorAll("[data-range]").forEach(function (t) { t.classList.toggle("active", t === tab); });
        drawChart();
      });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) { if (!window.confirm(form.dataset.confirm)) ev.preventDefault(); });
    });
    const all = document.getElementById("select-all");
    const boxes = function () { return document.querySelectorAll("input[name=ids]"); };
    const count = function () {
      const n = Array.prototype.filter.call(boxes(), function (b) { return b.checked; }).length;
      text(document.getElementById("selected-count"), n + " selected");
    };
    if (all) all.addEventListener("change", function () { boxes().forEach(function (b) { b.checked = all.checked; }); count(); });
    boxes().forEach(function (b) { b.addEventListener("change", count); });
    if (page && page !== "login" && page !== "error" && page !== "api") setInterval(poll, every);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire); else wire();
})();
