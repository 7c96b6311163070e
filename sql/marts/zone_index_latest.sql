-- Dashboard table: the latest month of every zone x time band, the map view: the index and
-- its interval and rank, the change on the previous month and the trend verdict.
with zone_index as (
    select * from marts.zone_index
),

trends as (
    select * from marts.zone_trends
),

latest as (
    select max(period_start) as period_start from zone_index
),

final as (
    select
        i.city_id,
        i.zone_id,
        i.zone_name,
        i.period_start,
        i.time_band,
        i.is_provisional,
        i.n_respondents,
        i.is_suppressed,
        i.is_modelled,
        i.perception_score,
        i.perception_ci_low,
        i.perception_ci_high,
        i.incident_ratio,
        i.index_value,
        i.index_ci_low,
        i.index_ci_high,
        i.index_rank,
        i.index_rank_ci_low,
        i.index_rank_ci_high,
        i.n_ranked,
        t.change_vs_previous,
        t.change_ci_low,
        t.change_ci_high,
        t.is_change_significant,
        t.sen_slope_per_month,
        t.is_trend_significant,
        t.trend_direction,
        i.is_synthetic,
    from zone_index as i
    inner join latest as l on l.period_start = i.period_start
    left join trends as t
        on t.zone_id = i.zone_id
        and t.time_band = i.time_band
        and t.period_start = i.period_start
)

select * from final
order by zone_id, time_band
