// opencass portal: a bar chart (Chart.js, vendored) drawn from each statistics table, the
// period beside the year to date.  The table stays on the page: it is the chart's accessible
// form and its source, so the two can never disagree.
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var canvases = document.querySelectorAll("canvas.chart");
  Array.prototype.forEach.call(canvases, function (canvas) {
    var table = document.getElementById(canvas.getAttribute("data-for"));
    if (!table) { return; }
    var column = table.getAttribute("data-chart");
    var labels = [], period = [], ytd = [];
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      labels.push(row.getAttribute("data-key"));
      period.push(parseFloat(row.querySelector("[data-" + column + "]").getAttribute("data-" + column)));
      ytd.push(parseFloat(row.querySelector("[data-" + column + "-ytd]").getAttribute("data-" + column + "-ytd")));
    });
    var chart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: table.getAttribute("data-label-period") + " (" + table.getAttribute("data-unit") + ")", data: period, backgroundColor: "#0b5cad" },
          { label: table.getAttribute("data-label-ytd") + " (" + table.getAttribute("data-unit") + ")", data: ytd, backgroundColor: "#9cc3ea" }
        ]
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } }
    });
    canvas.setAttribute("data-drawn", String(chart.data.labels.length));
  });
}());
