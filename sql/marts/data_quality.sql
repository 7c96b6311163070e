-- Dashboard table: one row per source batch (file) with rows read, accepted, item
-- non-response (declared "don't know" answers: not bad data) and quarantined, whether
-- they reconcile (read = accepted + non-response + quarantined), and the most frequent
-- quarantine reason.
with batches as (
    select * from ops.batches
),

quarantined as (
    select batch_id, reason from quarantine.survey
    union all
    select batch_id, reason from quarantine.incidents
    union all
    select batch_id, reason from quarantine.sensors
),

reasons as (
    select
        batch_id,
        unnest(string_split(reason, '; ')) as reason,
    from quarantined
),

unknown_times as (
    -- accepted incidents whose source gives no time of day: in no day or night cell
    select batch_id, count(*) as rows_time_unknown,
    from validated.incidents
    where not coalesce(is_time_known, true)
    group by batch_id
),

top_reason as (
    select
        batch_id,
        -- ties broken by the reason's name: the same batch always shows the same reason
        first(reason order by n desc, reason) as top_reason,
    from (
        select batch_id, reason, count(*) as n from reasons group by all
    )
    group by batch_id
),

final as (
    select
        $city_id as city_id,
        b.source_name,
        b.source_kind,
        b.batch_id,
        b.file_path,
        b.status,
        b.rows_in_file,
        b.rows_read,
        b.rows_accepted,
        b.rows_quarantined,
        coalesce(b.rows_non_response, 0) as rows_non_response,
        b.rows_read = b.rows_accepted + coalesce(b.rows_non_response, 0) + b.rows_quarantined
            as is_reconciled,
        coalesce(u.rows_time_unknown, 0) as rows_time_unknown,
        t.top_reason,
        b.error,
        b.finished_at as ingested_at,
    from batches as b
    left join top_reason as t on t.batch_id = b.batch_id
    left join unknown_times as u on u.batch_id = b.batch_id
)

select * from final
order by source_name, file_path
