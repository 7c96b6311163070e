-- Period completeness: a period is provisional until every source expected for it has
-- landed, or has been declared late (`observatory declare-late`), and while it has not yet
-- ended in the city's time zone. A source is expected from its first period (or declared
-- coverage start) to its declared coverage end; it has landed a period once it has
-- delivered records of that period or a later one. A source whose newest record is more
-- than $source_stale_months months older than the city's newest period has stopped
-- delivering and holds nothing provisional (it is listed in data_quality). Provisional
-- periods never enter the reference period, and exports and the report label them.
-- A period touched by a held batch (write-audit-publish, ops.batch_holds) is provisional
-- too, with the batch in `held_batches`; its rows are in no staging model until released.
with cells as (
    select * from idx.idx_cells
),

sources as (
    select * from ref.sources
),

late as (
    select * from ops.late_sources
),

open_holds as (
    select batch_id from ops.batch_holds where released_at is null
),

held_periods as (
    -- the local months of the held batches' rows (small: only held batches are read)
    select distinct batch_id, cast(date_trunc('month', timezone($city_tz, t)) as date) as period_start
    from (
        select batch_id, surveyed_at as t from validated.survey
        where batch_id in (select batch_id from open_holds)
        union all
        select batch_id, occurred_at from validated.incidents
        where batch_id in (select batch_id from open_holds)
        union all
        select batch_id, measured_at from validated.sensors
        where batch_id in (select batch_id from open_holds)
    )
),

delivered as (
    -- newest record per source, as a local month: min/max first, cheap on the largest feed
    select source_name, cast(date_trunc('month', timezone($city_tz, max(t))) as date) as last_period
    from (
        select source_name, max(surveyed_at) as t from validated.survey
        where batch_id not in (select batch_id from open_holds) group by source_name
        union all
        select source_name, max(occurred_at) from validated.incidents
        where batch_id not in (select batch_id from open_holds) group by source_name
        union all
        select source_name, max(measured_at) from validated.sensors
        where batch_id not in (select batch_id from open_holds) group by source_name
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

held as (
    select
        period_start,
        list(batch_id order by batch_id) as held_batches,
    from held_periods
    group by period_start
),

final as (
    select
        p.period_start,
        list(w.source_name order by w.source_name) filter (where w.source_name is not null)
            as awaiting_sources,
        p.period_start + interval 1 month > cast($as_of_local_date as date) as is_open,
        count(w.source_name) > 0
        or any_value(h.held_batches) is not null
        or p.period_start + interval 1 month > cast($as_of_local_date as date) as is_provisional,
        coalesce(any_value(h.held_batches), []::varchar[]) as held_batches,
    from periods as p
    left join awaited as w on w.period_start = p.period_start
    left join held as h on h.period_start = p.period_start
    group by p.period_start
)

select * from final
