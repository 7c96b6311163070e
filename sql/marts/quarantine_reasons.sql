-- Dashboard table: open quarantine per source and reason (a row refused for two reasons
-- counts under each), so analysts see what to fix first. Released rows are not counted.
with quarantined as (
    select source_name, batch_id, reason, quarantined_at from quarantine.survey
    where released_at is null
    union all
    select source_name, batch_id, reason, quarantined_at from quarantine.incidents
    where released_at is null
    union all
    select source_name, batch_id, reason, quarantined_at from quarantine.sensors
    where released_at is null
),

reasons as (
    select
        source_name,
        batch_id,
        quarantined_at,
        unnest(string_split(reason, '; ')) as reason,
    from quarantined
),

final as (
    select
        $city_id as city_id,
        source_name,
        reason,
        count(*) as rows_quarantined,
        count(distinct batch_id) as batches,
        max(quarantined_at) as last_quarantined_at,
    from reasons
    group by all
)

select * from final
order by source_name, rows_quarantined desc, reason
