/* The live dashboard: poll the gateway's JSON endpoints and redraw (status every poll, charts when a
 * batch run changed them). Each status poll also adds a sample to the live chart of records/s and the
 * stream job's p99, whose last ten minutes this page keeps (the gateway keeps no history). Relative
 * URLs, so it also works behind a path prefix. */
(function () {
  "use strict";
  var POLL_MS = 1500;
  var chartsVersion = null, runStamp = null;
  var banner = document.getElementById("banner");
  var liveEl = document.getElementById("live");
  liveEl.hidden = false;
  var live = Pinpipe.liveSeries(liveEl);

  function getJSON(url) {
    return fetch(url, {cache: "no-store", headers: {accept: "application/json"}}).then(function (r) {
      if (!r.ok) throw new Error(url + " answered " + r.status);
      return r.json();
    });
  }

  function tick() {
    Promise.all([getJSON("api/status"), getJSON("api/insights")]).then(function (got) {
      var status = got[0], insights = got[1], drawn = [];
      banner.hidden = true;
      Pinpipe.renderStatus(document.getElementById("status"), status);
      drawn.push(live.add(status));
      if (insights.version !== chartsVersion) {
        chartsVersion = insights.version;
        drawn.push(Pinpipe.renderCharts(document.getElementById("charts"), insights.charts));
      }
      var stamp = insights.run ? insights.run.finished_at : null;
      if (stamp !== runStamp) {
        runStamp = stamp;
        Pinpipe.renderRun(document.getElementById("run"), insights.run);
      }
      return Promise.all(drawn);
    }).then(function () {
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
