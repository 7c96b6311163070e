-- One row per sampling unit x zone x time band x period: a respondent (their design-weighted
-- mean over the items of that band, so each person counts once per cell) or, for a
-- pre-aggregated source, one published aggregate row standing for n_people respondents
-- (n_respondents if the source gives it, else 1). The Kish term weight_sq is the sum of the
-- squared weights of the people a unit stands for (weight^2 / n_people when they share the
-- weight equally). Internal to the index layer (the bootstrap resamples these rows); never
-- published.
with responses as (
    select * from staging.stg_survey
    where score is not null
        and weight > 0
),

units as (
    select
        zone_id,
        time_band,
        period_start,
        respondent_id,
        coalesce(is_aggregate, false) as is_aggregate,
        case when coalesce(is_aggregate, false) then coalesce(n_respondents, 1.0) else 1.0 end
            as n_people,
        score,
        weight,
        stratum_id,
        cluster_id,
    from responses
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
        any_value(stratum_id) as stratum_id,
        any_value(cluster_id) as cluster_id,
    from units
    group by zone_id, time_band, period_start, respondent_id
)

select * from final
