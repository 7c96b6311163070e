-- Dashboard table: who feels unsafe. Perception (0-100, higher = feels safer) per
-- respondent group (gender, age band... as the survey maps them) x zone, and city-wide
-- (zone_id '_all'), x band x month, with its 90% interval, and the gap to the rest of
-- the respondents of the same cell (group minus rest; negative = the group feels less
-- safe) with its interval and a false-discovery-rate flag. Withheld cells (too few
-- respondents, nearly all alike, or protecting another withheld cell; suppression_reason
-- says which) publish no figure, not even their size (docs/methodology.md, section 14).
with groups as (
    select * from idx.idx_groups
    where group_label <> '_not_stated'
),

zones as (
    select zone_id, zone_name from ref.zones
),

final as (
    select
        $city_id as city_id,
        g.group_by,
        g.group_label,
        g.zone_id,
        case when g.zone_id = '_all' then 'city' else 'zone' end as level,
        coalesce(z.zone_name, case when g.zone_id = '_all' then 'city-wide' end) as zone_name,
        g.time_band,
        g.period_start,
        case when not g.is_suppressed then g.n_respondents end as n_respondents,
        case when not g.is_suppressed then round(g.perception, 1) end as perception,
        case when not g.is_suppressed then round(g.perception_ci_low, 1) end
            as perception_ci_low,
        case when not g.is_suppressed then round(g.perception_ci_high, 1) end
            as perception_ci_high,
        case when g.is_gap_published then round(g.gap_to_rest, 1) end as gap_to_rest,
        case when g.is_gap_published then round(g.gap_ci_low, 1) end as gap_ci_low,
        case when g.is_gap_published then round(g.gap_ci_high, 1) end as gap_ci_high,
        case when g.is_gap_published then g.is_gap_significant end as is_gap_significant,
        g.is_suppressed,
        g.suppression_reason,
        $is_synthetic as is_synthetic,
    from groups as g
    left join zones as z on z.zone_id = g.zone_id
)

select * from final
order by group_by, period_start, time_band, level, zone_id, group_label
