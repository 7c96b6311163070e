-- Dashboard table: how each zone's index moves, per zone x time band x month.
-- change_vs_previous compares with the calendar month before (null if either is withheld),
-- with a 90% interval from the same Monte Carlo draws. The trend columns test the last
-- $trend_window months up to this one with Mann-Kendall (S, its normal-approximation z, no
-- tie correction) and give Sen's slope (median of pairwise slopes, points per month);
-- a trend is tested only when at least $trend_min_periods published months are in the window.
with composite as (
    select * from idx.idx_composite
),

suppression as (
    select * from idx.idx_suppression
),

zones as (
    select * from ref.zones
),

cells as (
    select
        c.zone_id,
        c.time_band,
        c.period_start,
        year(c.period_start) * 12 + month(c.period_start) as month_no,
        s.is_suppressed,
        case when not s.is_suppressed then c.index_value end as index_value,
        prev.is_suppressed as is_previous_suppressed,
        c.change_vs_previous,
        c.change_ci_low,
        c.change_ci_high,
    from composite as c
    inner join suppression as s using (zone_id, time_band, period_start)
    left join suppression as prev
        on prev.zone_id = c.zone_id
        and prev.time_band = c.time_band
        and prev.period_start = c.period_start - interval 1 month
),

series as (
    select zone_id, time_band, month_no, index_value from cells where index_value is not null
),

window_points as (
    select
        a.zone_id,
        a.time_band,
        a.period_start,
        s.month_no,
        s.index_value,
    from cells as a
    inner join series as s
        on s.zone_id = a.zone_id
        and s.time_band = a.time_band
        and s.month_no between a.month_no - $trend_window + 1 and a.month_no
),

pairs as (
    select
        p1.zone_id,
        p1.time_band,
        p1.period_start,
        sign(p2.index_value - p1.index_value) as pair_sign,
        (p2.index_value - p1.index_value) / (p2.month_no - p1.month_no) as pair_slope,
    from window_points as p1
    inner join window_points as p2
        on p2.zone_id = p1.zone_id
        and p2.time_band = p1.time_band
        and p2.period_start = p1.period_start
        and p2.month_no > p1.month_no
),

mann_kendall as (
    select
        zone_id,
        time_band,
        period_start,
        sum(pair_sign) as mann_kendall_s,
        median(pair_slope) as sen_slope_per_month,
    from pairs
    group by all
),

window_sizes as (
    select
        zone_id,
        time_band,
        period_start,
        count(*) as n_periods_in_trend,
    from window_points
    group by all
),

tested as (
    select
        c.*,
        coalesce(w.n_periods_in_trend, 0) as n_periods_in_trend,
        mk.mann_kendall_s,
        mk.sen_slope_per_month,
        case
            when w.n_periods_in_trend >= $trend_min_periods
                then (mk.mann_kendall_s - sign(mk.mann_kendall_s)) / sqrt(
                    w.n_periods_in_trend * (w.n_periods_in_trend - 1.0)
                    * (2.0 * w.n_periods_in_trend + 5.0) / 18.0
                )
        end as mann_kendall_z,
    from cells as c
    left join window_sizes as w using (zone_id, time_band, period_start)
    left join mann_kendall as mk using (zone_id, time_band, period_start)
),

final as (
    select
        $city_id as city_id,
        t.zone_id,
        z.zone_name,
        t.time_band,
        t.period_start,
        t.is_suppressed,
        round(t.index_value, 1) as index_value,
        case
            when not t.is_suppressed and not t.is_previous_suppressed
                then round(t.change_vs_previous, 1)
        end as change_vs_previous,
        case
            when not t.is_suppressed and not t.is_previous_suppressed
                then round(t.change_ci_low, 1)
        end as change_ci_low,
        case
            when not t.is_suppressed and not t.is_previous_suppressed
                then round(t.change_ci_high, 1)
        end as change_ci_high,
        coalesce(
            not t.is_suppressed and not t.is_previous_suppressed
            and (t.change_ci_low > 0 or t.change_ci_high < 0),
            false
        ) as is_change_significant,
        t.n_periods_in_trend,
        cast(t.mann_kendall_s as integer) as mann_kendall_s,
        round(t.mann_kendall_z, 3) as mann_kendall_z,
        round(t.sen_slope_per_month, 2) as sen_slope_per_month,
        coalesce(abs(t.mann_kendall_z) > $z_crit, false) as is_trend_significant,
        case
            when t.n_periods_in_trend < $trend_min_periods then 'too few periods'
            when abs(t.mann_kendall_z) > $z_crit and t.mann_kendall_s > 0 then 'rising'
            when abs(t.mann_kendall_z) > $z_crit and t.mann_kendall_s < 0 then 'falling'
            else 'no significant trend'
        end as trend_direction,
        $is_synthetic as is_synthetic,
        $method_version as method_version,
    from tested as t
    inner join zones as z on z.zone_id = t.zone_id
)

select * from final
order by zone_id, time_band, period_start
