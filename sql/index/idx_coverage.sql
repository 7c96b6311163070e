-- Which months each incident family covers, per period of the index grid. A source covers
-- the months from its first to its last month with an accepted record (a quiet month
-- inside that span is a real zero), unless its config declares `coverage.start` / `end`;
-- a family covers a month when any of its zone-level sources does. A month its family does not cover
-- has no incident figure for that family: missing, never zero incidents ("safe").
with cells as (
    select * from idx.idx_cells
),

incidents as (
    select * from staging.stg_incidents
),

declared as (
    select * from ref.source_coverage
),

observed as (
    -- rows with a zone only: a city-level source (zone '_city') counts in no zone's cell,
    -- so it covers no zone's month (else every zone would read 0 incidents: "safe")
    select
        source_name,
        any_value(incident_family) as incident_family,
        min(period_start) as first_period,
        max(period_start) as last_period,
    from incidents
    where zone_id is distinct from '_city'
    group by source_name
),

city_level as (
    select source_name from ref.sources where source_level = 'city'
),

windows as (
    select
        d.source_name,
        d.incident_family,
        coalesce(d.declared_start, o.first_period) as covered_from,
        coalesce(d.declared_end, o.last_period) as covered_to,
    from declared as d
    left join observed as o on o.source_name = d.source_name
    union all
    -- rows of a source no longer in the config still cover the months they span
    select
        o.source_name,
        o.incident_family,
        o.first_period,
        o.last_period,
    from observed as o
    where o.source_name not in (select source_name from declared)
        and o.source_name not in (select source_name from city_level)
),

periods as (
    select distinct period_start from cells
),

families as (
    select distinct incident_family from windows
),

final as (
    select
        p.period_start,
        f.incident_family,
        count(w.source_name) as n_incident_sources,
        count(w.source_name) > 0 as has_incident_coverage,
    from periods as p
    cross join families as f
    left join windows as w
        on w.incident_family = f.incident_family
        and p.period_start between w.covered_from and w.covered_to
    group by p.period_start, f.incident_family
)

select * from final
