-- Composite perceived-security index v1 (docs/methodology.md): three components on 0-100
-- (higher = safer), combined as a weighted arithmetic mean of the components available in
-- the cell (weights renormalised). The 90% interval carries the perception component's
-- sampling error; method uncertainty is added by the full method (issue: index v1).
with cells as (
    select * from idx.idx_cells
),

perception as (
    select * from idx.idx_perception
),

incidents as (
    select * from idx.idx_incidents
),

environment as (
    select * from idx.idx_environment
),

joined as (
    select
        c.zone_id,
        c.time_band,
        c.period_start,
        coalesce(p.n_respondents, 0) as n_respondents,
        p.perception_score,
        p.perception_se,
        p.perception_ci_low,
        p.perception_ci_high,
        i.incident_count,
        i.incident_severity_sum,
        i.incident_rate_per_1000,
        i.incident_rate_per_km2,
        coalesce(i.incident_rate_per_1000, i.incident_rate_per_km2) as incident_rate,
        e.lux_mean,
        e.footfall_per_hour,
        e.noise_leq_db,
    from cells as c
    left join perception as p using (zone_id, time_band, period_start)
    left join incidents as i using (zone_id, time_band, period_start)
    left join environment as e using (zone_id, time_band, period_start)
),

goalposted as (
    select
        *,
        100.0 * (1.0 - incident_rate / nullif(max(incident_rate) over (partition by period_start), 0))
            as incidents_raw_component,
        case
            when time_band = 'night'
                then 100.0 * least(greatest((lux_mean - $lux_worst) / ($lux_best - $lux_worst), 0.0), 1.0)
        end as lux_component,
        100.0 * least(greatest(
            (footfall_per_hour - $footfall_worst) / ($footfall_best - $footfall_worst), 0.0), 1.0)
            as footfall_component,
        100.0 * least(greatest(
            (noise_leq_db - $noise_worst) / ($noise_best - $noise_worst), 0.0), 1.0)
            as noise_component,
    from joined
),

components as (
    select
        *,
        coalesce(incidents_raw_component, 100.0) as incidents_component,
        (coalesce(lux_component, 0.0) + coalesce(footfall_component, 0.0) + coalesce(noise_component, 0.0))
            / nullif(
                (lux_component is not null)::int
                + (footfall_component is not null)::int
                + (noise_component is not null)::int, 0)
            as environment_component,
    from goalposted
),

weighted as (
    select
        *,
        (case when perception_score is not null then $w_perception else 0.0 end)
            + $w_incidents
            + (case when environment_component is not null then $w_environment else 0.0 end)
            as weight_total,
    from components
),

final as (
    select
        zone_id,
        time_band,
        period_start,
        n_respondents,
        perception_score,
        perception_se,
        perception_ci_low,
        perception_ci_high,
        incident_count,
        incident_severity_sum,
        incident_rate_per_1000,
        incident_rate_per_km2,
        lux_mean,
        footfall_per_hour,
        noise_leq_db,
        incidents_component,
        environment_component,
        (
            coalesce($w_perception * perception_score, 0.0)
            + $w_incidents * incidents_component
            + coalesce($w_environment * environment_component, 0.0)
        ) / weight_total as index_value,
        case
            when perception_se is not null
                then 1.645 * perception_se * $w_perception / weight_total
            else 0.0
        end as index_half_width,
        perception_score is not null as has_perception,
        environment_component is not null as has_environment,
    from weighted
)

select * from final
