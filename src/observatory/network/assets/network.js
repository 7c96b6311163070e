/* The network comparison page: tables drawn from the inlined data, in the viewer's language.
   Text goes in with textContent only: nothing from the data is parsed as HTML. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("network-data").textContent);
  const root = document.getElementById("network");
  const state = { lang: data.default_language, band: "night", period: data.default_period || data.periods[data.periods.length - 1] };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
    return node;
  }
  const L = (key) => (data.labels[state.lang] || data.labels.en)[key] || data.labels.en[key] || key;
  const fmt = (v, d = 1) => (v == null ? "" : Number(v).toLocaleString(state.lang, { minimumFractionDigits: d, maximumFractionDigits: d }));
  const level = Math.round(data.confidence * 100) + "%";

  function bar(value, low, high) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", "160"); svg.setAttribute("height", "14"); svg.setAttribute("viewBox", "0 0 100 14");
    const line = document.createElementNS(ns, "line");
    line.setAttribute("x1", low); line.setAttribute("x2", high); line.setAttribute("y1", 7); line.setAttribute("y2", 7);
    line.setAttribute("stroke", "#5f6b7a"); line.setAttribute("stroke-width", "3");
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", value); dot.setAttribute("cy", 7); dot.setAttribute("r", 3.5);
    dot.setAttribute("fill", state.band === "night" ? "#3b3b98" : "#d95f02");
    svg.append(line, dot);
    return svg;
  }

  function switcher(options, current, onPick) {
    const box = el("div", { class: "switch", role: "group" });
    for (const [value, text] of options) {
      const b = el("button", { type: "button", "aria-pressed": String(value === current) }, text);
      b.addEventListener("click", () => { onPick(value); draw(); });
      box.append(b);
    }
    return box;
  }

  function draw() {
    document.documentElement.lang = state.lang;
    document.title = L("title") + " - " + data.network_name;
    root.replaceChildren();
    const head = el("header", {}, el("h1", {}, L("title")), el("p", { class: "sub" }, data.network_name));
    root.append(head);
    if (data.is_synthetic) root.append(el("div", { class: "synthetic" }, L("synthetic_banner")));
    const langSelect = el("select", { id: "language", "aria-label": L("language") });
    for (const code of data.languages) {
      const o = el("option", { value: code }, code);
      if (code === state.lang) o.selected = true;
      langSelect.append(o);
    }
    langSelect.addEventListener("change", () => { state.lang = langSelect.value; draw(); });
    const periodSelect = el("select", { id: "period", "aria-label": L("period") });
    for (const p of data.periods) {
      const o = el("option", { value: p }, p);
      if (p === state.period) o.selected = true;
      periodSelect.append(o);
    }
    periodSelect.addEventListener("change", () => { state.period = periodSelect.value; draw(); });
    root.append(el("div", { class: "controls" },
      el("label", {}, L("language") + " ", langSelect),
      el("label", {}, L("period") + " ", periodSelect),
      switcher([["day", L("day")], ["night", L("night")]], state.band, (b) => { state.band = b; })));
    const core = data.core_items[state.band];
    root.append(el("p", { class: "note", id: "core-question" }, L("question") + ": \u201c" + (core.wording[state.lang] || core.wording.en) + "\u201d"));
    root.append(el("p", { class: "note" }, L("scale_note")));

    const rows = data.cities.filter((r) => r.period_start === state.period && r.time_band === state.band);
    const ranks = {};
    for (const r of data.ranks) if (r.period_start === state.period && r.time_band === state.band) ranks[r.measure + ":" + r.city_id] = r;
    rows.sort((a, b) => (b.perception == null ? -1 : b.perception) - (a.perception == null ? -1 : a.perception));
    const table = el("table", { id: "cities" });
    table.append(el("thead", {}, el("tr", {},
      el("th", {}, L("city")), el("th", {}, L("language")), el("th", { class: "num" }, L("zones")),
      el("th", { class: "num" }, L("respondents")), el("th", { class: "num" }, L("perception")),
      el("th", {}, L("interval").replace("{level}", level)), el("th", { class: "num" }, L("rank")),
      el("th", { class: "num" }, L("gap")), el("th", { class: "num" }, L("composite")), el("th", { class: "num" }, L("rank")))));
    const body = el("tbody");
    for (const r of rows) {
      const m = data.members[r.city_id] || {};
      const pr = ranks["perception:" + r.city_id], cr = ranks["composite:" + r.city_id];
      const tr = el("tr", { "data-city": r.city_id },
        el("td", {}, r.city_name), el("td", {}, m.language || ""), el("td", { class: "num" }, m.n_zones == null ? "" : m.n_zones));
      if (r.is_published) {
        tr.append(el("td", { class: "num" }, r.n_respondents),
          el("td", { class: "num" }, fmt(r.perception) + " [" + fmt(r.perception_ci_low) + ", " + fmt(r.perception_ci_high) + "]"),
          el("td", {}, bar(r.perception, r.perception_ci_low, r.perception_ci_high)),
          el("td", { class: "num" }, pr ? pr.rank_ci_low + "\u2013" + pr.rank_ci_high + " / " + pr.n_ranked : ""),
          el("td", { class: "num" }, r.perception_gap == null ? "" : fmt(r.perception_gap) + " [" + fmt(r.perception_gap_ci_low) + ", " + fmt(r.perception_gap_ci_high) + "]"),
          el("td", { class: "num" }, r.composite == null ? r.composite_reason : fmt(r.composite) + " [" + fmt(r.composite_ci_low) + ", " + fmt(r.composite_ci_high) + "]"),
          el("td", { class: "num" }, cr ? cr.rank_ci_low + "\u2013" + cr.rank_ci_high + " / " + cr.n_ranked : ""));
      } else {
        tr.append(el("td", { class: "withheld", colspan: "7" }, L("missing") + ": " + r.reason));
      }
      body.append(tr);
    }
    table.append(body);
    root.append(el("section", {}, table, el("p", { class: "note" }, L("rank_note")), el("p", { class: "note" }, L("composite_note"))));

    const cov = el("table", { id: "coverage" });
    cov.append(el("thead", {}, el("tr", {}, el("th", {}, L("city")), el("th", {}, L("source")), el("th", {}, L("kind")), el("th", {}, L("months")), el("th", {}, L("question")))));
    const cbody = el("tbody");
    for (const c of data.coverage) {
      cbody.append(el("tr", {}, el("td", {}, c.city_id), el("td", {}, c.source_name || c.reason || ""), el("td", {}, c.source_kind || ""),
        el("td", {}, c.first_period ? c.first_period + " \u2013 " + c.last_period : ""), el("td", {}, (c.core_items || []).join(", "))));
    }
    cov.append(cbody);
    root.append(el("section", {}, el("h2", {}, L("coverage")), cov));
    root.append(el("footer", {}, L("method") + ": " + data.method_version + " \u00b7 build " + data.build_id));
  }
  draw();
})();
