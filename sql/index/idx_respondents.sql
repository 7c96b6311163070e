-- One row per sampling unit x zone x time band x period: a respondent (their design-weighted
-- mean over the items of that band, so each person counts once per cell) or, for a
-- pre-aggregated source, one published aggregate row standing for n_people respondents
-- (n_respondents if the source gives it, else 1). The Kish term weight_sq is the sum of the
-- squared weights of the people a unit stands for (weight^2 / n_people when they share the
-- weight equally). Internal to the index layer (the bootstrap resamples these rows); never
-- published.
-- A respondent's cell in a band holds their answers to that band's items; answers to items
-- that name no time of day (band 'any') stand in only for a respondent who answered nothing
-- specific to the band (`from_any_band`), so a survey with day and night questions keeps
-- its general question out of both, and a survey with only general questions still has a
-- perception per band, flagged, that makes no day/night gap (day_night_gap).
-- Nothing here crosses months: an incremental build reads the answers from the first month
-- it may republish on ($recompute_since, UTC) and keeps the earlier months' rows
-- (increment.BY_MONTH); a full build reads every answer.
with responses as (
    select * from staging.stg_survey
    where score is not null
        and weight > 0
        and surveyed_at >= $recompute_since
),

bands as (
    select unnest(['day', 'night']) as band
),

expanded as (
    select
        r.*,
        b.band as cell_band,
        r.time_band = 'any' as is_any_band,
    from responses as r
    inner join bands as b on r.time_band = b.band or r.time_band = 'any'
),

chosen as (
    select * from expanded
    qualify not is_any_band
        or not bool_or(not is_any_band) over (
            partition by zone_id, cell_band, period_start, respondent_id
        )
),

units as (
    select
        zone_id,
        cell_band as time_band,
        period_start,
        respondent_id,
        is_any_band,
        coalesce(is_aggregate, false) as is_aggregate,
        case when coalesce(is_aggregate, false) then coalesce(n_respondents, 1.0) else 1.0 end
            as n_people,
        score,
        weight,
        stratum_id,
        cluster_id,
    from chosen
),

final as (
    select
        zone_id,
        time_band,
        period_start,
        respondent_id,
        bool_or(is_aggregate) as is_aggregate,
        max(n_people) as n_people,
        sum(score * weight) / sum(weight) as score,
        avg(weight) as weight,
        avg(weight) * avg(weight) / max(n_people) as weight_sq,
        count(*) as n_items,
        bool_and(is_any_band) as from_any_band,
        any_value(stratum_id) as stratum_id,
        any_value(cluster_id) as cluster_id,
    from units
    group by zone_id, time_band, period_start, respondent_id
)

select * from final
