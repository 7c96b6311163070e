-- The indicator table the index is computed from: one row per zone x band x period with the
-- direct perception estimate, the incident ratio and the environment indicators, in their
-- natural units (normalisation happens in the index step, per docs/methodology.md).
-- Illuminance is an indicator at night only: by day a lux meter measures daylight.
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

final as (
    select
        c.zone_id,
        c.time_band,
        c.period_start,
        coalesce(p.n_respondents, 0) as n_respondents,
        coalesce(p.n_units, 0) as n_units,
        coalesce(p.n_effective, 0.0) as n_effective,
        p.perception_score as perception_raw,
        p.perception_se as perception_raw_se,
        coalesce(p.any_band_share, 0.0) as any_band_share,
        p.within_var,
        p.n_clusters,
        p.cluster_var,
        coalesce(i.has_incident_coverage, false) as has_incident_coverage,
        i.incident_count,
        i.incident_severity_sum,
        i.incident_severity_sq_sum,
        i.incident_rate_per_1000,
        i.incident_rate_per_10000_passes,
        i.incident_rate_per_km2,
        i.incident_exposure,
        i.incident_ratio,
        i.incident_expected,
        case when c.time_band = 'night' then e.lux_mean end as lux_mean,
        e.footfall_per_hour,
        e.noise_leq_db,
    from cells as c
    left join perception as p
        on p.zone_id = c.zone_id
        and p.time_band = c.time_band
        and p.period_start = c.period_start
    left join incidents as i
        on i.zone_id = c.zone_id
        and i.time_band = c.time_band
        and i.period_start = c.period_start
    left join environment as e
        on e.zone_id = c.zone_id
        and e.time_band = c.time_band
        and e.period_start = c.period_start
)

select * from final
