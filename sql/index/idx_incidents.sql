-- Incident component: count and severity-weighted rate per 1,000 residents (or per km2
-- where a zone has no population), per zone x band x period. Zones without incidents are 0.
with cells as (
    select * from idx.idx_cells
),

zones as (
    select * from ref.zones
),

incidents as (
    select * from staging.stg_incidents
),

counts as (
    select
        zone_id,
        time_band,
        period_start,
        count(*) as incident_count,
        sum(severity) as incident_severity_sum,
    from incidents
    group by all
),

final as (
    select
        c.zone_id,
        c.time_band,
        c.period_start,
        coalesce(n.incident_count, 0) as incident_count,
        coalesce(n.incident_severity_sum, 0.0) as incident_severity_sum,
        case
            when z.population > 0
                then 1000.0 * coalesce(n.incident_severity_sum, 0.0) / z.population
        end as incident_rate_per_1000,
        coalesce(n.incident_severity_sum, 0.0) / nullif(z.area_km2, 0) as incident_rate_per_km2,
    from cells as c
    inner join zones as z on z.zone_id = c.zone_id
    left join counts as n
        on n.zone_id = c.zone_id
        and n.time_band = c.time_band
        and n.period_start = c.period_start
)

select * from final
