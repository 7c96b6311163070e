-- One row per respondent x item, scored 0-100 (higher = safer), with zone, band and period.
-- The band comes from the question (an "after dark" item is night), not from the time the
-- form was filled in.
with responses as (
    select v.* from validated.survey as v
    where not exists (  -- a held batch is not published until released (ops.batch_holds)
        select 1 from ops.batch_holds as h
        where h.batch_id = v.batch_id and h.released_at is null
    )
),

localised as (
    select
        *,
        timezone($city_tz, surveyed_at) as surveyed_local_at
    from responses
),

final as (
    select
        source_name,
        batch_id,
        response_id,
        respondent_id,
        zone_id,
        time_band,
        item_id,
        score,
        weight,
        stratum_id,
        cluster_id,
        -- group labels only ({"gender": "women"}); raw answers never reach here
        respondent_groups,
        n_respondents,
        is_aggregate,
        surveyed_at,
        surveyed_local_at,
        cast(date_trunc('month', surveyed_local_at) as date) as period_start,
    from localised
)

select * from final
