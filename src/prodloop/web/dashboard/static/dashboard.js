// prodloop dashboard: draws the charts of every <section class="charts" data-src> with
// uPlot, marks deploys / rollbacks / flag changes, refreshes them, and on a service page
// lists the raw requests of the minute clicked. No inline script: the CSP forbids it.
(function () {
  "use strict";

  var REFRESH_MS = 60000;
  var FORMATS = {
    latency_p50_ms: function (v) { return v.toFixed(0) + " ms"; },
    latency_p95_ms: function (v) { return v.toFixed(0) + " ms"; },
    error_rate: function (v) { return (v * 100).toFixed(2) + "%"; },
    cost_per_request_usd: function (v) { return "$" + v.toFixed(v >= 0.01 ? 4 : 6); },
    guardrail_triggers: function (v) { return v.toFixed(0); }
  };

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function palette() {
    return cssVar("--series").split(/\s+/).filter(Boolean);
  }

  function markerPlugin(markers) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          var top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
          ctx.save();
          ctx.lineWidth = Math.max(1, window.devicePixelRatio || 1) * 1.5;
          ctx.setLineDash([5, 4]);
          markers.forEach(function (m) {
            var x = u.valToPos(m.ts, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
            ctx.strokeStyle = cssVar("--marker-" + m.kind);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, bottom);
            ctx.stroke();
          });
          ctx.restore();
        }]
      }
    };
  }

  function chartOptions(metric, data, width) {
    var fmt = FORMATS[metric] || function (v) { return String(v); };
    var colours = palette();
    var text = cssVar("--muted"), line = cssVar("--line");
    var series = [{}];
    data.series.forEach(function (name, i) {
      series.push({
        label: name,
        stroke: colours[i % colours.length],
        width: 1.5,
        spanGaps: false,
        points: { show: data.times.length < 80 },
        value: function (u, v) { return v == null ? "–" : fmt(v); }
      });
    });
    var axis = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    return {
      width: width,
      height: 200,
      series: series,
      axes: [
        axis,
        Object.assign({}, axis, {
          // Wide enough for the longest tick label ("$0.001250" needs more than "5 ms").
          size: function (u, values) {
            var longest = (values || []).reduce(function (n, v) { return Math.max(n, v.length); }, 0);
            return Math.max(40, longest * 7 + 18);
          },
          values: function (u, vals) { return vals.map(function (v) { return v == null ? "" : fmt(v); }); }
        })
      ],
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      legend: { show: data.series.length > 0 },
      cursor: { drag: { x: false, y: false } },
      plugins: [markerPlugin(data.markers)]
    };
  }

  function listMarkers(section, markers) {
    var list = section.querySelector(".markers");
    if (!list) return;
    list.replaceChildren();
    markers.forEach(function (m) {
      var item = document.createElement("li");
      item.className = m.kind;
      item.textContent = new Date(m.ts * 1000).toLocaleString() + " " + m.label;
      list.appendChild(item);
    });
  }

  function onMinuteClick(section, u) {
    var url = section.getAttribute("data-minute-url");
    if (!url || !window.htmx) return;
    u.over.addEventListener("click", function () {
      var left = u.cursor.left;
      if (left == null || left < 0) return;
      var ts = Math.floor(u.posToVal(left, "x"));
      window.htmx.ajax("GET", url + "?ts=" + ts, {
        target: section.getAttribute("data-minute-target") || "#minute",
        swap: "innerHTML"
      });
    });
  }

  function draw(section, data) {
    (section._plots || []).forEach(function (p) { p.destroy(); });
    section._plots = [];
    section.querySelectorAll(".chart[data-metric]").forEach(function (box) {
      var metric = box.getAttribute("data-metric");
      var values = data.values[metric] || [];
      var rows = [data.times].concat(values);
      var width = Math.max(200, box.clientWidth);
      var plot = new window.uPlot(chartOptions(metric, data, width), rows, box);
      onMinuteClick(section, plot);
      section._plots.push(plot);
    });
    listMarkers(section, data.markers);
    section.setAttribute("data-drawn", String(Date.now()));
  }

  function load(section) {
    var src = section.getAttribute("data-src");
    return fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); return null; }
        if (!response.ok) throw new Error("chart data: HTTP " + response.status);
        return response.json();
      })
      .then(function (data) { if (data) { section._data = data; draw(section, data); } })
      .catch(function (err) { section.setAttribute("data-error", String(err)); });
  }

  function resize(section) {
    (section._plots || []).forEach(function (p) {
      var box = p.root.parentNode;
      var width = Math.max(200, box.clientWidth);
      if (Math.abs(width - p.width) > 2) p.setSize({ width: width, height: 200 });
    });
  }

  function start() {
    if (!window.uPlot) return;
    var sections = document.querySelectorAll("section.charts[data-src]");
    sections.forEach(function (section) {
      load(section);
      window.setInterval(function () {
        if (!document.hidden) load(section);
      }, REFRESH_MS);
      if (window.ResizeObserver) {
        new ResizeObserver(function () { resize(section); }).observe(section);
      }
    });
    var scheme = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme && scheme.addEventListener) {
      scheme.addEventListener("change", function () {
        sections.forEach(function (s) { if (s._data) draw(s, s._data); });
      });
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
