-- Dashboard table: where people feel less safe than their incidents and lighting warrant,
-- per zone x month. expected_perception is what the zone's incident rate and night-time
-- lighting predict (least squares per band over the published zones that follow a common
-- line, with a month effect: marts.fear_gap_model); the fear gap is perception minus that,
-- averaged over the bands and months with survey answers (negative = feels less safe than
-- incidents and lighting warrant), with an interval holding the survey's sampling error
-- and the fit's. is_fear_gap names the zone-months whose gap is more than
-- fear_gap_min_points points below zero at a false discovery rate of fdr_q (one-sided
-- p-values, Benjamini-Hochberg per month) and whose whole interval lies there too;
-- fear_gap_rank 1 is the largest deficit of the month.
with fear as (
    select * from idx.idx_fear_gap
),

composite as (
    select * from idx.idx_composite
),

zone_index as (
    select * from marts.zone_index
),

bands as (
    select
        i.zone_id,
        i.period_start,
        any_value(i.zone_name) as zone_name,
        max(i.n_respondents) filter (where i.time_band = 'day') as n_respondents_day,
        max(i.n_respondents) filter (where i.time_band = 'night') as n_respondents_night,
        bool_or(i.is_suppressed) as is_suppressed,
        max(i.incident_ratio) filter (where i.time_band = 'day') as incident_ratio_day,
        max(i.incident_ratio) filter (where i.time_band = 'night') as incident_ratio_night,
        max(i.perception_score) filter (where i.time_band = 'day' and c.fear_gap is not null)
            as perception_day,
        max(c.expected_perception) filter (where i.time_band = 'day') as expected_perception_day,
        max(c.expected_perception_ci_low) filter (where i.time_band = 'day')
            as expected_perception_day_ci_low,
        max(c.expected_perception_ci_high) filter (where i.time_band = 'day')
            as expected_perception_day_ci_high,
        max(c.fear_gap) filter (where i.time_band = 'day') as fear_gap_day,
        max(i.perception_score) filter (where i.time_band = 'night' and c.fear_gap is not null)
            as perception_night,
        max(c.expected_perception) filter (where i.time_band = 'night')
            as expected_perception_night,
        max(c.expected_perception_ci_low) filter (where i.time_band = 'night')
            as expected_perception_night_ci_low,
        max(c.expected_perception_ci_high) filter (where i.time_band = 'night')
            as expected_perception_night_ci_high,
        max(c.fear_gap) filter (where i.time_band = 'night') as fear_gap_night,
    from zone_index as i
    inner join composite as c using (zone_id, time_band, period_start)
    group by i.zone_id, i.period_start
),

gaps as (
    select
        b.*,
        case when not b.is_suppressed then f.fear_gap end as fear_gap,
        case when not b.is_suppressed then f.fear_gap_ci_low end as fear_gap_ci_low,
        case when not b.is_suppressed then f.fear_gap_ci_high end as fear_gap_ci_high,
        case when not b.is_suppressed then f.fear_gap_p_value end as fear_gap_p_value,
        coalesce(not b.is_suppressed and f.is_fear_gap, false) as is_fear_gap,
    from bands as b
    inner join fear as f using (zone_id, period_start)
),

ranked as (
    select
        *,
        case
            when fear_gap is not null
                then rank() over (
                    partition by period_start, fear_gap is null order by fear_gap, zone_id
                )
        end as fear_gap_rank,
        count(fear_gap) over (partition by period_start) as n_zones_ranked,
    from gaps
),

final as (
    select
        $city_id as city_id,
        zone_id,
        zone_name,
        period_start,
        n_respondents_day,
        n_respondents_night,
        is_suppressed,
        incident_ratio_day,
        incident_ratio_night,
        perception_day,
        round(expected_perception_day, 1) as expected_perception_day,
        round(expected_perception_day_ci_low, 1) as expected_perception_day_ci_low,
        round(expected_perception_day_ci_high, 1) as expected_perception_day_ci_high,
        case when not is_suppressed then round(fear_gap_day, 1) end as fear_gap_day,
        perception_night,
        round(expected_perception_night, 1) as expected_perception_night,
        round(expected_perception_night_ci_low, 1) as expected_perception_night_ci_low,
        round(expected_perception_night_ci_high, 1) as expected_perception_night_ci_high,
        case when not is_suppressed then round(fear_gap_night, 1) end as fear_gap_night,
        round(fear_gap, 1) as fear_gap,
        round(fear_gap_ci_low, 1) as fear_gap_ci_low,
        round(fear_gap_ci_high, 1) as fear_gap_ci_high,
        round(fear_gap_p_value, 4) as fear_gap_p_value,
        is_fear_gap,
        fear_gap_rank,
        n_zones_ranked,
        $is_synthetic as is_synthetic,
        $method_version as method_version,
    from ranked
)

select * from final
order by period_start, fear_gap_rank nulls last, zone_id
