/* Ratedesk charts: draw every server-built Plotly figure on the page.
 *
 * A chart is <script type="application/json" id="X">{data, layout, config}</script> plus
 * <div data-chart="X" data-plotly="/static/vendor/plotly-….min.js">. The vendored plotly.js is loaded once,
 * on the first page or htmx fragment that has a chart; charts in content swapped in by htmx are drawn after
 * htmx settles. This file may be included several times (each lazy-loaded panel carries it): it runs once.
 */
(function () {
  "use strict";
  if (window.RatedeskCharts) {
    window.RatedeskCharts.renderAll(document);
    return;
  }

  var waiting = [];
  var loading = false;

  function withPlotly(src, callback) {
    if (window.Plotly) { callback(); return; }
    waiting.push(callback);
    if (loading || !src) { return; }
    loading = true;
    var script = document.createElement("script");
    script.src = src;
    script.onload = function () {
      var callbacks = waiting;
      waiting = [];
      callbacks.forEach(function (cb) { cb(); });
    };
    script.onerror = function () {
      loading = false;
      document.querySelectorAll("[data-chart]:not([data-rendered])").forEach(function (el) {
        el.textContent = "The chart library could not be loaded; the data is still available as CSV.";
      });
    };
    document.head.appendChild(script);
  }

  function render(el) {
    if (el.dataset.rendered) { return; }
    var source = document.getElementById(el.dataset.chart);
    if (!source) { return; }
    var spec;
    try { spec = JSON.parse(source.textContent); } catch (e) { return; }
    el.dataset.rendered = "1";
    if (el.dataset.height) { el.style.height = el.dataset.height + "px"; }
    window.Plotly.newPlot(el, spec.data, spec.layout, spec.config || { responsive: true, displaylogo: false });
    if (spec.links) {
      // Drill-down: a heatmap cell opens its page ("why this charge" for that customer and meter).
      el.classList.add("drillable");
      el.on("plotly_click", function (event) {
        var point = event && event.points && event.points[0];
        var index = point && point.pointIndex;
        var url = index && spec.links[index[0]] && spec.links[index[0]][index[1]];
        if (url) { window.location.assign(url); }
      });
    }
  }

  function renderAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var pending = Array.prototype.slice.call(scope.querySelectorAll("[data-chart]:not([data-rendered])"));
    if (scope !== document) {
      // htmx may hand us the swapped element itself; look at the whole document for anything still pending.
      pending = Array.prototype.slice.call(document.querySelectorAll("[data-chart]:not([data-rendered])"));
    }
    if (!pending.length) { return; }
    withPlotly(pending[0].dataset.plotly, function () { pending.forEach(render); });
  }

  // Plotly sizes a chart to its container when drawn; redraw sizes after the window or a panel changes width.
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    if (!window.Plotly) { return; }
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      document.querySelectorAll("[data-chart][data-rendered]").forEach(function (el) {
        window.Plotly.Plots.resize(el);
      });
    }, 150);
  });

  document.addEventListener("htmx:afterSettle", function (event) { renderAll(event.detail && event.detail.elt); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { renderAll(document); });
  } else {
    renderAll(document);
  }
  window.RatedeskCharts = { renderAll: renderAll };
})();
