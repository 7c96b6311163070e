/* observatory report: the day/night gap per zone and the index over time (small multiples). */
"use strict";

/** Night minus day index per zone, with its interval; solid marks where it excludes zero. */
function drawGap() {
  const rows = D.gap.filter((g) => g.index_gap != null)
    .sort((a, b) => a.index_gap - b.index_gap);
  const extent = Math.max(20, ...rows.map((g) => Math.abs(g.index_gap_ci_low ?? g.index_gap)),
    ...rows.map((g) => Math.abs(g.index_gap_ci_high ?? g.index_gap)));
  const lim = Math.ceil(extent / 20) * 20;
  const rowH = 19, top = 24, left = 190, right = 60, width = 560;
  const height = top + rows.length * rowH + 8;
  const x = scale(-lim, lim, left, width - right);
  const root = svg("svg", { id: "gap-svg", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": label("gap_title") });
  const step = lim > 30 ? 20 : 10;
  for (let t = -lim; t <= lim; t += step) {
    root.append(svg("line", { class: "axis", x1: x(t), x2: x(t), y1: top - 6, y2: height - 4,
      stroke: t === 0 ? "#1f2933" : null }));
    root.append(svg("text", { x: x(t), y: top - 10, "text-anchor": "middle" }, (t > 0 ? "+" : "") + int(t)));
  }
  rows.forEach((g, i) => {
    const y = top + i * rowH + rowH / 2;
    const lo = g.index_gap_ci_low ?? g.index_gap, hi = g.index_gap_ci_high ?? g.index_gap;
    const col = g.index_gap < 0 ? "var(--night)" : "var(--day)";
    const row = svg("g", { class: "gap-row" + (g.is_index_gap_significant ? " significant" : ""),
      "data-zone": g.zone_id },
      tip(`${g.zone_name}: ${signed(g.index_gap)} [${range(lo, hi)}] `
        + `(${label("day")} ${num(g.day_index)}, ${label("night")} ${num(g.night_index)})`));
    row.append(svg("text", { x: 4, y: y + 4 }, `${g.zone_name} (${g.zone_id})`));
    row.append(svg("line", { x1: x(lo), x2: x(hi), y1: y, y2: y, stroke: col, "stroke-width": 3,
      "stroke-opacity": 0.5, "stroke-linecap": "round" }));
    row.append(svg("rect", { x: x(g.index_gap) - 4, y: y - 4, width: 8, height: 8, stroke: col,
      "stroke-width": 1.6, fill: g.is_index_gap_significant ? col : "#fff" }));
    row.append(svg("text", { x: width - 4, y: y + 4, "text-anchor": "end" }, signed(g.index_gap)));
    root.append(row);
  });
  return root;
}

function trendOf(zone, band) {
  const t = zone[band] && zone[band].trend_direction;
  if (t === "rising") return ["rising", "\u2197 " + label("rising")];
  if (t === "falling") return ["falling", "\u2198 " + label("falling")];
  return ["", ""];
}

/** One small chart per zone: day and night index by month, the interval of the chosen band
    shaded, ringed points where the change on the month before is significant. */
function drawMultiple(zone, band) {
  const months = D.series.months;
  const data = D.series.zones[zone.id] || { day: [], night: [] };
  const width = 210, height = 96, padL = 22, padR = 6, padT = 6, padB = 16;
  const x = scale(0, Math.max(months.length - 1, 1), padL, width - padR);
  const y = scale(0, 100, height - padB, padT);
  const root = svg("svg", { class: "multiple-svg", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": zone.name });
  for (const t of [0, 50, 100]) {
    root.append(svg("line", { class: "axis", x1: padL, x2: width - padR, y1: y(t), y2: y(t) }));
    root.append(svg("text", { x: padL - 3, y: y(t) + 3, "text-anchor": "end", "font-size": 8 }, t));
  }
  if (months.length) {
    root.append(svg("text", { x: padL, y: height - 3, "font-size": 8 }, monthName(months[0], "short")));
    root.append(svg("text", { x: width - padR, y: height - 3, "font-size": 8, "text-anchor": "end" },
      monthName(months[months.length - 1], "short")));
  }
  const runs = (points) => {  // consecutive published months: lines break at withheld ones
    const out = []; let cur = [];
    points.forEach((p, i) => { if (p) cur.push([i, p]); else if (cur.length) { out.push(cur); cur = []; } });
    if (cur.length) out.push(cur);
    return out;
  };
  for (const run of runs(data[band] || [])) {
    const upper = run.map(([i, p]) => `${x(i)},${y(p[2] ?? p[0])}`);
    const lower = run.slice().reverse().map(([i, p]) => `${x(i)},${y(p[1] ?? p[0])}`);
    root.append(svg("polygon", { class: "band-interval", points: upper.concat(lower).join(" "),
      fill: band === "day" ? "var(--day)" : "var(--night)", "fill-opacity": 0.15 }));
  }
  for (const b of BANDS) {
    const col = b === "day" ? "var(--day)" : "var(--night)";
    for (const run of runs(data[b] || [])) {
      root.append(svg("polyline", { class: "series " + b, fill: "none", stroke: col,
        "stroke-width": b === band ? 2 : 1.1, "stroke-opacity": b === band ? 1 : 0.6,
        points: run.map(([i, p]) => `${x(i)},${y(p[0])}`).join(" ") }));
      for (const [i, p] of run) {
        const where = `${monthName(months[i], "short")}: ${num(p[0])} [${range(p[1], p[2])}]`;
        root.append(svg("circle", { cx: x(i), cy: y(p[0]), r: p[3] ? 3.6 : 1.6,
          class: p[3] ? "significant" : null, fill: p[3] ? "#fff" : col, stroke: col,
          "stroke-width": p[3] ? 1.8 : 0 }, tip(`${label(b)} ${where}`)));
      }
    }
  }
  if (!BANDS.some((b) => (data[b] || []).some((p) => p))) {
    root.append(svg("text", { x: (padL + width - padR) / 2, y: y(50) - 5, "text-anchor": "middle",
      "font-size": 8, fill: "#5f6b7a" }, label("legend_withheld")));
  }
  const [cls, text] = trendOf(zone, band);
  return el("div", { class: "multiple", "data-zone": zone.id },
    el("h3", { title: zone.name }, `${zone.name} `, el("span", { class: "trend " + cls }, text)),
    root);
}

function drawTrends(band) {
  return el("div", { class: "multiples", id: "multiples" },
    D.zones.map((zone) => drawMultiple(zone, band)));
}

function trendsLegend() {
  const line = (colr) => svg("svg", { width: 20, height: 10, viewBox: "0 0 20 10" },
    svg("line", { x1: 0, x2: 20, y1: 5, y2: 5, stroke: colr, "stroke-width": 2 }));
  const ring = svg("svg", { width: 12, height: 12, viewBox: "0 0 12 12" },
    svg("circle", { cx: 6, cy: 6, r: 3.6, fill: "#fff", stroke: "#1f2933", "stroke-width": 1.8 }));
  return el("ul", { class: "legend" },
    el("li", {}, line("#d95f02"), label("day")), el("li", {}, line("#3b3b98"), label("night")),
    el("li", {}, ring, label("significant_change")));
}
