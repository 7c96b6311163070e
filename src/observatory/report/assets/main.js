/* observatory report: the tables (fear gap, data quality), the methods note and the page. */
"use strict";

function table(head, rows, numeric) {
  return el("table", {},
    el("thead", {}, el("tr", {}, head.map((h, i) => el("th", { class: numeric[i] ? "num" : null }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {},
      r.map((c, i) => el("td", { class: numeric[i] ? "num" : null }, c))))));
}

function fearList() {
  const rows = D.fear.filter((f) => f.is_fear_gap);
  if (!rows.length) return el("p", {}, label("fear_none"));
  return table(
    [label("rank"), label("zone"), label("fear_gap"), label("interval"), label("incident_ratio")],
    rows.map((f) => [int(f.fear_gap_rank), `${f.zone_name} (${f.zone_id})`, signed(f.fear_gap),
      range(f.fear_gap_ci_low, f.fear_gap_ci_high),
      `${num2(f.incident_ratio_day)} / ${num2(f.incident_ratio_night)}`]),
    [true, false, true, true, true]);
}

function age(hours) {
  if (hours == null) return "\u2013";
  return hours < 48 ? label("hours", { n: num(hours) }) : label("days", { n: num(hours / 24) });
}

function qualityPanel() {
  const q = D.quality;
  const sources = table(
    [label("source"), label("kind"), label("last_loaded"), label("age"), label("status"),
      label("batches"), label("failed"), label("rows_read"), label("quarantined")],
    q.sources.map((s) => [s.source_name, s.kind, when(s.last_loaded_at), age(s.age_hours),
      el("span", { class: s.is_stale ? "stale" : "fresh", title: `${s.schedule}` },
        label(s.is_stale ? "stale" : "fresh")),
      int(s.batches), int(s.failed), int(s.rows_read),
      `${int(s.rows_quarantined)} (${fmtPct.format(s.rows_read ? s.rows_quarantined / s.rows_read : 0)})`]),
    [false, false, false, true, false, true, true, true, true]);
  const reasons = q.reasons.length
    ? table([label("source"), label("reason"), label("batches"), label("quarantined")],
      q.reasons.map((r) => [r.source_name, r.reason, int(r.batches), int(r.rows_quarantined)]),
      [false, false, true, true])
    : el("p", {}, label("no_quarantine"));
  return [sources, el("h3", {}, label("top_reasons")), reasons];
}

function section(id, title, note, ...body) {
  return el("section", { id }, el("h2", {}, title), note ? el("p", { class: "note" }, note) : null, body);
}

function bandSwitch() {
  const box = el("div", { class: "switch", role: "group", "aria-label": label("band") });
  for (const b of BANDS) {
    const button = el("button", { type: "button", "data-band": b,
      "aria-pressed": String(b === state.band) }, label(b));
    button.addEventListener("click", () => { state.band = b; redraw(); });
    box.append(button);
  }
  return el("div", { class: "controls" }, el("strong", {}, label("band") + ":"), box,
    el("span", { class: "note" }, label("scale_note")));
}

/** Redraw what depends on the band: map, ranking, withheld list, small multiples. */
function redraw() {
  const band = state.band;
  document.body.dataset.band = band;
  document.querySelectorAll(".switch button").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.band === band));
  });
  document.getElementById("map-box").replaceChildren(drawMap(band));
  document.getElementById("ranking-box").replaceChildren(drawRanking(band), withheldNote(band) || "");
  document.getElementById("trends-box").replaceChildren(drawTrends(band));
}

function render() {
  const m = D.meta;
  const level = fmtPct.format(m.confidence);
  const root = document.getElementById("report");
  root.replaceChildren(
    patterns(),
    el("header", {},
      el("h1", {}, label("title")),
      el("p", { class: "sub" }, `${m.city_name} \u00b7 ${label("period")}: ${monthName(D.period_start)}`),
      m.is_synthetic ? el("div", { class: "synthetic", role: "note", id: "synthetic-banner" },
        label("synthetic_banner")) : null,
      m.is_provisional ? el("div", { class: "synthetic provisional", role: "note", id: "provisional-banner" },
        label("provisional_banner", {
          sources: m.awaiting_sources.length ? m.awaiting_sources.join(", ") : label("provisional_open"),
        })) : null),
    bandSwitch(),
    el("div", { class: "row" },
      section("map", label("map_title"), null, el("div", { id: "map-box" }), mapLegend()),
      section("ranking", label("ranking_title"), label("ranking_note", { level }),
        rankingLegend(), el("div", { id: "ranking-box" }))),
    el("div", { class: "row" },
      section("gap", label("gap_title"), label("gap_note", { level }), drawGap()),
      section("fear", label("fear_title"),
        label("fear_note", { months: m.fear_gap_months, points: num(m.fear_gap_min_points) }),
        fearList())),
    section("trends", label("trends_title"), label("trends_note", { level }), trendsLegend(),
      el("div", { id: "trends-box" })),
    interventionsSection(level),
    groupsSection(),
    section("quality", label("quality_title"), label("quality_note"), qualityPanel()),
    section("methods", label("methods_title"), null,
      el("p", {}, label("methods_text", { method: m.method_version, level, k: m.min_respondents })),
      el("p", {}, label("built", { date: when(m.built_at), config: m.config_version })),
      m.is_synthetic ? el("p", { class: "synthetic" }, label("synthetic_banner")) : null),
  );
  redraw();
}

try {
  render();
  document.body.dataset.rendered = "ok";
} catch (err) {
  document.body.dataset.rendered = "error";
  document.getElementById("report").append(
    el("p", { class: "error", id: "render-error" }, `${label("render_error")}: ${err}`));
}
