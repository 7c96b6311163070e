/* observatory report: the choropleth map and the ranked zones with their intervals. */
"use strict";

function drawMap(band) {
  const { width, height, paths, labels } = D.map;
  const root = svg("svg", { id: "map-svg", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": label("map_title") + " \u2013 " + label(band), "data-band": band });
  for (const zone of D.zones) {
    if (!paths[zone.id]) continue;
    const cell = cellOf(zone, band);
    const isPub = published(cell);
    let fill = "#e4e7eb";
    if (cell && cell.is_suppressed) fill = "url(#hatch)";
    else if (isPub) fill = colour(cell.index_value);
    const cls = "zone" + (cell && cell.is_modelled && isPub ? " modelled" : "")
      + (cell && cell.is_suppressed ? " withheld" : "");
    const text = `${zone.name} (${zone.id}): ` + (isPub
      ? `${num(cell.index_value)} [${range(cell.index_ci_low, cell.index_ci_high)}]`
        + (cell.is_modelled ? ` \u2013 ${label("legend_modelled")}` : "")
      : (cell && cell.is_suppressed ? label("legend_withheld") : label("legend_no_data")));
    root.append(svg("path", { class: cls, d: paths[zone.id], fill, "data-zone": zone.id,
      "data-index": isPub ? cell.index_value : null }, tip(text)));
    if (cell && cell.is_modelled && isPub) {
      root.append(svg("path", { class: "zone-overlay", d: paths[zone.id] }));
    }
  }
  for (const zone of D.zones) {
    const at = labels[zone.id];
    if (at) root.append(svg("text", { class: "zone-label", x: at[0], y: at[1] + 3 }, zone.id));
  }
  if (D.meta.is_synthetic) {
    root.append(svg("text", { class: "watermark", x: width / 2, y: height / 2,
      transform: `rotate(-20 ${width / 2} ${height / 2})` }, label("synthetic_mark")));
  }
  return root;
}

function mapLegend() {
  const items = classLabels().map((text, i) => el("li", {}, swatch({ fill: COLOURS[i] }), text));
  items.push(el("li", {}, swatch({ fill: "url(#hatch)" }), label("legend_withheld")));
  items.push(el("li", {}, swatch({ fill: "#ffffbf", stroke: "#1f2933", "stroke-dasharray": "3 2" }),
    label("legend_modelled")));
  items.push(el("li", {}, swatch({ fill: "#e4e7eb" }), label("legend_no_data")));
  return el("ul", { class: "legend" }, items);
}

function rankText(c) {
  if (c.index_rank == null) return "\u2013";
  const lo = c.index_rank_ci_low, hi = c.index_rank_ci_high;
  return lo == null || (lo === hi && lo === c.index_rank)
    ? int(c.index_rank) : `${int(c.index_rank)} (${int(lo)}\u2013${int(hi)})`;
}

/** Zones ranked by the index, each with its interval; colour says whether the interval
    lies wholly above or below the city mean, so overlapping zones are not set apart. */
function drawRanking(band) {
  const rows = D.zones.filter((z) => published(cellOf(z, band)))
    .sort((a, b) => b[band].index_value - a[band].index_value);
  const mean = (D.city[band] || {}).index_mean;
  const lows = rows.map((z) => z[band].index_ci_low ?? z[band].index_value);
  const highs = rows.map((z) => z[band].index_ci_high ?? z[band].index_value);
  const d0 = Math.max(0, Math.floor(Math.min(...lows, mean ?? 100) / 10) * 10);
  const d1 = Math.min(100, Math.ceil(Math.max(...highs, mean ?? 0) / 10) * 10);
  const rowH = 19, top = 24, left = 190, right = 80, width = 560;
  const height = top + rows.length * rowH + 10;
  const x = scale(d0, d1, left, width - right);
  const root = svg("svg", { id: "ranking-svg", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": label("ranking_title") + " \u2013 " + label(band) });
  for (let t = d0; t <= d1; t += 10) {
    root.append(svg("line", { class: "axis", x1: x(t), x2: x(t), y1: top - 6, y2: height - 8 }));
    root.append(svg("text", { x: x(t), y: top - 10, "text-anchor": "middle" }, int(t)));
  }
  root.append(svg("text", { x: 4, y: top - 10, "font-weight": 600 }, label("zone")));
  root.append(svg("text", { x: width - 4, y: top - 10, "text-anchor": "end", "font-weight": 600 },
    label("rank")));
  if (mean != null) {
    root.append(svg("line", { x1: x(mean), x2: x(mean), y1: top - 4, y2: height - 8,
      stroke: "#1f2933", "stroke-dasharray": "4 3" }));
    root.append(svg("text", { x: x(mean) + 3, y: height - 1 }, `${label("city_mean")} ${num(mean)}`));
  }
  rows.forEach((zone, i) => {
    const c = zone[band];
    const y = top + i * rowH + rowH / 2;
    const lo = c.index_ci_low ?? c.index_value, hi = c.index_ci_high ?? c.index_value;
    let tone = "like", col = "var(--like)";
    if (mean != null && lo > mean) { tone = "above"; col = "var(--above)"; }
    if (mean != null && hi < mean) { tone = "below"; col = "var(--below)"; }
    const text = `${zone.name}: ${num(c.index_value)} [${range(lo, hi)}], `
      + `${label("rank")} ${rankText(c)} / ${int(c.n_ranked)}, ${label(tone + "_city")}, `
      + `${label("respondents")} ${int(c.n_respondents)}`;
    const g = svg("g", { class: "rank-row " + tone, "data-zone": zone.id }, tip(text));
    g.append(svg("text", { x: 4, y: y + 4 }, `${zone.name} (${zone.id})`));
    g.append(svg("line", { x1: x(lo), x2: x(hi), y1: y, y2: y, stroke: col, "stroke-width": 4,
      "stroke-linecap": "round", "stroke-opacity": 0.55 }));
    g.append(svg("circle", { cx: x(c.index_value), cy: y, r: 4.5, stroke: col, "stroke-width": 2,
      fill: c.is_modelled ? "#fff" : col }));
    g.append(svg("text", { x: width - 4, y: y + 4, "text-anchor": "end" }, rankText(c)));
    root.append(g);
  });
  return root;
}

function rankingLegend() {
  const dot = (colr) => svg("svg", { width: 14, height: 12, viewBox: "0 0 14 12" },
    svg("circle", { cx: 7, cy: 6, r: 4.5, fill: colr }));
  return el("ul", { class: "legend" },
    el("li", {}, dot("#2c7bb6"), label("above_city")),
    el("li", {}, dot("#7b8794"), label("like_city")),
    el("li", {}, dot("#d7191c"), label("below_city")));
}

function withheldNote(band) {
  const names = D.zones.filter((z) => z[band] && z[band].is_suppressed).map((z) => z.name);
  if (!names.length) return null;
  return el("p", { class: "withheld" },
    label("withheld_zones", { k: D.meta.min_respondents, zones: names.join(", ") }));
}
