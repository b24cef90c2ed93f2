/* The self-contained report: draw the data embedded in the page (no requests at all). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pinpipe-data").textContent);
  Pinpipe.renderStatus(document.getElementById("status"), data.status);
  Pinpipe.renderCharts(document.getElementById("charts"), data.charts);
  Pinpipe.renderRun(document.getElementById("run"), data.run);
  document.body.dataset.ready = "true";
})();
