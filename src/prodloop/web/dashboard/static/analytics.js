// prodloop analytics page: draws a funnel's per-step conversion as uPlot bars from the
// JSON in data-funnel. Without script the <progress> bars beside it stay in view.
(function () {
  "use strict";

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function options(data, width) {
    var text = cssVar("--muted"), line = cssVar("--line");
    var axis = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    var last = data.names.length - 1;
    return {
      width: width,
      height: 240,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: false, range: function () { return [-0.5, last + 0.5]; } },
        y: { range: [0, 100] }
      },
      series: [
        {},
        {
          label: "conversion from the first step",
          fill: cssVar("--accent"),
          stroke: cssVar("--accent"),
          width: 0,
          paths: window.uPlot.paths.bars({ size: [0.6, 120] }),
          points: { show: false },
          value: function (u, v) { return v == null ? "–" : v.toFixed(1) + "%"; }
        }
      ],
      axes: [
        Object.assign({}, axis, {
          splits: function () { return data.names.map(function (_, i) { return i; }); },
          values: function (u, splits) {
            return splits.map(function (i) { return data.names[i] || ""; });
          },
          grid: { show: false }
        }),
        Object.assign({}, axis, {
          values: function (u, vals) { return vals.map(function (v) { return v + "%"; }); }
        })
      ]
    };
  }

  function draw(box) {
    var data = JSON.parse(box.getAttribute("data-funnel"));
    var xs = data.names.map(function (_, i) { return i; });
    if (box._plot) box._plot.destroy();
    var width = Math.max(200, box.clientWidth);
    box._plot = new window.uPlot(options(data, width), [xs, data.conversion], box);
    box.setAttribute("data-drawn", String(Date.now()));
  }

  function start() {
    if (!window.uPlot) return;
    document.querySelectorAll(".funnel-chart[data-funnel]").forEach(function (box) {
      draw(box);
      box.closest(".an-funnel").classList.add("has-chart");
      if (window.ResizeObserver) {
        new ResizeObserver(function () {
          var width = Math.max(200, box.clientWidth);
          if (box._plot && Math.abs(width - box._plot.width) > 2) {
            box._plot.setSize({ width: width, height: 240 });
          }
        }).observe(box);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
