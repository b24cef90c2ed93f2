/* pinpipe charts and status panels: one renderer for the live dashboard and the HTML report.
 *
 * Python (pinpipe.report.charts) decides what each chart shows; this file only draws the bars it is
 * given, as inline SVG, with no library and nothing fetched from anywhere. */
(function (global) {
  "use strict";

  var PALETTE = ["#2b6cb0", "#c05621", "#2f855a", "#b83280", "#6b46c1", "#b7791f", "#2c7a7b", "#c53030",
    "#4a5568", "#319795", "#d69e2e", "#805ad5", "#dd6b20"];
  var LABEL_W = 230, BAR_W = 250, VALUE_W = 70, ROW_H = 20, PAD = 4;

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    var d = digits === undefined ? (Number.isInteger(value) ? 0 : 1) : digits;
    return value.toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d});
  }

  function short(value) {
    if (Math.abs(value) >= 1e6) return fmt(value / 1e6, 1) + "M";
    if (Math.abs(value) >= 1e4) return fmt(value / 1e3, 0) + "k";
    return fmt(value);
  }

  function clip(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  /* One horizontal bar chart: a <figure class="chart"> holding an <svg> with one rect.bar per bar. */
  function chartMarkup(chart) {
    var bars = chart.bars, groups = [], max = 0;
    bars.forEach(function (b) {
      if (b.value > max) max = b.value;
      if (b.group !== null && groups.indexOf(b.group) < 0) groups.push(b.group);
    });
    var width = LABEL_W + BAR_W + VALUE_W, height = Math.max(1, bars.length) * ROW_H + PAD * 2;
    var rows = bars.map(function (b, i) {
      var y = PAD + i * ROW_H, w = max > 0 ? Math.max(1, Math.round((b.value / max) * BAR_W)) : 1;
      var color = PALETTE[(b.group === null ? 0 : groups.indexOf(b.group)) % PALETTE.length];
      return '<g class="row"><title>' + esc(b.label) + ": " + esc(fmt(b.value)) + "</title>" +
        '<text class="label" x="' + (LABEL_W - 6) + '" y="' + (y + ROW_H / 2) + '">' + esc(clip(b.label, 34)) + "</text>" +
        '<rect class="bar" x="' + LABEL_W + '" y="' + (y + 2) + '" width="' + w + '" height="' + (ROW_H - 4) +
        '" fill="' + color + '" data-value="' + esc(b.value) + '"></rect>' +
        '<text class="value" x="' + (LABEL_W + w + 4) + '" y="' + (y + ROW_H / 2) + '">' + esc(short(b.value)) + "</text></g>";
    }).join("");
    var note = chart.rows > bars.length ? "top " + bars.length + " of " + fmt(chart.rows) + " rows" : fmt(chart.rows) + " rows";
    var empty = bars.length ? "" : '<p class="empty">no rows</p>';
    return '<figure class="chart" data-chart="' + esc(chart.name) + '" data-bars="' + bars.length + '">' +
      "<figcaption><h3>" + esc(chart.title) + '</h3><p class="note"><code>' + esc(chart.name) + "</code> · " +
      esc(chart.value_name) + " · " + esc(note) + "</p></figcaption>" + empty +
      '<svg class="bars" viewBox="0 0 ' + width + " " + height + '" role="img" aria-label="' + esc(chart.title) + '">' +
      rows + "</svg></figure>";
  }

  function renderCharts(el, charts) {
    if (!charts || !charts.length) {
      el.innerHTML = '<p class="empty">No insights yet: run <code>pinpipe batch run --all</code> (the demo does).</p>';
      return;
    }
    el.innerHTML = charts.map(chartMarkup).join("");
  }

  function card(id, label, value, hint) {
    return '<div class="card"><div class="card-label">' + esc(label) + '</div><div class="card-value" id="' + id + '">' +
      esc(value) + "</div>" + (hint ? '<div class="card-hint">' + esc(hint) + "</div>" : "") + "</div>";
  }

  function ms(value) {
    return value === null || value === undefined ? "–" : fmt(value, 0) + " ms";
  }

  /* The pipeline status: counters, then records and lag per topic and per stream. */
  function renderStatus(el, s) {
    if (!s) { el.innerHTML = ""; return; }
    var job = s.stream_job || {}, batch = s.batch;
    var when = batch && batch.run_time ? String(batch.run_time) : "";
    var batchText = batch ? (when ? when.slice(11, 19) : "?") : "none yet";
    var batchHint = batch ? (when.slice(0, 10) + (batch.scope ? " · scope " + batch.scope : "")) : "pinpipe batch run";
    var cards = [
      card("records-total", "records ingested", fmt(s.records_total), "topics + streams, acknowledged"),
      card("records-per-s", "records/s", fmt(s.records_per_s, 0), s.rate_note || "ingest, last few seconds"),
      card("sink-lag", "sink lag", fmt(s.sink_lag), "topics → lake"),
      card("stream-lag", "stream lag", fmt(s.stream_lag), "streams → Delta"),
      card("stream-p99", "stream p99 latency", ms(job.p99_ms),
        job.running === false ? "ack → visible, the demo's last run" : "ack → visible in Delta"),
      card("dead-letters", "dead letters", fmt(s.dead_letters), "warehouse/dead_letter"),
      card("batch-run", "latest batch run", batchText, batchHint)
    ].join("");
    var head = "<tr><th>topic / stream</th><th>records</th><th>lag</th><th>Delta rows</th></tr>";
    var rows = (s.topics || []).map(function (t) {
      var kind = t.name.split(".").pop();
      var clean = batch && batch.rows ? batch.rows[kind] : null;
      return "<tr><td><code>" + esc(t.name) + '</code> <span class="via">→ lake → batch/' + esc(kind) + "</span></td><td>" +
        fmt(t.records) + "</td><td>" + fmt(t.lag) + "</td><td>" + fmt(clean) + "</td></tr>";
    }).concat((s.streams || []).map(function (t) {
      var kind = t.name.split("-").pop();
      return "<tr><td><code>" + esc(t.name) + '</code> <span class="via">→ stream/' + esc(kind) + "</span></td><td>" +
        fmt(t.records) + "</td><td>" + fmt(t.lag) + "</td><td>" + fmt(t.table_rows) + "</td></tr>";
    })).join("");
    el.innerHTML = '<div class="cards">' + cards + '</div><table class="positions"><thead>' + head + "</thead><tbody>" +
      rows + '</tbody></table><p class="updated">status at <span id="status-time">' + esc(s.time || "") + "</span></p>";
  }

  /* The run summary the demo leaves in reports/last_run.json (the report shows it; the dashboard too). */
  function renderRun(el, run) {
    if (!run) { el.innerHTML = ""; return; }
    var lines = [];
    (run.emulators || []).forEach(function (e) {
      lines.push(["emulate " + e.route, fmt(e.events) + " events, " + fmt(e.records_acknowledged) + " records acknowledged, " +
        fmt(e.records_per_s, 0) + " records/s"]);
    });
    var job = run.stream_job;
    if (job) {
      lines.push(["stream job", fmt(job.records) + " records, " + fmt(job.written) + " rows written, p50 " + ms(job.p50_ms) +
        ", p99 " + ms(job.p99_ms)]);
    }
    var b = run.batch;
    if (b) {
      lines.push(["batch job (" + esc(b.engine) + ", " + esc(b.scope) + ")", fmt(b.records_total) + " records read, " +
        fmt(b.dead_letters) + " dead letters, " + fmt(b.seconds, 1) + " s"]);
    }
    lines.push(["dead letters", fmt(run.dead_letters)]);
    lines.push(["wall time", fmt(run.seconds, 1) + " s"]);
    el.innerHTML = "<h2>Last demo run <small>" + esc(run.finished_at || "") + "</small></h2><table class=\"run\"><tbody>" +
      lines.map(function (l) { return "<tr><th>" + esc(l[0]) + "</th><td>" + esc(l[1]) + "</td></tr>"; }).join("") +
      "</tbody></table>";
  }

  global.Pinpipe = {renderCharts: renderCharts, renderStatus: renderStatus, renderRun: renderRun, fmt: fmt};
})(window);
