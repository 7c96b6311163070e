-- Hours of each time band per period, from the day/night boundaries of every local date
-- (ref.day_bands): the time over which footfall accumulates into pedestrian exposure.
-- A local date is taken as 24 hours (DST days are off by one hour in a month of ~720).
with day_bands as (
    select * from ref.day_bands
),

per_date as (
    select
        cast(date_trunc('month', local_date) as date) as period_start,
        greatest(epoch(night_starts_at - day_starts_at), 0.0) / 3600.0 as day_hours,
    from day_bands
),

per_period as (
    select
        period_start,
        sum(day_hours) as day_hours,
        24.0 * count(*) - sum(day_hours) as night_hours,
    from per_date
    group by period_start
),

final as (
    select period_start, 'day' as time_band, day_hours as band_hours from per_period
    union all
    select period_start, 'night' as time_band, night_hours as band_hours from per_period
)

select * from final
