/* The self-contained report: draw the data embedded in the page (no requests at all). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pinpipe-data").textContent);
  Pinpipe.renderStatus(document.getElementById("status"), data.status);
  Pinpipe.renderRun(document.getElementById("run"), data.run);
  Pinpipe.renderCharts(document.getElementById("charts"), data.charts).then(function () {
    document.body.dataset.ready = "true";
  }, function (err) {
    var banner = document.getElementById("banner");
    banner.hidden = false;
    banner.textContent = "could not draw the charts: " + err;
  });
})();
