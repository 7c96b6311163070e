/* observatory report: did it work? One section per intervention: the headline effect on
   perception in plain words, its event study (chart), the other outcomes and the caveats. */
"use strict";

const OUTCOMES = ["perception", "index", "incident_ratio", "lux", "footfall"];

function effectOf(item, outcome, band) {
  return item.effects.find((e) => e.outcome === outcome && e.time_band === band) || null;
}

/** Why a row has no number, in the report's language. */
function statusText(e) {
  return label("status_" + e.status, { pre: e.n_pre_periods, post: e.n_post_periods,
    n: e.n_comparison_zones });
}

function fmtEffect(e, v) { return e.unit === "ratio" ? (v > 0 ? "+" : "") + num2(v) : signed(v); }

/** "Night perception in the treated zones rose 8 points (90%: 3 to 13) against comparable zones." */
function headline(e, level) {
  const what = label("perception_" + e.time_band + "_phrase");
  if (e.status !== "ok") return label("headline_none", { what, reason: statusText(e) });
  const clear = e.ci_low != null && e.ci_high != null && (e.ci_low > 0 || e.ci_high < 0);
  const key = !clear ? "headline_unclear" : (e.estimate > 0 ? "headline_up" : "headline_down");
  return label(key, { what, level, points: clear ? num(Math.abs(e.estimate)) : signed(e.estimate),
    low: num(e.ci_low), high: num(e.ci_high) });
}

function caveats(item, level) {
  const out = [];
  const rows = item.effects.filter((e) => e.outcome === "perception" && e.status === "ok");
  for (const e of rows) {
    if (e.is_pre_trend_detected) {
      out.push(label("caveat_pre_trend", { band: label(e.time_band), p: num2(e.pre_trend_p_value) }));
    }
  }
  const any = rows[0] || item.effects.find((e) => e.status === "ok");
  if (any && any.inference === "wild_cluster_bootstrap") {
    out.push(label("caveat_few_zones", { treated: any.n_treated_zones,
      comparison: any.n_comparison_zones }));
  }
  out.push(label("caveat_assumptions"));
  return el("ul", { class: "caveats" }, out.map((c) => el("li", {}, c)));
}

/** The perception event study: per month since the start, estimate and interval per band. */
function drawEventStudy(item) {
  const series = BANDS.map((b) => [b, item.event_study[b] || []]).filter(([, s]) => s.length);
  if (!series.length) return el("p", { class: "note" }, label("event_none"));
  const rels = series.flatMap(([, s]) => s.map((p) => p[0]));
  const r0 = Math.min(...rels), r1 = Math.max(...rels);
  const vals = series.flatMap(([, s]) => s.flatMap((p) => [p[2] ?? p[1], p[3] ?? p[1]]));
  const lim = Math.max(10, Math.ceil(Math.max(...vals.map(Math.abs)) / 5) * 5);
  const width = 560, height = 220, padL = 40, padR = 12, padT = 12, padB = 34;
  const x = scale(r0 - 0.5, r1 + 0.5, padL, width - padR);
  const y = scale(-lim, lim, height - padB, padT);
  const root = svg("svg", { id: `event-svg-${item.intervention_id}`, class: "event-study",
    viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label("event_title") });
  for (const t of [-lim, -lim / 2, 0, lim / 2, lim]) {
    root.append(svg("line", { class: "axis", x1: padL, x2: width - padR, y1: y(t), y2: y(t),
      stroke: t === 0 ? "#1f2933" : null }));
    root.append(svg("text", { x: padL - 4, y: y(t) + 3, "text-anchor": "end", "font-size": 9 },
      (t > 0 ? "+" : "") + int(t)));
  }
  root.append(svg("line", { class: "start", x1: x(-0.5), x2: x(-0.5), y1: padT, y2: height - padB,
    stroke: "#1f2933", "stroke-dasharray": "4 3" }));
  root.append(svg("text", { x: x(-0.5) + 3, y: padT + 9, "font-size": 9 }, label("event_start")));
  for (let r = r0; r <= r1; r += 1) {
    root.append(svg("text", { x: x(r), y: height - padB + 12, "text-anchor": "middle",
      "font-size": 9 }, String(r)));
  }
  root.append(svg("text", { x: (padL + width - padR) / 2, y: height - 4, "text-anchor": "middle",
    "font-size": 9 }, label("event_axis")));
  series.forEach(([band, points], k) => {
    const col = band === "day" ? "var(--day)" : "var(--night)";
    const dx = (k - (series.length - 1) / 2) * 6;
    for (const [rel, est, lo, hi] of points) {
      const g = svg("g", { class: `event-point ${band}`, "data-month": rel },
        tip(`${label(band)} ${rel}: ${signed(est)} [${range(lo, hi)}]`));
      g.append(svg("line", { class: "event-ci", x1: x(rel) + dx, x2: x(rel) + dx,
        y1: y(lo ?? est), y2: y(hi ?? est), stroke: col, "stroke-width": 2.5, "stroke-opacity": 0.5 }));
      g.append(svg("circle", { cx: x(rel) + dx, cy: y(est), r: 3.4, fill: rel < 0 ? "#fff" : col,
        stroke: col, "stroke-width": 1.6 }));
      root.append(g);
    }
  });
  return root;
}

function otherOutcomes(item) {
  const rows = [];
  for (const outcome of OUTCOMES) {
    for (const band of BANDS) {
      const e = effectOf(item, outcome, band);
      if (!e) continue;
      rows.push([label("outcome_" + outcome), label(band),
        e.status === "ok" ? fmtEffect(e, e.estimate) : "\u2013",
        e.status === "ok" ? range(e.ci_low, e.ci_high) : statusText(e)]);
    }
  }
  return table([label("outcome"), label("band"), label("effect"), label("interval")], rows,
    [false, false, true, false]);
}

function interventionSection(item, level) {
  const meta = label("intervention_meta", { type: label("type_" + item.intervention_type),
    zones: item.zone_ids.join(", "), start: monthName(item.start_date) });
  const lines = BANDS.map((b) => effectOf(item, "perception", b)).filter((e) => e)
    .sort((a, b) => (a.time_band === "night" ? -1 : 1) - (b.time_band === "night" ? -1 : 1));
  return el("article", { class: "intervention", id: `intervention-${item.intervention_id}` },
    el("h3", {}, item.intervention_name),
    el("p", { class: "note" }, meta, item.description ? ` \u00b7 ${item.description}` : ""),
    lines.map((e) => el("p", { class: "headline", "data-band": e.time_band,
      "data-status": e.status }, headline(e, level))),
    drawEventStudy(item),
    el("h4", {}, label("other_outcomes")), otherOutcomes(item),
    caveats(item, level));
}

function interventionsSection(level) {
  if (!D.interventions || !D.interventions.length) return null;
  return section("interventions", label("interventions_title"),
    label("interventions_note", { level }),
    D.interventions.map((item) => interventionSection(item, level)));
}
