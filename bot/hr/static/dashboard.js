// HR dashboard: draws each chart from the figures the server put in #figures (plotly.js, served
// offline from /hr/assets/plotly.min.js). Without JavaScript the tables still carry every number.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("figures");
    if (!source || typeof Plotly === "undefined") return;
    var figures = JSON.parse(source.textContent || "{}");
    document.querySelectorAll(".chart[data-figure]").forEach(function (element) {
      var figure = figures[element.getAttribute("data-figure")];
      if (!figure) return;
      Plotly.newPlot(element, figure.data, figure.layout, { displaylogo: false, responsive: true });
      element.setAttribute("data-drawn", "true");
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
