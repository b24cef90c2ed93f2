/* pinpipe charts and status panels: one renderer for the live dashboard and the HTML report.
 *
 * Python (pinpipe.report.charts) decides what each chart shows — bars, their order, labels (already
 * wrapped), colours (one fixed colour per category and age group), each chart's number format, the
 * legend, the map's countries — and this file only hands that to plotly.js (the copy the plotly wheel
 * ships, served or inlined by pinpipe). The world map's shapes are given to plotly.js beforehand
 * (window.PlotlyGeoAssets), so nothing is fetched from anywhere. */
(function (global) {
  "use strict";

  var LINE_PX = 13, BAR_PAD_PX = 8, MIN_BAR_PX = 20;
  var CONFIG = {displayModeBar: false, displaylogo: false, responsive: true};
  var FONT = {family: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    size: 11, color: "#1a202c"};
  var SERIES = {rate: "#2b6cb0", p99: "#c05621"};  // the live chart's two series
  var WINDOW_MS = 10 * 60 * 1000;  // the live chart's history: the last ten minutes, kept in the browser

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

  function caption(chart, note) {
    return "<figcaption><h3>" + esc(chart.title) + '</h3><p class="note"><code>' + esc(chart.insight || chart.name) +
      "</code>" + (note ? " · " + esc(note) : "") + "</p></figcaption>";
  }

  /* The full labels and values as a table (under "data"): every name in full, readable without hovering. */
  function dataTable(chart) {
    var rows = chart.bars.map(function (b) {
      return '<tr><td class="full-label">' + esc(b.label) + "</td><td>" + esc(b.display) + "</td>" +
        (chart.color_by ? '<td><span class="swatch" style="background:' + esc(b.color) + '"></span>' +
          esc(b.group === null ? "" : b.group) + "</td>" : "") + "</tr>";
    }).join("");
    var head = "<tr><th>label</th><th>" + esc(chart.value_name) + "</th>" +
      (chart.color_by ? "<th>" + esc(chart.color_by.replace("_", " ")) + "</th>" : "") + "</tr>";
    return '<details class="data"><summary>data</summary><table><thead>' + head + "</thead><tbody>" + rows +
      "</tbody></table></details>";
  }

  /* Each y tick gets an SVG <title> with the bar's full label (a hover names it; the DOM holds it). */
  function titleTicks(div, fullByTick) {
    div.querySelectorAll(".ytick text").forEach(function (text) {
      var full = fullByTick[text.getAttribute("data-unformatted")];
      if (full === undefined) return;
      var title = text.querySelector("title");
      if (!title) {
        title = document.createElementNS("http://www.w3.org/2000/svg", "title");
        text.appendChild(title);
      }
      title.textContent = full;
      text.setAttribute("data-label", full);
    });
  }

  /* Whole numbers written without decimals need whole ticks (else 0.5 and 1.5 both read "1"). */
  function wholeTicks(format, max) {
    return format === ",.0f" && max * 1.22 <= 8 ? 1 : undefined;
  }

  /* One horizontal bar chart: one trace per colour group (so the legend is the colour key), a bar per
   * row in the order given, labels wrapped over lines, values in the chart's one number format. */
  function drawBars(figure, chart) {
    var div = figure.querySelector(".plot"), bars = chart.bars;
    var ids = bars.map(function (_, i) { return "b" + i; });
    var ticks = bars.map(function (b) { return b.lines.map(esc).join("<br>"); });
    var fullByTick = {};
    ticks.forEach(function (t, i) { fullByTick[t] = bars[i].label; });
    var lines = bars.reduce(function (m, b) { return Math.max(m, b.lines.length); }, 1);
    var barPx = Math.max(MIN_BAR_PX, lines * LINE_PX + BAR_PAD_PX);
    var groups = chart.legend.length ? chart.legend : [{group: null, color: null}];
    var traces = groups.map(function (g) {
      var mine = [];
      bars.forEach(function (b, i) { if (chart.legend.length === 0 || b.group === g.group) mine.push(i); });
      return {
        type: "bar", orientation: "h", name: g.group === null ? chart.value_name : g.group,
        showlegend: chart.legend.length > 0, legendgroup: g.group === null ? undefined : g.group,
        y: mine.map(function (i) { return ids[i]; }),
        x: mine.map(function (i) { return bars[i].value; }),
        text: mine.map(function (i) { return bars[i].display; }),
        customdata: mine.map(function (i) { return esc(bars[i].label); }),
        marker: {color: mine.map(function (i) { return bars[i].color; })},
        textposition: "outside", cliponaxis: false, textfont: {color: "#4a5568"},
        hovertemplate: "%{customdata}<br>%{text} " + esc(chart.value_name) + "<extra></extra>"
      };
    });
    var max = bars.reduce(function (m, b) { return Math.max(m, b.value); }, 0);
    var perRow = Math.max(1, Math.floor((div.clientWidth || 480) / 110));
    var legendPx = chart.legend.length ? 8 + 21 * Math.ceil(chart.legend.length / perRow) : 0;
    var layout = {
      font: FONT, height: bars.length * barPx + 40 + legendPx, barmode: "overlay", bargap: 0.25,
      margin: {l: 10, r: 20, t: 6 + legendPx, b: 30, pad: 4},
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      xaxis: {tickformat: chart.number_format, range: [0, (max || 1) * 1.22], fixedrange: true, gridcolor: "#e2e8f0",
        zeroline: false, dtick: wholeTicks(chart.number_format, max)},
      yaxis: {type: "category", categoryorder: "array", categoryarray: ids, tickvals: ids, ticktext: ticks,
        autorange: "reversed", automargin: true, fixedrange: true, ticks: ""},
      legend: {orientation: "h", x: 0, y: 1, yanchor: "bottom", font: {size: 11}},
      hoverlabel: {align: "left"}
    };
    return Plotly.react(div, traces, layout, CONFIG).then(function () {
      titleTicks(div, fullByTick);
      if (!div.dataset.titled) {
        div.dataset.titled = "true";
        div.on("plotly_afterplot", function () { titleTicks(div, fullByTick); });
      }
    });
  }

  function barFigure(chart) {
    var bars = chart.bars;
    var note = esc(chart.value_name) + " · " +
      (chart.rows > bars.length ? "top " + bars.length + " of " + fmt(chart.rows) + " rows" : fmt(chart.rows) + " rows") +
      (chart.color_by && !chart.legend.length ? " · colour: " + chart.color_by.replace("_", " ") : "");
    var figure = document.createElement("figure");
    figure.className = "chart";
    figure.dataset.chart = chart.name;
    figure.dataset.bars = String(bars.length);
    figure.innerHTML = caption(chart, note) + (bars.length ? '<div class="plot"></div>' + dataTable(chart) :
      '<p class="empty">no rows</p>');
    return figure;
  }

  /* The world map: each country filled with its top category's colour (one trace per category, so the
   * legend is the same colour key as the bar charts'); names plotly.js cannot place are listed below. */
  function drawMap(figure, chart) {
    var div = figure.querySelector(".plot"), byGroup = {};
    chart.regions.forEach(function (r) { (byGroup[r.group] = byGroup[r.group] || []).push(r); });
    var traces = chart.legend.map(function (g) {
      var regions = byGroup[g.group] || [];
      return {
        type: "choropleth", locationmode: "country names", name: g.group, showlegend: true, showscale: false,
        locations: regions.map(function (r) { return r.location; }),
        z: regions.map(function () { return 1; }), zmin: 0, zmax: 1,
        colorscale: [[0, g.color], [1, g.color]],
        customdata: regions.map(function (r) { return r.hover; }),
        hovertemplate: "%{customdata}<extra></extra>",
        marker: {line: {color: "#ffffff", width: 0.5}}
      };
    });
    var layout = {
      font: FONT, height: 420, margin: {l: 0, r: 0, t: 30, b: 0}, paper_bgcolor: "rgba(0,0,0,0)",
      geo: {scope: "world", resolution: 50, projection: {type: "natural earth"}, showframe: false,
        showcoastlines: false, showcountries: true, countrycolor: "#cbd5e0", showland: true, landcolor: "#edf2f7",
        showocean: false, bgcolor: "rgba(0,0,0,0)"},
      legend: {orientation: "h", x: 0, y: 1, yanchor: "bottom", font: {size: 11}},
      hoverlabel: {align: "left"}
    };
    return Plotly.react(div, traces, layout, {displayModeBar: false, displaylogo: false, responsive: true})
      .then(function () {
        var placed = 0, missing = [], byLocation = {};
        chart.regions.forEach(function (r) { byLocation[r.location] = r.country; });
        (div.calcdata || []).forEach(function (trace) {
          trace.forEach(function (pt) {
            if (pt.geojson) placed += 1;
            else if (pt.loc) missing.push(byLocation[pt.loc] || pt.loc);
          });
        });
        figure.dataset.placed = String(placed);
        var note = figure.querySelector(".map-missing");
        missing.sort();
        note.textContent = missing.length ? missing.length + " of " + chart.regions.length +
          " countries are not on the map (too small for it, or a name it does not know): " + missing.join(", ") : "";
        note.hidden = !missing.length;
      });
  }

  function mapFigure(chart) {
    var figure = document.createElement("figure");
    figure.className = "map";
    figure.dataset.chart = chart.name;
    figure.dataset.regions = String(chart.regions.length);
    figure.innerHTML = caption(chart, fmt(chart.regions.length) + " countries · colour: top category · hover for " +
      "the tie and the most-followed poster") + '<div class="plot"></div><p class="note map-missing" hidden></p>';
    return figure;
  }

  function renderCharts(el, charts) {
    if (!charts || !charts.length) {
      el.innerHTML = '<p class="empty">No insights yet: run <code>pinpipe batch run --all</code> (the demo does).</p>';
      return Promise.resolve();
    }
    el.querySelectorAll(".plot").forEach(function (div) { Plotly.purge(div); });
    el.innerHTML = "";
    var drawn = charts.map(function (chart) {
      var figure = chart.kind === "map" ? mapFigure(chart) : barFigure(chart);
      el.appendChild(figure);
      if (chart.kind === "map") return drawMap(figure, chart);
      return chart.bars.length ? drawBars(figure, chart) : Promise.resolve();
    });
    return Promise.all(drawn);
  }

  /* The live chart: records/s and the stream job's p99 over the last ten minutes, one sample per
   * status poll, kept in the browser (a reload starts it afresh). A null is a gap, not a zero. */
  function liveSeries(el) {
    var samples = [], started = false;
    el.innerHTML = '<figure class="live" id="live-chart"><figcaption><h3>Records/s and stream p99, last 10 minutes</h3>' +
      '<p class="note">one sample per status poll, kept in this browser tab</p></figcaption>' +
      '<div class="plot" id="timeseries"></div></figure>';
    var figure = el.querySelector("figure"), div = el.querySelector(".plot");
    figure.dataset.samples = "0";

    function add(status) {
      var now = Date.now(), job = status && status.stream_job;
      var rate = status && typeof status.records_per_s === "number" ? status.records_per_s : null;
      var p99 = job && job.running !== false && typeof job.p99_ms === "number" ? job.p99_ms : null;
      samples.push({t: new Date(now), rate: rate, p99: p99});
      while (samples.length && samples[0].t.getTime() < now - WINDOW_MS) samples.shift();
      var x = samples.map(function (s) { return s.t; });
      var hasP99 = samples.some(function (s) { return s.p99 !== null; });
      // The window grows from one minute to ten as samples come in, then slides.
      var start = Math.max(now - WINDOW_MS, Math.min(samples[0].t.getTime(), now - 60 * 1000));
      var traces = [
        {type: "scatter", mode: "lines", name: "records/s", x: x, y: samples.map(function (s) { return s.rate; }),
          line: {color: SERIES.rate, width: 2}, hovertemplate: "%{y:,.1f} records/s<extra></extra>"},
        {type: "scatter", mode: "lines", name: hasP99 ? "stream p99 (ms)" : "stream p99 (no running stream job)",
          x: x, yaxis: "y2",
          y: samples.map(function (s) { return s.p99; }), line: {color: SERIES.p99, width: 2},
          hovertemplate: "p99 %{y:,.0f} ms<extra></extra>"}
      ];
      var layout = {
        font: FONT, height: 240, margin: {l: 60, r: 60, t: 10, b: 30}, paper_bgcolor: "rgba(0,0,0,0)",
        plot_bgcolor: "rgba(0,0,0,0)", showlegend: true, hovermode: "x unified",
        legend: {orientation: "h", x: 0, y: 1.02, yanchor: "bottom"},
        xaxis: {type: "date", range: [new Date(start), new Date(now)], gridcolor: "#e2e8f0"},
        yaxis: {title: {text: "records/s"}, tickformat: ",.2~f", rangemode: "tozero", gridcolor: "#e2e8f0",
          color: SERIES.rate},
        yaxis2: {tickformat: ",.2~f", rangemode: "tozero", overlaying: "y", side: "right",
          showgrid: false, color: SERIES.p99, showticklabels: hasP99, title: {text: hasP99 ? "p99 ms" : ""}}
      };
      started = true;
      return Plotly.react(div, traces, layout, CONFIG).then(function () {
        figure.dataset.samples = String(samples.length);
      });
    }

    return {add: add, samples: function () { return samples.slice(); }, started: function () { return started; }};
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
    // Kinesis cannot count what was appended without reading it all: its streams count what the stream
    // job committed ("counted": "committed"), and say so.
    var committedOnly = (s.streams || []).some(function (t) { return t.counted === "committed"; });
    var cards = [
      card("records-total", "records ingested", fmt(s.records_total), committedOnly ?
        "topics appended + streams committed" : "topics + streams, acknowledged"),
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
      var counted = t.counted === "offsets" ?
        ' <span class="via" title="offsets appended: records, and one per Kafka transaction marker">offsets</span>' : "";
      return "<tr><td><code>" + esc(t.name) + '</code> <span class="via">→ lake → batch/' + esc(kind) + "</span></td><td>" +
        fmt(t.records) + counted + "</td><td>" + fmt(t.lag) + "</td><td>" + fmt(clean) + "</td></tr>";
    }).concat((s.streams || []).map(function (t) {
      var kind = t.name.split("-").pop();
      var counted = t.counted === "committed" ?
        ' <span class="via" title="records the stream job has committed (Kinesis does not count appends)">committed</span>' : "";
      return "<tr><td><code>" + esc(t.name) + '</code> <span class="via">→ stream/' + esc(kind) + "</span></td><td>" +
        fmt(t.records) + counted + "</td><td>" + fmt(t.lag) + "</td><td>" + fmt(t.table_rows) + "</td></tr>";
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

  global.Pinpipe = {renderCharts: renderCharts, renderStatus: renderStatus, renderRun: renderRun, liveSeries: liveSeries,
    fmt: fmt};
})(window);
