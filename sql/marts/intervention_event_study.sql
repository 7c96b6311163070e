-- The event study of each evaluated intervention x outcome x band: the effect in each month
-- relative to the start (leads before it check pre-trends, lags after it show how the
-- effect builds or fades), with its 90% cluster-robust interval; month -1 is the reference
-- (docs/interventions.md).
with events as (
    select * from idx.idx_intervention_event_study
),

final as (
    select
        $city_id as city_id,
        intervention_id,
        outcome,
        time_band,
        unit,
        relative_month,
        period_start,
        round(estimate, 3) as estimate,
        round(ci_low, 3) as ci_low,
        round(ci_high, 3) as ci_high,
        round(std_error, 3) as std_error,
        is_reference,
        n_treated_cells,
        $is_synthetic as is_synthetic,
    from events
)

select * from final
order by intervention_id, outcome, time_band, relative_month
