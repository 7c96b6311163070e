-- Which months the incident sources cover, per period of the index grid. A source covers
-- the months from its first to its last month with an accepted record (a quiet month
-- inside that span is a real zero), unless its config declares `coverage.start` / `end`.
-- A month no source covers has no incident figure: missing, never zero incidents ("safe").
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
    select
        source_name,
        min(period_start) as first_period,
        max(period_start) as last_period,
    from incidents
    group by source_name
),

windows as (
    select
        d.source_name,
        coalesce(d.declared_start, o.first_period) as covered_from,
        coalesce(d.declared_end, o.last_period) as covered_to,
    from declared as d
    left join observed as o on o.source_name = d.source_name
    union all
    -- rows of a source no longer in the config still cover the months they span
    select
        o.source_name,
        o.first_period,
        o.last_period,
    from observed as o
    where o.source_name not in (select source_name from declared)
),

periods as (
    select distinct period_start from cells
),

final as (
    select
        p.period_start,
        count(w.source_name) as n_incident_sources,
        count(w.source_name) > 0 as has_incident_coverage,
    from periods as p
    left join windows as w
        on p.period_start between w.covered_from and w.covered_to
    group by p.period_start
)

select * from final
