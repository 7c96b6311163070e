-- Dashboard table: how much less safe a zone feels at night, per zone x month:
-- night minus day, for the index and for perception, with 90% intervals from the same
-- Monte Carlo draws (so the correlation of one respondent's day and night answers is kept).
-- Negative = the zone feels less safe at night. Withheld when either band is suppressed, or
-- when a band's perception stands on answers that name no time of day (a gap of zero by
-- construction: has_band_specific_answers is false).
with gaps as (
    select * from idx.idx_day_night_gap
),

zone_index as (
    select * from marts.zone_index
),

indicators as (
    select * from idx.idx_indicators
),

-- A gap needs answers specific to each band: where either band's perception stands on
-- answers to questions that name no time of day (band 'any'), day and night share them and
-- their gap would be zero by construction, so it is not published.
specific as (
    select
        zone_id,
        period_start,
        coalesce(max(any_band_share), 0.0) = 0.0 as has_band_specific_answers,
    from indicators
    where n_respondents > 0
    group by zone_id, period_start
),

bands as (
    select
        zone_id,
        period_start,
        any_value(zone_name) as zone_name,
        max(n_respondents) filter (where time_band = 'day') as n_respondents_day,
        max(n_respondents) filter (where time_band = 'night') as n_respondents_night,
        bool_or(is_suppressed) as is_suppressed,
        bool_or(is_modelled) as is_modelled,
        any_value(sp.has_band_specific_answers) as has_band_specific_answers,
        bool_or(is_suppressed) or not coalesce(any_value(sp.has_band_specific_answers), true)
            as is_gap_withheld,
        max(index_value) filter (where time_band = 'day') as day_index,
        max(index_value) filter (where time_band = 'night') as night_index,
        max(perception_score) filter (where time_band = 'day') as day_perception,
        max(perception_score) filter (where time_band = 'night') as night_perception,
    from zone_index
    left join specific as sp using (zone_id, period_start)
    group by zone_id, period_start
),

final as (
    select
        $city_id as city_id,
        b.zone_id,
        b.zone_name,
        b.period_start,
        b.n_respondents_day,
        b.n_respondents_night,
        b.is_suppressed,
        coalesce(b.has_band_specific_answers, true) as has_band_specific_answers,
        b.is_modelled,
        b.day_index,
        b.night_index,
        case when not b.is_gap_withheld then round(g.index_gap, 1) end as index_gap,
        case when not b.is_gap_withheld then round(g.index_gap_ci_low, 1) end as index_gap_ci_low,
        case when not b.is_gap_withheld then round(g.index_gap_ci_high, 1) end
            as index_gap_ci_high,
        coalesce(
            not b.is_gap_withheld and (g.index_gap_ci_low > 0 or g.index_gap_ci_high < 0), false
        )
            as is_index_gap_significant,
        b.day_perception,
        b.night_perception,
        case when not b.is_gap_withheld then round(g.perception_gap, 1) end as perception_gap,
        case when not b.is_gap_withheld then round(g.perception_gap_ci_low, 1) end
            as perception_gap_ci_low,
        case when not b.is_gap_withheld then round(g.perception_gap_ci_high, 1) end
            as perception_gap_ci_high,
        coalesce(
            not b.is_gap_withheld and (g.perception_gap_ci_low > 0 or g.perception_gap_ci_high < 0),
            false
        ) as is_perception_gap_significant,
        $is_synthetic as is_synthetic,
    from bands as b
    inner join gaps as g using (zone_id, period_start)
)

select * from final
order by zone_id, period_start
