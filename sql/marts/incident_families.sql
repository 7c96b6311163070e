-- Dashboard table: every incident family as its own indicator, per zone x time band x month.
-- A family is what its sources count (`[[sources]] family`: crime reports, road incidents,
-- ...); each has its own coverage and reference rate, and families are never pooled into
-- one rate. `is_in_index` marks the family that makes the index's incident component
-- (`[index] incident_family`). Incident figures are not survey data: nothing is withheld.
with families as (
    select * from idx.idx_incident_families
),

in_index as (
    select distinct incident_family from idx.idx_incidents
),

zones as (
    select * from ref.zones
),

final as (
    select
        $city_id as city_id,
        f.zone_id,
        z.zone_name,
        f.time_band,
        f.period_start,
        f.incident_family,
        f.incident_family in (select incident_family from in_index) as is_in_index,
        f.has_incident_coverage,
        f.incident_count,
        round(f.incident_severity_sum, 1) as incident_severity_sum,
        round(f.incident_rate_per_1000, 3) as incident_rate_per_1000,
        f.incident_exposure,
        round(f.incident_ratio, 3) as incident_ratio,
        f.reference_start,
        f.reference_end,
        $is_synthetic as is_synthetic,
    from families as f
    inner join zones as z on z.zone_id = f.zone_id
)

select * from final
order by incident_family, zone_id, period_start, time_band
