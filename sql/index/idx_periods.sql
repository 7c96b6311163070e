-- Period completeness: a period is provisional until every source expected for it has
-- landed, or has been declared late (`observatory declare-late`), and while it has not yet
-- ended in the city's time zone. A source is expected from its first period (or declared
-- coverage start) to its declared coverage end; it has landed a period once it has
-- delivered records of that period or a later one. A source whose newest record is more
-- than $source_stale_months months older than the city's newest period has stopped
-- delivering and holds nothing provisional (it is listed in data_quality). Provisional
-- periods never enter the reference period, and exports and the report label them.
with cells as (
    select * from idx.idx_cells
),

sources as (
    select * from ref.sources
),

late as (
    select * from ops.late_sources
),

delivered as (
    -- newest record per source, as a local month: min/max first, cheap on the largest feed
    select source_name, cast(date_trunc('month', timezone($city_tz, max(t))) as date) as last_period
    from (
        select source_name, max(surveyed_at) as t from validated.survey group by source_name
        union all
        select source_name, max(occurred_at) from validated.incidents group by source_name
        union all
        select source_name, max(measured_at) from validated.sensors group by source_name
    )
    group by source_name
),

periods as (
    select distinct period_start from cells
),

newest as (
    select max(last_period) as newest_period from delivered
),

active as (
    select
        s.source_name,
        s.declared_start,
        s.declared_end,
        d.last_period,
    from sources as s
    inner join delivered as d on d.source_name = s.source_name
    cross join newest as n
    where d.last_period >= n.newest_period - to_months($source_stale_months)
),

awaited as (
    select
        p.period_start,
        a.source_name,
    from periods as p
    inner join active as a
        on p.period_start > a.last_period
        and (a.declared_start is null or p.period_start >= a.declared_start)
        and (a.declared_end is null or p.period_start <= a.declared_end)
    where not exists (
        select 1 from late as l
        where l.source_name = a.source_name and l.period_start = p.period_start
    )
),

final as (
    select
        p.period_start,
        list(w.source_name order by w.source_name) filter (where w.source_name is not null)
            as awaiting_sources,
        p.period_start + interval 1 month > cast($as_of_local_date as date) as is_open,
        count(w.source_name) > 0
        or p.period_start + interval 1 month > cast($as_of_local_date as date) as is_provisional,
    from periods as p
    left join awaited as w on w.period_start = p.period_start
    group by p.period_start
)

select * from final
