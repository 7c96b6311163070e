-- Did it work? One row per intervention x outcome x time band: the difference-in-differences
-- estimate against comparison zones with its 90% interval, the periods and zones used, and
-- a pre-trend check; or, where the design cannot support an estimate, a status and reason
-- instead of a number (docs/interventions.md). Perception and the index come from
-- published cells only.
with effects as (
    select * from idx.idx_intervention_effects
),

register as (
    select * from ref.interventions
),

final as (
    select
        $city_id as city_id,
        e.intervention_id,
        r.intervention_name,
        r.intervention_type,
        e.outcome,
        e.time_band,
        e.unit,
        e.status,
        e.reason,
        -- rounded: a published figure must be the same for the same data (vintages)
        round(e.estimate, 3) as estimate,
        round(e.ci_low, 3) as ci_low,
        round(e.ci_high, 3) as ci_high,
        round(e.std_error, 3) as std_error,
        round(e.p_value, 4) as p_value,
        e.confidence,
        e.estimator,
        e.inference,
        e.pre_start as pre_period_start,
        e.pre_end as pre_period_end,
        e.post_start as post_period_start,
        e.post_end as post_period_end,
        e.n_pre_periods,
        e.n_post_periods,
        e.n_treated_zones,
        e.n_comparison_zones,
        e.comparison_zone_ids,
        e.comparison,
        e.matching,
        e.n_cells,
        round(e.treated_pre_mean, 3) as treated_pre_mean,
        round(e.pre_trend_slope, 3) as pre_trend_slope,
        round(e.pre_trend_p_value, 4) as pre_trend_p_value,
        coalesce(e.is_pre_trend_detected, false) as is_pre_trend_detected,
        $is_synthetic as is_synthetic,
    from effects as e
    inner join register as r using (intervention_id)
)

select * from final
order by intervention_id, outcome, time_band
