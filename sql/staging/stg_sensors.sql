-- One row per sensor reading, with the sensor's zone (fixed per sensor) and the band of the
-- moment it was measured.
with readings as (
    select v.* from validated.sensors as v
    where not exists (  -- a held batch is not published until released (ops.batch_holds)
        select 1 from ops.batch_holds as h
        where h.batch_id = v.batch_id and h.released_at is null
    )
),

day_bands as (
    select * from ref.day_bands
),

localised as (
    select
        *,
        timezone($city_tz, measured_at) as measured_local_at
    from readings
),

final as (
    select
        r.source_name,
        r.batch_id,
        r.sensor_id,
        r.zone_id,
        r.measured_at,
        r.measured_local_at,
        case
            when r.measured_at >= b.day_starts_at and r.measured_at < b.night_starts_at then 'day'
            else 'night'
        end as time_band,
        b.local_date is not null as has_band_rule,
        r.metric,
        r.value,
        cast(date_trunc('month', r.measured_local_at) as date) as period_start,
    from localised as r
    left join day_bands as b
        on b.local_date = cast(r.measured_local_at as date)
)

select * from final
