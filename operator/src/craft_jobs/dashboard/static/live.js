// The pages' behaviour, without a framework or a CDN:
// - live: every few seconds the page fetches itself and swaps the regions
//   marked data-live whose HTML changed (a pause button stops it, remembered);
// - times: <time> elements shown relative or absolute, in UTC or the browser's
//   zone (a toggle, remembered), refreshed every second;
// - the theme toggle (theme.js applies it), the overview chart, bulk selection
//   with "select all N matching" and confirmations.
(function () {
  "use strict";
  const body = document.body;
  const every = Math.max(500, Number(body.dataset.liveMs || 1500));
  const page = body.dataset.page;
  const LIVE_PAGES = ["overview", "jobs", "job", "retries", "recurring", "recurring-job", "queues", "servers"];
  let range = "minute";
  let overview = null;

  function stored(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function text(el, value) { if (el && el.textContent !== String(value)) el.textContent = String(value); }
  function byId(id) { return document.getElementById(id); }

  // -- times ------------------------------------------------------------------
  const pad = function (n) { return String(n).padStart(2, "0"); };
  function utcZone() { return stored("cj-tz") !== "local"; }

  function absolute(d) {
    if (utcZone()) {
      return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
        pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
    }
    const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d)
      .filter(function (p) { return p.type === "timeZoneName"; }).map(function (p) { return p.value; })[0] || "";
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + zone;
  }

  function span(seconds) {
    const s = Math.round(Math.abs(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min" + (s < 600 && s % 60 ? " " + (s % 60) + " s" : "");
    if (s < 86400) return Math.floor(s / 3600) + " h" + (Math.floor(s / 60) % 60 ? " " + (Math.floor(s / 60) % 60) + " min" : "");
    return Math.floor(s / 86400) + " d" + (Math.floor(s / 3600) % 24 ? " " + (Math.floor(s / 3600) % 24) + " h" : "");
  }

  function relative(d) {
    const seconds = (d.getTime() - Date.now()) / 1000;
    if (Math.abs(seconds) < 1.5) return "now";
    return seconds > 0 ? "in " + span(seconds) : span(seconds) + " ago";
  }

  function formatTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      const d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      const style = el.dataset.style;
      let shown, hover;
      if (style === "absolute") { shown = absolute(d); hover = relative(d); }
      else if (style === "since") { shown = span((Date.now() - d.getTime()) / 1000); hover = "since " + absolute(d); }
      else { shown = relative(d); hover = absolute(d); }
      text(el, shown);
      if (el.title !== hover) el.title = hover;
    });
  }

  function wireZone() {
    const button = byId("tz-toggle");
    if (!button) return;
    const label = function () {
      button.textContent = utcZone() ? "Times: UTC" : "Times: local";
      button.setAttribute("aria-label", utcZone() ? "Times in UTC; switch to this browser's time zone"
        : "Times in this browser's time zone; switch to UTC");
    };
    label();
    button.addEventListener("click", function () {
      store("cj-tz", utcZone() ? "local" : "utc");
      label(); formatTimes(); drawChart();
    });
  }

  function wireTheme() {
    const button = byId("theme-toggle");
    if (!button || !window.craftTheme) return;
    const order = ["system", "light", "dark"];
    const label = function () {
      const choice = document.documentElement.dataset.themeChoice || "system";
      button.textContent = "Theme: " + choice;
      button.setAttribute("aria-label", "Theme: " + choice + " (click for " + order[(order.indexOf(choice) + 1) % 3] + ")");
    };
    label();
    button.addEventListener("click", function () {
      const choice = document.documentElement.dataset.themeChoice || "system";
      window.craftTheme.choose(order[(order.indexOf(choice) + 1) % 3]);
      label();
    });
  }

  // -- the overview chart -----------------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";
  function node(name, attrs, parent) {
    const el = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(el);
    return el;
  }

  function clock(iso) {
    const d = new Date(iso);
    return utcZone() ? pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) : pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  // A stacked bar chart in inline SVG: succeeded below, failed above.
  function drawChart() {
    const box = byId("chart");
    if (!box || !overview) return;
    const points = range === "minute" ? overview.per_minute : overview.per_hour;
    // Drawn at the box's own size, so labels keep their shape on a phone.
    const w = Math.max(box.clientWidth, 200), h = Math.max(box.clientHeight, 120), left = 36, bottom = 20, top = 8;
    const max = Math.max(1, ...points.map(function (p) { return p.succeeded + p.failed; }));
    const svg = node("svg", { viewBox: "0 0 " + w + " " + h, role: "img",
      "aria-label": "succeeded and failed jobs, " + (range === "minute" ? "per minute" : "per hour") });
    const plotH = h - bottom - top, step = (w - left) / Math.max(points.length, 1);
    [0, 0.5, 1].forEach(function (f) {
      const y = top + plotH * (1 - f);
      node("line", { x1: left, x2: w, y1: y, y2: y, class: "axis" }, svg);
      node("text", { x: 2, y: y + 3 }, svg).textContent = String(Math.round(max * f));
    });
    let total = 0, failed = 0;
    const labelEvery = Math.ceil(points.length / Math.max(2, Math.floor((w - left) / 70)));
    points.forEach(function (p, i) {
      total += p.succeeded; failed += p.failed;
      const x = left + i * step + step * 0.12, bw = Math.max(step * 0.76, 1);
      const hs = plotH * p.succeeded / max, hf = plotH * p.failed / max;
      const ok = node("rect", { x: x, y: top + plotH - hs, width: bw, height: hs, class: "ok" }, svg);
      const bad = node("rect", { x: x, y: top + plotH - hs - hf, width: bw, height: hf, class: "bad" }, svg);
      const tip = clock(p.bucket) + ": " + p.succeeded + " succeeded, " + p.failed + " failed";
      node("title", {}, ok).textContent = tip; node("title", {}, bad).textContent = tip;
      if (i % labelEvery === 0) node("text", { x: x, y: h - 5 }, svg).textContent = clock(p.bucket);
    });
    box.replaceChildren(svg);
    text(byId("chart-total"), total + " succeeded, " + failed + " failed");
  }

  function readOverview() {
    const data = byId("overview-data");
    if (data) { overview = JSON.parse(data.textContent); drawChart(); }
  }

  // -- bulk selection ---------------------------------------------------------
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll("input[name=ids]")); }
  function allMatching() { const input = byId("all-matching"); return input && !input.disabled; }

  function setAllMatching(on, untickPage) {
    const input = byId("all-matching"), offer = byId("select-matching"), button = byId("select-matching-button");
    if (!input || !offer) return;
    input.disabled = !on;
    const total = (offer.dataset.estimated ? "≈" : "") + Number(offer.dataset.total).toLocaleString("en") +
      (offer.dataset.capped ? "+" : "");
    button.textContent = on ? "All " + total + " matching jobs are selected · clear" : "Select all " + total + " matching";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    if (untickPage) boxes().forEach(function (b) { b.checked = false; });
    selectionChanged();
  }

  function selected() {
    if (allMatching()) return Number(byId("select-matching").dataset.total);
    return boxes().filter(function (b) { return b.checked; }).length;
  }

  function selectionChanged() {
    const all = byId("select-all"), list = boxes(), offer = byId("select-matching");
    const ticked = list.filter(function (b) { return b.checked; }).length;
    if (all) all.checked = list.length > 0 && ticked === list.length;
    if (offer) {
      const more = Number(offer.dataset.total) > list.length;
      offer.classList.toggle("hidden", !(more && list.length > 0 && ticked === list.length));
    }
    const n = selected(), offerData = offer ? offer.dataset : {};
    text(byId("selected-count"), (allMatching() && offerData.estimated ? "≈" : "") + n.toLocaleString("en") +
      (allMatching() && offerData.capped ? "+" : "") + " selected");
  }

  function wireSelection() {
    document.addEventListener("change", function (ev) {
      const t = ev.target;
      if (t.id === "select-all") {
        boxes().forEach(function (b) { b.checked = t.checked; });
        if (!t.checked && allMatching()) setAllMatching(false, false);
        selectionChanged();
      } else if (t.name === "ids") {
        if (!t.checked && allMatching()) setAllMatching(false, false);
        selectionChanged();
      }
    });
    const button = byId("select-matching-button");
    if (button) button.addEventListener("click", function () { const on = !allMatching(); setAllMatching(on, !on); });
    document.addEventListener("submit", function (ev) {
      const form = ev.target;
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { ev.preventDefault(); return; }
      const submitter = ev.submitter;
      if (submitter && submitter.dataset.confirmBulk) {
        const n = selected();
        if (n === 0) return;  // the server says "nothing selected"
        const what = allMatching() ? "all " + n.toLocaleString("en") + " matching jobs" : n + " job(s)";
        if (!window.confirm(submitter.dataset.confirmBulk + " " + what + "? This cannot be undone.")) ev.preventDefault();
      }
    });
    selectionChanged();
  }

  // -- live regions -----------------------------------------------------------
  const seen = {};  // region id -> the server's HTML last put in place
  function remember() {
    document.querySelectorAll("[data-live][id]").forEach(function (el) { seen[el.id] = el.outerHTML; });
  }

  function paused() { return stored("cj-live") === "paused"; }

  function status(state) {
    const el = byId("live-status");
    if (!el) return;
    el.classList.toggle("stale", state === "reconnecting" || state === "signed out");
    el.classList.toggle("paused", state === "paused");
    text(el, state);
  }

  function swap(doc) {
    const checked = new Set(boxes().filter(function (b) { return b.checked; }).map(function (b) { return b.value; }));
    const before = byId("job") && byId("job").dataset.state;
    let changed = false;
    document.querySelectorAll("[data-live][id]").forEach(function (el) {
      const fresh = doc.getElementById(el.id);
      if (!fresh || seen[el.id] === fresh.outerHTML) return;
      // Someone tabbing through a region keeps their place: it is updated on a later round.
      if (el.contains(document.activeElement) && document.activeElement !== document.body) return;
      seen[el.id] = fresh.outerHTML;
      const copy = document.importNode(fresh, true);
      el.replaceWith(copy);
      formatTimes(copy);
      changed = true;
    });
    if (!changed) return;
    boxes().forEach(function (b) { b.checked = allMatching() || checked.has(b.value); });
    selectionChanged();
    if (page === "overview") readOverview();
    const job = byId("job");
    if (job && before && job.dataset.state !== before) {
      text(byId("state-changed"), "This job is now " + job.dataset.state + ".");
      byId("state-changed").classList.remove("hidden");
    }
  }

  let busy = false;
  async function poll() {
    if (busy || paused() || document.hidden) return;
    busy = true;
    try {
      const r = await fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-By": "live" } });
      if (r.redirected && /\/login/.test(r.url)) { status("signed out"); return; }
      if (!r.ok) throw new Error(String(r.status));
      swap(new DOMParser().parseFromString(await r.text(), "text/html"));
      status("live");
    } catch (e) {
      status("reconnecting");
    } finally {
      busy = false;
    }
  }

  function wireLive() {
    const button = byId("live-toggle");
    const label = function () {
      if (!button) return;
      button.textContent = paused() ? "Resume" : "Pause";
      button.setAttribute("aria-pressed", paused() ? "true" : "false");
      button.setAttribute("aria-label", paused() ? "Resume live updates" : "Pause live updates");
      status(paused() ? "paused" : "live");
    };
    if (button) {
      button.addEventListener("click", function () {
        store("cj-live", paused() ? "on" : "paused");
        label();
        if (!paused()) poll();
      });
    }
    label();
    if (LIVE_PAGES.indexOf(page) >= 0) {
      remember();
      setInterval(poll, every);
    }
  }

  function wire() {
    wireZone(); wireTheme(); wireSelection(); wireLive();
    readOverview(); formatTimes();
    let resized = null;
    window.addEventListener("resize", function () { clearTimeout(resized); resized = setTimeout(drawChart, 150); });
    setInterval(function () { formatTimes(); }, 1000);
    document.querySelectorAll("[data-range]").forEach(function (tab) {
      tab.addEventListener("click", function () {
        range = tab.dataset.range;
        document.querySelectorAll("[data-range]").forEach(function (t) {
          t.classList.toggle("active", t === tab);
          t.setAttribute("aria-pressed", t === tab ? "true" : "false");
        });
        drawChart();
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire); else wire();
})();
