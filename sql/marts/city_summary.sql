-- Dashboard table: the city at a glance, per time band x month: how many zones are
-- published, suppressed or modelled, the city's perception over all respondents (with its
-- 90% interval; withheld if it would reveal a suppressed zone), the spread of the index over
-- published zones, how many zones rise or fall significantly, the method in force, and how
-- much of the index's Monte Carlo variance each method choice explains (first-order
-- sensitivity indices, averaged over the published zones).
with zone_index as (
    select * from marts.zone_index
),

trends as (
    select * from marts.zone_trends
),

city as (
    select * from idx.idx_city
),

suppression as (
    select * from idx.idx_suppression
),

method as (
    select * from idx.idx_method
),

periods as (
    select * from idx.idx_periods
),

reference as (
    select
        time_band,
        min(reference_start) as incident_reference_start,
        max(reference_end) as incident_reference_end,
    from idx.idx_incidents
    group by time_band
),

zone_stats as (
    select
        period_start,
        time_band,
        count(*) as n_zones,
        count(index_value) as n_zones_published,
        count(*) filter (where is_suppressed) as n_zones_suppressed,
        count(*) filter (where is_modelled) as n_zones_modelled,
        cast(sum(n_respondents) as bigint) as n_respondents,
        round(avg(index_value), 1) as index_mean,
        round(min(index_value), 1) as index_min,
        round(median(index_value), 1) as index_median,
        round(max(index_value), 1) as index_max,
    from zone_index
    group by all
),

trend_stats as (
    select
        period_start,
        time_band,
        count(*) filter (where trend_direction = 'rising') as n_zones_rising,
        count(*) filter (where trend_direction = 'falling') as n_zones_falling,
    from trends
    group by all
),

totals as (
    select
        period_start,
        time_band,
        bool_or(is_total_suppressed) as is_total_suppressed,
    from suppression
    group by all
),

final as (
    select
        $city_id as city_id,
        z.period_start,
        z.time_band,
        pr.is_provisional,
        pr.awaiting_sources,
        z.n_zones,
        z.n_zones_published,
        z.n_zones_suppressed,
        z.n_zones_modelled,
        z.n_respondents,
        t.is_total_suppressed,
        case when not t.is_total_suppressed then round(c.city_perception, 1) end
            as city_perception,
        case when not t.is_total_suppressed then round(c.city_perception_ci_low, 1) end
            as city_perception_ci_low,
        case when not t.is_total_suppressed then round(c.city_perception_ci_high, 1) end
            as city_perception_ci_high,
        z.index_mean,
        z.index_min,
        z.index_median,
        z.index_max,
        s.n_zones_rising,
        s.n_zones_falling,
        round(c.sensitivity_normalisation, 3) as sensitivity_normalisation,
        round(c.sensitivity_weighting, 3) as sensitivity_weighting,
        round(c.sensitivity_aggregation, 3) as sensitivity_aggregation,
        round(c.sensitivity_total_normalisation, 3) as sensitivity_total_normalisation,
        round(c.sensitivity_total_weighting, 3) as sensitivity_total_weighting,
        round(c.sensitivity_total_aggregation, 3) as sensitivity_total_aggregation,
        m.normalisation,
        m.weighting,
        m.aggregation,
        round(m.w_perception, 3) as w_perception,
        round(m.w_incidents, 3) as w_incidents,
        round(m.w_environment, 3) as w_environment,
        r.incident_reference_start,
        r.incident_reference_end,
        $is_synthetic as is_synthetic,
    from zone_stats as z
    inner join totals as t using (period_start, time_band)
    left join city as c using (period_start, time_band)
    left join trend_stats as s using (period_start, time_band)
    inner join periods as pr on pr.period_start = z.period_start
    left join reference as r on r.time_band = z.time_band
    cross join method as m
)

select * from final
order by period_start, time_band
