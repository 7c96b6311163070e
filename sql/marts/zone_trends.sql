-- Dashboard table: how each zone's index moves, per zone x time band x month.
-- change_vs_previous compares with the calendar month before (null if either is withheld),
-- with a 90% sampling interval from the same Monte Carlo draws and a two-sided p-value;
-- is_change_significant is the Benjamini-Hochberg decision at q = fdr_q over every zone
-- and band of the month. The trend columns test the published months of the last
-- `trend_window` up to this one (at least `trend_min_periods`): seasonal Kendall where they
-- span two years, else Mann-Kendall (trend_test), with Sen's slope in points per month,
-- and the same false-discovery-rate control per month (docs/methodology.md).
with composite as (
    select * from idx.idx_composite
),

trends as (
    select * from idx.idx_trends
),

suppression as (
    select * from idx.idx_suppression
),

method as (
    select * from idx.idx_method
),

zones as (
    select * from ref.zones
),

cells as (
    select
        c.zone_id,
        c.time_band,
        c.period_start,
        s.is_suppressed,
        case when not s.is_suppressed then c.index_value end as index_value,
        coalesce(prev.is_suppressed, true) as is_previous_suppressed,
        c.change_vs_previous,
        c.change_ci_low,
        c.change_ci_high,
        c.change_p_value,
        c.is_change_significant,
    from composite as c
    inner join suppression as s using (zone_id, time_band, period_start)
    left join suppression as prev
        on prev.zone_id = c.zone_id
        and prev.time_band = c.time_band
        and prev.period_start = c.period_start - interval 1 month
),

final as (
    select
        $city_id as city_id,
        c.zone_id,
        z.zone_name,
        c.time_band,
        c.period_start,
        c.is_suppressed,
        round(c.index_value, 1) as index_value,
        case
            when not c.is_suppressed and not c.is_previous_suppressed
                then round(c.change_vs_previous, 1)
        end as change_vs_previous,
        case
            when not c.is_suppressed and not c.is_previous_suppressed
                then round(c.change_ci_low, 1)
        end as change_ci_low,
        case
            when not c.is_suppressed and not c.is_previous_suppressed
                then round(c.change_ci_high, 1)
        end as change_ci_high,
        case
            when not c.is_suppressed and not c.is_previous_suppressed
                then round(c.change_p_value, 4)
        end as change_p_value,
        coalesce(
            not c.is_suppressed and not c.is_previous_suppressed and c.is_change_significant,
            false
        ) as is_change_significant,
        'paired Monte Carlo z-test, Benjamini-Hochberg per month' as change_test,
        t.n_periods_in_trend,
        t.trend_test,
        cast(t.trend_s as integer) as trend_s,
        round(t.trend_z, 3) as trend_z,
        round(t.trend_p_value, 4) as trend_p_value,
        round(t.sen_slope_per_month, 2) as sen_slope_per_month,
        coalesce(t.is_trend_significant and not c.is_suppressed, false) as is_trend_significant,
        case
            when c.is_suppressed or coalesce(t.n_periods_in_trend, 0) < $trend_min_periods
                then 'too few periods'
            when t.is_trend_significant and t.trend_s > 0 then 'rising'
            when t.is_trend_significant and t.trend_s < 0 then 'falling'
            else 'no significant trend'
        end as trend_direction,
        m.fdr_q,
        $is_synthetic as is_synthetic,
    from cells as c
    inner join zones as z on z.zone_id = c.zone_id
    cross join method as m
    left join trends as t
        on t.zone_id = c.zone_id
        and t.time_band = c.time_band
        and t.period_start = c.period_start
)

select * from final
order by zone_id, time_band, period_start
