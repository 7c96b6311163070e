/* observatory report: shared helpers (DOM and SVG builders, number formats, colour scale).
   Hand-written, no library: everything the page needs is in this file and the inlined data. */
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const D = JSON.parse(document.getElementById("report-data").textContent);
const L = D.labels;
const LANG = D.meta.language;
const BANDS = ["day", "night"];
const state = { band: /band=day/.test(location.hash) ? "day" : "night" };

const fmt1 = new Intl.NumberFormat(LANG, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const fmt2 = new Intl.NumberFormat(LANG, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmtInt = new Intl.NumberFormat(LANG, { maximumFractionDigits: 0 });
const fmtPct = new Intl.NumberFormat(LANG, { style: "percent", maximumSignificantDigits: 2 });

function num(v) { return v == null ? "\u2013" : fmt1.format(v); }
function num2(v) { return v == null ? "\u2013" : fmt2.format(v); }
function int(v) { return v == null ? "\u2013" : fmtInt.format(v); }
function signed(v) { return v == null ? "\u2013" : (v > 0 ? "+" : "") + fmt1.format(v); }
function range(lo, hi) { return lo == null ? "\u2013" : num(lo) + " \u2013 " + num(hi); }

/** A label by key, with {placeholders} filled from vars. */
function label(key, vars) {
  const text = key in L ? L[key] : key;
  return text.replace(/\{(\w+)\}/g, (m, k) => (vars && k in vars ? String(vars[k]) : m));
}

function monthName(iso, style) {
  const opts = style === "short" ? { month: "short", year: "2-digit" } : { month: "long", year: "numeric" };
  return new Intl.DateTimeFormat(LANG, { ...opts, timeZone: "UTC" }).format(new Date(iso + "T00:00:00Z"));
}

function when(iso) {
  if (!iso) return "\u2013";
  return new Intl.DateTimeFormat(LANG, {
    dateStyle: "medium", timeStyle: "short", timeZone: D.meta.timezone,
  }).format(new Date(iso));
}

/** An HTML element; strings among children become text nodes (never parsed as HTML). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) node.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c != null) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** An SVG element, the same way. */
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) node.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c != null) node.append(c instanceof Node ? c : String(c));
  return node;
}

function tip(text) { return svg("title", {}, text); }

/* The colour scale: fixed classes on the 0-100 index (ColorBrewer RdYlBu, colour-blind safe),
   the same for day and night so the switch shows real differences. */
const BREAKS = [40, 50, 60, 70];
const COLOURS = ["#d7191c", "#fdae61", "#ffffbf", "#abd9e9", "#2c7bb6"];
function colour(v) {
  let i = 0;
  while (i < BREAKS.length && v >= BREAKS[i]) i += 1;
  return COLOURS[i];
}
function classLabels() {
  const out = ["< " + int(BREAKS[0])];
  for (let i = 1; i < BREAKS.length; i += 1) out.push(int(BREAKS[i - 1]) + "\u2013" + int(BREAKS[i]));
  out.push("\u2265 " + int(BREAKS[BREAKS.length - 1]));
  return out;
}

/** Patterns every SVG of the page refers to (defined once): hatching = withheld,
    dots = modelled. */
function patterns() {
  return svg("svg", { width: 0, height: 0, style: "position:absolute", "aria-hidden": "true" },
    svg("defs", {},
    svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
      patternTransform: "rotate(45)" },
      svg("rect", { width: 6, height: 6, fill: "#eef0f3" }),
      svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#7b8794", "stroke-width": 2 })),
    svg("pattern", { id: "dots", width: 5, height: 5, patternUnits: "userSpaceOnUse" },
      svg("circle", { cx: 2.5, cy: 2.5, r: 0.9, fill: "#1f2933", "fill-opacity": 0.55 }))));
}

function swatch(attrs) {
  return svg("svg", { width: 18, height: 12, viewBox: "0 0 18 12", "aria-hidden": "true" },
    svg("rect", { x: 0.5, y: 0.5, width: 17, height: 11, ...attrs }));
}

/** A cell's published index, or null when withheld or missing. */
function cellOf(zone, band) { return zone[band] || null; }
function published(cell) { return cell && !cell.is_suppressed && cell.index_value != null; }

/** Linear scale from [d0, d1] to [r0, r1]. */
function scale(d0, d1, r0, r1) { return (v) => r0 + ((v - d0) / (d1 - d0 || 1)) * (r1 - r0); }
