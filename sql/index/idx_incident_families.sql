-- Incident indicator per zone x band x period x incident family: severity-weighted
-- incidents per unit of exposure, and the standardised incident ratio (observed / expected
-- at the city's rate). A family is what the sources count (crime reports, road incidents):
-- each has its own coverage and reference rate and is never pooled with another's.
-- Exposure is residents x hours of the band, else area x hours (or pedestrian passes where
-- `footfall_role = "exposure"`), so rates are per hour of the band: Turin's night lasts 215 h
-- in June and 435 h in December, and a per-month rate would make winter nights look safe.
-- Rates on different exposures are not comparable, so each is divided by the city's reference rate for the same
-- exposure and band over the reference period: incident_ratio = 1 means "as the city was
-- then", 2 means twice that rate. A month that no source of the family covers (idx_coverage)
-- gets null, not 0: missing data is never "safe"; the reference rate uses covered months only.
with cells as (
    select * from idx.idx_cells
),

zones as (
    select * from ref.zones
),

incidents as (
    select * from staging.stg_incidents
),

environment as (
    select * from idx.idx_environment
),

band_hours as (
    select * from idx.idx_band_hours
),

coverage as (
    select * from idx.idx_coverage
),

periods as (
    select * from idx.idx_periods
),

families as (
    select distinct incident_family from coverage
),

counts as (
    select
        zone_id,
        time_band,
        period_start,
        incident_family,
        count(*) as incident_count,
        sum(cast(severity as double)) as incident_severity_sum,
        sum(cast(severity as double) * cast(severity as double)) as incident_severity_sq_sum,
    from incidents
    group by all
),

exposed as (
    select
        c.zone_id,
        c.time_band,
        c.period_start,
        f.incident_family,
        coalesce(n.incident_count, 0) as incident_count,
        coalesce(n.incident_severity_sum, 0.0) as incident_severity_sum,
        coalesce(n.incident_severity_sq_sum, 0.0) as incident_severity_sq_sum,
        z.population,
        z.area_km2,
        e.footfall_per_hour * h.band_hours as pedestrian_passes,
        h.band_hours,
        coalesce(v.has_incident_coverage, false) as has_incident_coverage,
    from cells as c
    cross join families as f
    inner join zones as z on z.zone_id = c.zone_id
    left join counts as n
        on n.zone_id = c.zone_id
        and n.time_band = c.time_band
        and n.period_start = c.period_start
        and n.incident_family = f.incident_family
    left join environment as e
        on e.zone_id = c.zone_id
        and e.time_band = c.time_band
        and e.period_start = c.period_start
    left join band_hours as h
        on h.time_band = c.time_band
        and h.period_start = c.period_start
    left join coverage as v
        on v.period_start = c.period_start
        and v.incident_family = f.incident_family
),

with_basis as (
    -- Exposure is counted per hour of the band, so a month with longer nights does not read
    -- as a more dangerous one: resident-hours, km²-hours, or pedestrian passes (footfall per
    -- hour x hours) where footfall is configured as the exposure rather than an indicator.
    select
        *,
        case
            when $footfall_exposure and pedestrian_passes > 0 then 'footfall'
            when population > 0 and band_hours > 0 then 'residents'
            when area_km2 > 0 and band_hours > 0 then 'area'
        end as incident_exposure,
        case
            when $footfall_exposure and pedestrian_passes > 0 then pedestrian_passes / 10000.0
            when population > 0 and band_hours > 0 then population / 1000.0 * band_hours
            when area_km2 > 0 and band_hours > 0 then area_km2 * band_hours
        end as exposure_units,
    from exposed
),

reference_months as (
    -- The reference period is frozen, so a new month does not revise the published past:
    -- the declared one, or else the first $reference_months complete (not provisional)
    -- months with the family's coverage, per family, band and exposure basis; while fewer exist,
    -- provisional months fill in (and history stays open to revision until they do).
    select
        incident_family,
        time_band,
        incident_exposure,
        period_start,
    from (
        select distinct
            b.incident_family,
            b.time_band,
            b.incident_exposure,
            b.period_start,
            p.is_provisional,
        from with_basis as b
        inner join periods as p on p.period_start = b.period_start
        where b.incident_exposure is not null and b.has_incident_coverage
            and (
                $reference_start is null
                or b.period_start between $reference_start and $reference_end
            )
    )
    qualify $reference_start is not null
        or row_number() over (
            partition by incident_family, time_band, incident_exposure
            order by is_provisional, period_start
        ) <= $reference_months
),

reference as (
    select
        b.incident_family,
        b.time_band,
        b.incident_exposure,
        sum(b.incident_severity_sum) / sum(b.exposure_units) as reference_rate,
        min(b.period_start) as reference_start,
        max(b.period_start) as reference_end,
        count(distinct b.period_start) as reference_n_months,
    from with_basis as b
    inner join reference_months as m
        on m.incident_family = b.incident_family
        and m.time_band = b.time_band
        and m.incident_exposure = b.incident_exposure
        and m.period_start = b.period_start
    group by all
),

final as (
    select
        b.zone_id,
        b.time_band,
        b.period_start,
        b.incident_family,
        b.has_incident_coverage,
        case when b.has_incident_coverage then b.incident_count end as incident_count,
        case when b.has_incident_coverage then b.incident_severity_sum end
            as incident_severity_sum,
        case when b.has_incident_coverage then b.incident_severity_sq_sum end
            as incident_severity_sq_sum,
        case
            when b.has_incident_coverage and b.population > 0
                then 1000.0 * b.incident_severity_sum / b.population
        end as incident_rate_per_1000,
        case
            when b.has_incident_coverage and b.pedestrian_passes > 0
                then 10000.0 * b.incident_severity_sum / b.pedestrian_passes
        end as incident_rate_per_10000_passes,
        case when b.has_incident_coverage then b.incident_severity_sum / nullif(b.area_km2, 0) end
            as incident_rate_per_km2,
        b.pedestrian_passes,
        b.incident_exposure,
        r.reference_rate,
        r.reference_start,
        r.reference_end,
        r.reference_n_months,
        b.exposure_units * r.reference_rate as incident_expected,
        case
            when b.has_incident_coverage and b.incident_exposure is not null
                then coalesce(
                    b.incident_severity_sum / nullif(b.exposure_units * r.reference_rate, 0.0),
                    0.0
                )
        end as incident_ratio,
    from with_basis as b
    left join reference as r
        on r.incident_family = b.incident_family
        and r.time_band = b.time_band
        and r.incident_exposure = b.incident_exposure
)

select * from final
