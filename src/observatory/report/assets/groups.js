/* observatory report: "who feels unsafe", the respondent groups' perception and gaps. */
"use strict";

/** One table per grouping: each group's perception and gap to the rest, at night and by
 *  day, city-wide and in the zones where the cells are publishable (marts.group_index). */
function groupsSection() {
  const rows = D.groups || [];
  if (!rows.length) return null;
  const gap = (r) => r.gap_to_rest == null ? "\u2013"
    : `${num(r.gap_to_rest)} [${range(r.gap_ci_low, r.gap_ci_high)}]${r.is_gap_significant ? " *" : ""}`;
  const body = [...new Set(rows.map((r) => r.group_by))].map((by) => {
    const mine = rows.filter((r) => r.group_by === by);
    return el("div", {}, el("h3", {}, by),
      table([label("groups_where"), label("groups_group"), label("groups_band"),
        label("groups_perception"), label("groups_gap")],
      mine.map((r) => [r.level === "city" ? label("groups_city") : r.zone_name, r.group_label,
        r.time_band, `${num(r.perception)} [${range(r.perception_ci_low, r.perception_ci_high)}]`,
        gap(r)]),
      [false, false, false, true, true]));
  });
  return section("groups", label("groups_title"),
    label("groups_note", { k: D.meta.min_respondents, withheld: D.groups_withheld }), body);
}
