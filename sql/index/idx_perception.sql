-- Perception component: the weighted mean safety score (0-100) per zone x band x period.
-- A respondent's items in a band are averaged first, so each person counts once per cell;
-- the standard error uses Kish's effective sample size for the design weights.
with responses as (
    select * from staging.stg_survey
),

per_respondent as (
    select
        zone_id,
        time_band,
        period_start,
        respondent_id,
        sum(score * weight) / sum(weight) as score,
        avg(weight) as weight,
    from responses
    group by all
),

moments as (
    select
        zone_id,
        time_band,
        period_start,
        count(*) as n_respondents,
        sum(weight) as sum_weight,
        sum(weight * weight) as sum_weight_sq,
        sum(weight * score) / sum(weight) as mean_score,
        sum(weight * score * score) / sum(weight) as mean_score_sq,
    from per_respondent
    group by all
),

with_error as (
    select
        *,
        sum_weight * sum_weight / sum_weight_sq as n_effective,
        case
            when sum_weight * sum_weight / sum_weight_sq > 1.0
                then sqrt(
                    greatest(mean_score_sq - mean_score * mean_score, 0.0)
                    * (sum_weight * sum_weight / sum_weight_sq)
                    / (sum_weight * sum_weight / sum_weight_sq - 1.0)
                ) / sqrt(sum_weight * sum_weight / sum_weight_sq)
        end as perception_se,
    from moments
),

final as (
    select
        zone_id,
        time_band,
        period_start,
        n_respondents,
        n_effective,
        mean_score as perception_score,
        perception_se,
        greatest(mean_score - 1.645 * perception_se, 0.0) as perception_ci_low,
        least(mean_score + 1.645 * perception_se, 100.0) as perception_ci_high,
    from with_error
)

select * from final
