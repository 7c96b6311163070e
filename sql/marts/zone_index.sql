-- Dashboard table: the perceived-security index per zone x time band x month, in full
-- detail: sample size, raw / shrunk / modelled perception, the three components, the index
-- with its 90% sampling interval and its method band, its rank with a rank interval, and the suppression flags.
-- Survey-based figures of suppressed cells are withheld (null); incident and sensor figures
-- are not survey data and stay. No respondent-level data reaches this table.
with indicators as (
    select * from idx.idx_indicators
),

perception as (
    select * from idx.idx_perception_eb
),

suppression as (
    select * from idx.idx_suppression
),

composite as (
    select * from idx.idx_composite
),

method as (
    select * from idx.idx_method
),

zones as (
    select * from ref.zones
),

periods as (
    select * from idx.idx_periods
),

joined as (
    select
        i.*,
        z.zone_name,
        s.is_suppressed,
        s.suppression_reason,
        p.is_modelled,
        p.perception_shrunk,
        p.shrinkage_weight,
        p.perception_modelled,
        p.model_cv_rmse,
        p.perception_score,
        p.between_var,
        p.model_null_rmse,
        p.modelled_status,
        c.* exclude (zone_id, time_band, period_start),
    from indicators as i
    inner join zones as z using (zone_id)
    inner join suppression as s using (zone_id, time_band, period_start)
    inner join perception as p using (zone_id, time_band, period_start)
    inner join composite as c using (zone_id, time_band, period_start)
),

final as (
    select
        $city_id as city_id,
        j.zone_id,
        j.zone_name,
        j.period_start,
        j.time_band,
        pr.is_provisional,
        j.n_respondents,
        round(j.n_effective, 1) as n_effective,
        j.is_suppressed,
        j.suppression_reason,
        j.is_modelled,
        case when not j.is_suppressed then round(j.perception_raw, 1) end as perception_raw,
        case when not j.is_suppressed then round(j.perception_raw_se, 2) end as perception_raw_se,
        case when not j.is_suppressed then round(j.perception_shrunk, 1) end as perception_shrunk,
        case when not j.is_suppressed then round(j.shrinkage_weight, 3) end as shrinkage_weight,
        round(j.between_var, 2) as between_zone_var,
        round(j.perception_modelled, 1) as perception_modelled,
        case when j.is_modelled then round(j.model_cv_rmse, 1) end as model_cv_rmse,
        case when j.n_respondents = 0 then round(j.model_null_rmse, 1) end as model_null_rmse,
        j.modelled_status,
        case when not j.is_suppressed then round(j.perception_score, 1) end as perception_score,
        case when not j.is_suppressed then round(j.perception_ci_low, 1) end as perception_ci_low,
        case when not j.is_suppressed then round(j.perception_ci_high, 1) end as perception_ci_high,
        case when not j.is_suppressed then round(j.any_band_share, 3) end
            as perception_any_band_share,
        j.has_incident_coverage,
        j.incident_count,
        round(j.incident_severity_sum, 1) as incident_severity_sum,
        round(j.incident_rate_per_1000, 3) as incident_rate_per_1000,
        round(j.incident_rate_per_10000_passes, 3) as incident_rate_per_10000_passes,
        j.incident_exposure,
        round(j.incident_ratio, 3) as incident_ratio,
        round(j.lux_mean, 1) as lux_mean,
        round(j.footfall_per_hour, 1) as footfall_per_hour,
        round(j.noise_leq_db, 1) as noise_leq_db,
        case when not j.is_suppressed then round(j.perception_component, 1) end
            as perception_component,
        round(j.incidents_component, 1) as incidents_component,
        round(j.environment_component, 1) as environment_component,
        case when not j.is_suppressed then round(j.index_value, 1) end as index_value,
        case when not j.is_suppressed then round(j.index_ci_low, 1) end as index_ci_low,
        case when not j.is_suppressed then round(j.index_ci_high, 1) end as index_ci_high,
        case when not j.is_suppressed then round(j.index_method_low, 1) end as index_method_low,
        case when not j.is_suppressed then round(j.index_method_high, 1) end as index_method_high,
        j.index_rank,
        j.index_rank_ci_low,
        j.index_rank_ci_high,
        j.n_ranked,
        m.normalisation,
        m.weighting,
        m.aggregation,
        $is_synthetic as is_synthetic,
    from joined as j
    inner join periods as pr on pr.period_start = j.period_start
    cross join method as m
)

select * from final
order by zone_id, period_start, time_band
