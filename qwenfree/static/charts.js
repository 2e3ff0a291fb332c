// qwenfree charts: per-minute series as plain SVG (stacked bars or lines), hand-written.
// draw(figure, series, options) replaces the figure's SVG and legend; series is
// [{label: Node, values: [number|null, ...]}], one value per minute from options.start (ms).
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var W = 520;
  var H = 200;
  var PAD = { left: 40, right: 12, top: 10, bottom: 24 };
  var COLOURS = 6; // chart-c0 .. chart-c5 in admin.css, one set per theme

  function svg(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, attrs[name]);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  // A round upper bound for the y axis: 1, 2, 5 times a power of ten.
  function niceMax(value) {
    if (!(value > 0)) {
      return 1;
    }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= value) {
        return steps[i] * power;
      }
    }
    return 10 * power;
  }

  function label(value) {
    return value >= 1000 ? Math.round(value / 100) / 10 + "k" : String(Math.round(value * 100) / 100);
  }

  function clock(ms) {
    var d = new Date(ms);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  // Account states are noted only while someone watches: a minute without a note keeps the
  // last one seen, so the lines do not fall to zero in between.
  function carry(values) {
    var last = null;
    return values.map(function (v) {
      if (v) {
        last = v;
      }
      return last;
    });
  }

  function draw(figure, series, options) {
    var n = options.minutes;
    series = series.filter(function (s) {
      return s.values.some(function (v) {
        return v;
      });
    });
    var plotW = W - PAD.left - PAD.right;
    var plotH = H - PAD.top - PAD.bottom;
    var top = 0;
    var total = 0;
    for (var i = 0; i < n; i++) {
      var sum = 0;
      series.forEach(function (s) {
        var v = s.values[i] || 0;
        total += v;
        sum = options.kind === "bars" ? sum + v : Math.max(sum, v);
      });
      top = Math.max(top, sum);
    }
    var max = niceMax(top);
    var x = function (index) {
      return PAD.left + (plotW * index) / Math.max(n, 1);
    };
    var y = function (value) {
      return PAD.top + plotH - (plotH * value) / max;
    };

    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", class: "chart-svg" });
    var caption = figure.querySelector("figcaption");
    chart.setAttribute("aria-label", caption ? caption.textContent : "");
    [0, max / 2, max].forEach(function (v) {
      chart.appendChild(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }));
      chart.appendChild(svg("text", { x: PAD.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, label(v)));
    });
    [0, Math.floor(n / 2), n].forEach(function (index, k) {
      var anchor = ["start", "middle", "end"][k];
      chart.appendChild(svg("text", { x: x(index), y: H - 6, class: "axis", "text-anchor": anchor },
        clock(options.start + index * 60000)));
    });

    series.forEach(function (s, k) {
      var colour = "chart-c" + (k % COLOURS);
      if (options.kind === "bars") {
        s.values.forEach(function (v, index) {
          if (!v) {
            return;
          }
          var below = 0;
          for (var j = 0; j < k; j++) {
            below += series[j].values[index] || 0;
          }
          chart.appendChild(svg("rect", {
            x: x(index), y: y(below + v), width: Math.max(plotW / n - 0.5, 0.6),
            height: Math.max(y(below) - y(below + v), 0.5), class: colour,
          }));
        });
      } else {
        var path = "";
        var pen = false;
        s.values.forEach(function (v, index) {
          if (v === null || v === undefined) {
            pen = false;
            return;
          }
          var px = x(index + 0.5).toFixed(1);
          path += (pen ? " L" : " M") + px + " " + y(v).toFixed(1);
          pen = true;
        });
        if (path) {
          chart.appendChild(svg("path", { d: path, class: "line " + colour }));
        }
        s.values.forEach(function (v, index) {
          var alone = v !== null && v !== undefined && s.values[index - 1] == null && s.values[index + 1] == null;
          if (alone) {
            chart.appendChild(svg("circle", { cx: x(index + 0.5), cy: y(v), r: 3, class: "dot " + colour }));
          }
        });
      }
    });

    var legend = document.createElement("ul");
    legend.className = "legend";
    series.forEach(function (s, k) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch chart-c" + (k % COLOURS);
      item.append(swatch, s.label);
      legend.appendChild(item);
    });
    var empty = document.createElement("p");
    empty.className = "hint empty";
    empty.append(window.qwenfree.bi("Nothing in this range yet.", "这个时间范围内还没有数据。"));

    Array.prototype.slice.call(figure.children).forEach(function (child) {
      if (child !== caption) {
        child.remove();
      }
    });
    figure.setAttribute("data-total", String(Math.round(total * 100) / 100));
    figure.append(chart, total ? legend : empty);
  }

  window.qwenfreeCharts = { draw: draw, carry: carry };
})();
