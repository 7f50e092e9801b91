// hybridjobs console: live job pages (short polling, one request at a time per page),
// log tabs / follow / search, uPlot metric charts, list sorting and the "unreachable" banner.
"use strict";
(function () {
  const offline = () => document.getElementById("offline");
  function reachable(ok) { const o = offline(); if (o) o.hidden = ok; }
  document.addEventListener("htmx:sendError", () => reachable(false));
  document.addEventListener("htmx:afterRequest", (e) => { if (e.detail.successful || e.detail.xhr.status) reachable(true); });

  async function getJSON(url) {
    let response;
    try { response = await fetch(url, { credentials: "same-origin", cache: "no-store" }); }
    catch (error) { reachable(false); throw error; }
    reachable(true);
    if (response.status === 401) { location.reload(); throw new Error("signed out"); }
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }
  // Calls fn every `ms` until it returns false; never two calls at once; keeps trying
  // (slower) while the service is unreachable.
  function every(ms, fn) {
    async function tick() {
      let again = true, wait = ms;
      try { again = (await fn()) !== false; } catch (e) { wait = Math.max(ms, 2000); }
      if (again) setTimeout(tick, wait);
    }
    tick();
  }

  // ---- the jobs list: name, status and created sort on the server (links); device,
  // duration and billable sort the shown rows, kept across live refreshes
  function setupList() {
    const table = document.getElementById("jobs");
    if (!table) return;
    let key = null, desc = false;
    function apply() {
      if (!key) return;
      const body = table.tBodies[0];
      const rows = [...body.querySelectorAll("tr[data-arn]")];
      const pager = body.querySelector("tr.pager");
      const numeric = ["created", "duration", "billable"].includes(key);
      rows.sort((a, b) => {
        const x = a.dataset[key], y = b.dataset[key];
        const c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return desc ? -c : c;
      });
      rows.forEach((r) => body.appendChild(r));
      if (pager) body.appendChild(pager);
    }
    table.querySelectorAll("th button[data-sort]").forEach((b) => {
      b.setAttribute("aria-sort", "none");
      b.addEventListener("click", () => {
        desc = key === b.dataset.sort ? !desc : false;
        key = b.dataset.sort;
        table.querySelectorAll("th button").forEach((o) => o.setAttribute("aria-sort", "none"));
        b.setAttribute("aria-sort", desc ? "descending" : "ascending");
        apply();
      });
    });
    document.addEventListener("htmx:afterSwap", apply);
  }

  // ---- a job's page
  function setupJob() {
    const root = document.getElementById("job");
    if (!root) return;
    const path = root.dataset.path;
    let terminal = root.dataset.terminal === "true";
    const instances = root.dataset.instances.split(",").filter(Boolean);

    every(1000, async () => {
      const s = await getJSON(path + "/state");
      const badge = document.getElementById("job-status");
      if (badge.textContent !== s.status) {
        badge.textContent = s.status;
        badge.className = "status s-" + s.status;
        root.dataset.status = s.status;
      }
      const failure = document.getElementById("failure");
      failure.hidden = !s.failureReason;
      failure.textContent = s.failureReason || "";
      const when = (v) => v ? v.replace("T", " ").slice(0, 19) : "—";
      document.getElementById("started").textContent = when(s.startedAt);
      document.getElementById("ended").textContent = when(s.endedAt);
      if (s.billableDuration != null) document.getElementById("billable").textContent = (s.billableDuration / 1000).toFixed(1) + "s";
      const events = document.getElementById("events");
      if (events.children.length !== s.events.length) {
        events.replaceChildren(...s.events.map((e) => {
          const li = document.createElement("li");
          const t = document.createElement("time"); t.textContent = when(e.time);
          const b = document.createElement("b"); b.textContent = e.type;
          li.append(t, " ", b, " " + e.message);
          return li;
        }));
      }
      document.getElementById("cancel-form").hidden = s.terminal || s.status === "CANCELLING";
      if (s.terminal && !terminal) { terminal = true; setTimeout(() => location.reload(), 1500); }
      return !s.terminal;
    });

    // logs
    const log = document.getElementById("log");
    const follow = document.getElementById("follow");
    const search = document.getElementById("log-search");
    const count = document.getElementById("log-count");
    const cursors = {};
    const MAX_LINES = 20000;
    let shown = "", needle = "", total = 0, dropped = 0;
    function visible(line) {
      return (!shown || line.dataset.i === shown) && (!needle || line.dataset.m.toLowerCase().includes(needle));
    }
    function paint(line) {
      line.classList.toggle("hide", !visible(line));
      const text = line.querySelector(".m");
      const message = line.dataset.m;
      if (needle && !line.classList.contains("hide")) {
        const at = message.toLowerCase().indexOf(needle);
        const mark = document.createElement("mark");
        mark.textContent = message.slice(at, at + needle.length);
        text.replaceChildren(message.slice(0, at), mark, message.slice(at + needle.length));
      } else if (text.childNodes.length !== 1) {
        text.textContent = message;
      }
    }
    function repaint() {
      let n = 0;
      for (const line of log.children) { paint(line); if (!line.classList.contains("hide")) n++; }
      count.textContent = n + " of " + total + " lines";
      if (follow.checked) log.scrollTop = log.scrollHeight;
    }
    document.querySelectorAll("#log-tabs [role=tab]").forEach((tab, index, tabs) => {
      tab.addEventListener("click", () => {
        tabs.forEach((t) => t.setAttribute("aria-selected", String(t === tab)));
        shown = tab.dataset.instance;
        repaint();
      });
      tab.addEventListener("keydown", (e) => {
        const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
        if (step) { const next = tabs[(index + step + tabs.length) % tabs.length]; next.focus(); next.click(); }
      });
    });
    search.addEventListener("input", () => { needle = search.value.toLowerCase(); repaint(); });
    log.addEventListener("scroll", () => {
      const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 20;
      if (!atEnd && follow.checked && log.dataset.programmatic !== "1") follow.checked = false;
    });
    follow.addEventListener("change", () => { if (follow.checked) log.scrollTop = log.scrollHeight; });
    let logsDone = false;
    every(500, async () => {
      const after = instances.map((i) => i + ":" + (cursors[i] || 0)).join(",");
      const answer = await getJSON(path + "/logs?after=" + encodeURIComponent(after));
      const fragment = document.createDocumentFragment();
      for (const l of answer.lines) {
        cursors[l.i] = Math.max(cursors[l.i] || 0, l.s);
        const line = document.createElement("div");
        line.className = "ln";
        line.dataset.i = l.i; line.dataset.m = l.m; line.dataset.t = l.t;
        const i = document.createElement("span"); i.className = "i"; i.textContent = l.i;
        const t = document.createElement("span"); t.className = "t"; t.textContent = new Date(l.t).toISOString().slice(11, 23);
        const m = document.createElement("span"); m.className = "m"; m.textContent = l.m;
        line.append(i, t, m);
        paint(line);
        fragment.appendChild(line);
      }
      if (answer.lines.length) {
        // interleave: each new line goes after the last shown line not newer than it
        // (almost always the end, so a poll costs the lines it brings, not the log)
        for (const line of [...fragment.children]) {
          let before = log.lastElementChild;
          while (before && +before.dataset.t > +line.dataset.t) before = before.previousElementSibling;
          log.insertBefore(line, before ? before.nextSibling : log.firstChild);
        }
        total += answer.lines.length;
        while (log.childElementCount > MAX_LINES) { log.firstElementChild.remove(); total--; dropped++; }
        count.textContent = total + " lines" + (dropped ? " (the first " + dropped + " dropped from the page)" : "");
        if (follow.checked) { log.dataset.programmatic = "1"; log.scrollTop = log.scrollHeight; setTimeout(() => { log.dataset.programmatic = "0"; }, 50); }
      }
      if (answer.more) return true;
      if (answer.terminal) { if (logsDone) return false; logsDone = true; }
      return true;
    });

    // metrics: one chart per metric, one series per instance
    const charts = document.getElementById("charts");
    const metrics = new Map();  // name -> {series: Map(instance -> Map(x -> y)), plot, el}
    let seen = 0, metricsDone = false;
    const palette = ["#0b5cad", "#d1495b", "#2a9d8f", "#e9c46a", "#6a4c93", "#f4a261", "#264653", "#8ab17d"];
    function axis() {
      const style = getComputedStyle(document.body);
      const line = style.getPropertyValue("--line").trim() || "#ccc";
      return { stroke: style.color, grid: { stroke: line }, ticks: { stroke: line } };
    }
    function draw(name, metric) {
      const xs = [...new Set([...metric.series.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
      const names = [...metric.series.keys()].sort();
      const data = [xs, ...names.map((n) => xs.map((x) => metric.series.get(n).has(x) ? metric.series.get(n).get(x) : null))];
      metric.el.dataset.series = names.join(",");
      const lone = () => { if (xs.length === 1) metric.plot.setScale("x", { min: xs[0] - 5, max: xs[0] + 5 }); };
      if (metric.plot && metric.names === names.join(",")) {
        // keep a zoom the user made (drag); double-click shows everything again
        const x = metric.plot.scales.x, [low, high] = metric.bounds;
        const zoomed = x.min != null && (x.min > low + 1e-6 || x.max < high - 1e-6);
        metric.plot.setData(data, !zoomed);
        metric.bounds = [xs[0], xs[xs.length - 1]];
        if (!zoomed) lone();
        return;
      }
      if (metric.plot) metric.plot.destroy();
      metric.bounds = [xs[0], xs[xs.length - 1]];
      metric.names = names.join(",");
      const width = Math.max(280, metric.el.clientWidth || 460);
      metric.plot = new uPlot({
        width, height: 240,
        scales: { x: { time: true } },
        series: [{}, ...names.map((n, k) => ({ label: n, stroke: palette[k % palette.length], width: 1.5, spanGaps: true }))],
        cursor: { drag: { x: true, y: false } },
        axes: [axis(), axis()],
      }, data, metric.el.querySelector(".plot"));
      lone();
    }
    every(2000, async () => {
      const answer = await getJSON(path + "/metrics?after=" + seen);
      seen += answer.points.length;
      const touched = new Set();
      for (const [name, instance, time, value] of answer.points) {
        let metric = metrics.get(name);
        if (!metric) {
          const el = document.createElement("div");
          el.className = "chart"; el.dataset.metric = name;
          const h = document.createElement("h3"); h.textContent = name;
          const plot = document.createElement("div"); plot.className = "plot";
          el.append(h, plot);
          charts.appendChild(el);
          metric = { series: new Map(), plot: null, el, names: "" };
          metrics.set(name, metric);
        }
        if (!metric.series.has(instance)) metric.series.set(instance, new Map());
        metric.series.get(instance).set(time, value);
        touched.add(name);
      }
      if (metrics.size) document.getElementById("metrics-empty").hidden = true;
      if (typeof uPlot !== "undefined") touched.forEach((name) => draw(name, metrics.get(name)));
      if (answer.terminal) { if (metricsDone) return false; metricsDone = true; }
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", () => { setupList(); setupJob(); });
})();
