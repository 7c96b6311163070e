-- Dashboard table: the perceived-security index per zone x time band x month, with its
-- inputs, sample size and 90% interval. Cells with fewer than $min_respondents respondents
-- are suppressed: their perception and index are withheld and is_suppressed is true.
-- No respondent-level data reaches this table.
with composite as (
    select * from idx.idx_composite
),

zones as (
    select * from ref.zones
),

final as (
    select
        $city_id as city_id,
        c.zone_id,
        z.zone_name,
        c.period_start,
        c.time_band,
        c.n_respondents,
        c.n_respondents < $min_respondents as is_suppressed,
        case when c.n_respondents >= $min_respondents then round(c.perception_score, 1) end
            as perception_score,
        case when c.n_respondents >= $min_respondents then round(c.perception_ci_low, 1) end
            as perception_ci_low,
        case when c.n_respondents >= $min_respondents then round(c.perception_ci_high, 1) end
            as perception_ci_high,
        c.incident_count,
        round(c.incident_rate_per_1000, 3) as incident_rate_per_1000,
        round(c.lux_mean, 1) as lux_mean,
        round(c.footfall_per_hour, 1) as footfall_per_hour,
        round(c.noise_leq_db, 1) as noise_leq_db,
        round(c.incidents_component, 1) as incidents_component,
        round(c.environment_component, 1) as environment_component,
        case when c.n_respondents >= $min_respondents then round(c.index_value, 1) end
            as index_value,
        case
            when c.n_respondents >= $min_respondents
                then round(greatest(c.index_value - c.index_half_width, 0.0), 1)
        end as index_ci_low,
        case
            when c.n_respondents >= $min_respondents
                then round(least(c.index_value + c.index_half_width, 100.0), 1)
        end as index_ci_high,
        $is_synthetic as is_synthetic,
        'v1-simple' as method_version,
    from composite as c
    inner join zones as z on z.zone_id = c.zone_id
)

select * from final
order by zone_id, period_start, time_band
