-- Dashboard table: the all-day figures per zone x month, for what has no time of day.
-- * Perception from the survey items that name no time of day (band 'any', e.g. "how safe
--   do you feel in your area?"): the design-weighted mean of each respondent's answers, with
--   its 90% interval (normal, Kish effective sample size; none for a cell of pre-aggregated
--   means only, which carry no sampling variance of their own). It is withheld, as a cell of the
--   index is, with fewer than $min_respondents respondents, when nearly everyone gave the
--   same answer ($homogeneity_threshold), and whenever the zone's day or night cell of the
--   month is withheld (so it inherits their complementary suppression). No city total of it
--   is published.
-- * Incidents of the index's family of every time of day, those with an unknown time
--   (date-only sources, placeholder times) included: they are in no day or night cell.
with cells as (
    select distinct zone_id, period_start from idx.idx_cells
),

zones as (
    select * from ref.zones
),

survey as (
    select * from staging.stg_survey
    where time_band = 'any' and score is not null and weight > 0
),

incidents as (
    -- the index's incident family (a family is never pooled with another)
    select * from staging.stg_incidents
    where incident_family in (select distinct incident_family from idx.idx_incidents)
),

coverage as (
    -- the months the index's incident family covers (idx_incidents holds only that family)
    select distinct period_start, has_incident_coverage from idx.idx_incidents
),

suppression as (
    select * from idx.idx_suppression
),

units as (
    select
        zone_id,
        period_start,
        respondent_id,
        bool_or(coalesce(is_aggregate, false)) as is_aggregate,
        max(
            case when coalesce(is_aggregate, false) then coalesce(n_respondents, 1.0) else 1.0 end
        ) as n_people,
        sum(score * weight) / sum(weight) as score,
        avg(weight) as weight,
    from survey
    group by all
),

moments as (
    select
        zone_id,
        period_start,
        cast(sum(n_people) as bigint) as n_respondents,
        count(*) as n_units,
        sum(weight) as sum_weight,
        sum(weight) * sum(weight) / sum(weight * weight) as n_effective,
        sum(weight * score) / sum(weight) as mean_score,
        bool_and(is_aggregate) as is_aggregate_only,
    from units
    group by all
),

spread as (
    select
        u.zone_id,
        u.period_start,
        sum(u.weight * pow(u.score - m.mean_score, 2)) / any_value(m.sum_weight) as biased_var,
    from units as u
    inner join moments as m using (zone_id, period_start)
    group by all
),

modal as (
    select
        zone_id,
        period_start,
        max(n) / sum(n) as modal_share,
    from (
        -- respondents' answers (a pre-aggregated mean reveals no one's), as in the index
        select zone_id, period_start, round(score, 6) as answer, count(*) as n
        from units
        where not is_aggregate
        group by all
    )
    group by all
),

withheld_bands as (
    select
        zone_id,
        period_start,
        bool_or(is_suppressed) as is_band_withheld,
    from suppression
    group by all
),

perception as (
    select
        m.zone_id,
        m.period_start,
        m.n_respondents,
        m.mean_score,
        case
            -- published means alone carry no sampling variance of their own: no interval
            when m.n_effective > 1.0 and not m.is_aggregate_only
                then sqrt(s.biased_var * m.n_effective / (m.n_effective - 1.0) / m.n_effective)
        end as se,
        m.n_respondents < $min_respondents
        or coalesce(d.modal_share >= $homogeneity_threshold, false)
        or coalesce(w.is_band_withheld, false) as is_suppressed,
    from moments as m
    inner join spread as s using (zone_id, period_start)
    left join modal as d using (zone_id, period_start)
    left join withheld_bands as w using (zone_id, period_start)
),

incident_counts as (
    select
        zone_id,
        period_start,
        count(*) as incident_count,
        count(*) filter (where time_band = 'unknown') as incident_count_time_unknown,
        sum(cast(severity as double)) as incident_severity_sum,
    from incidents
    group by all
),

final as (
    select
        $city_id as city_id,
        c.zone_id,
        z.zone_name,
        c.period_start,
        coalesce(p.n_respondents, 0) as n_respondents_any,
        coalesce(p.is_suppressed, false) as is_suppressed,
        case when not p.is_suppressed then round(p.mean_score, 1) end as perception_all_day,
        case when not p.is_suppressed then round(p.mean_score - $z_level * p.se, 1) end
            as perception_all_day_ci_low,
        case when not p.is_suppressed then round(p.mean_score + $z_level * p.se, 1) end
            as perception_all_day_ci_high,
        coalesce(v.has_incident_coverage, false) as has_incident_coverage,
        case when v.has_incident_coverage then coalesce(n.incident_count, 0) end
            as incident_count,
        case when v.has_incident_coverage then coalesce(n.incident_count_time_unknown, 0) end
            as incident_count_time_unknown,
        case when v.has_incident_coverage then round(coalesce(n.incident_severity_sum, 0.0), 1) end
            as incident_severity_sum,
        case
            when v.has_incident_coverage and z.population > 0
                then round(1000.0 * coalesce(n.incident_severity_sum, 0.0) / z.population, 3)
        end as incident_rate_per_1000,
        $is_synthetic as is_synthetic,
    from cells as c
    inner join zones as z on z.zone_id = c.zone_id
    left join perception as p on p.zone_id = c.zone_id and p.period_start = c.period_start
    left join incident_counts as n on n.zone_id = c.zone_id and n.period_start = c.period_start
    left join coverage as v on v.period_start = c.period_start
)

select * from final
order by zone_id, period_start
