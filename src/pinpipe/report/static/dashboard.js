/* The live dashboard: poll the gateway's JSON endpoints and redraw (status every poll, charts when a
 * batch run changed them). Relative URLs, so it also works behind a path prefix. */
(function () {
  "use strict";
  var POLL_MS = 1500;
  var chartsVersion = null, runStamp = null;
  var banner = document.getElementById("banner");

  function getJSON(url) {
    return fetch(url, {cache: "no-store", headers: {accept: "application/json"}}).then(function (r) {
      if (!r.ok) throw new Error(url + " answered " + r.status);
      return r.json();
    });
  }

  function tick() {
    Promise.all([getJSON("api/status"), getJSON("api/insights")]).then(function (got) {
      var status = got[0], insights = got[1];
      banner.hidden = true;
      Pinpipe.renderStatus(document.getElementById("status"), status);
      if (insights.version !== chartsVersion) {
        chartsVersion = insights.version;
        Pinpipe.renderCharts(document.getElementById("charts"), insights.charts);
      }
      var stamp = insights.run ? insights.run.finished_at : null;
      if (stamp !== runStamp) {
        runStamp = stamp;
        Pinpipe.renderRun(document.getElementById("run"), insights.run);
      }
      document.body.dataset.ready = "true";
    }).catch(function (err) {
      banner.hidden = false;
      banner.textContent = "gateway unreachable, retrying: " + err.message;
    }).then(function () {
      setTimeout(tick, POLL_MS);
    });
  }

  tick();
})();
