-- Environment component inputs per zone x band x period: mean illuminance, footfall per
-- sensor-hour (independent of the counters' cadence) and the energy-average noise level
-- (Leq: 10 log10 of the mean of 10^(L/10)), the acoustically correct mean of decibels.
-- An incremental build reads the readings from the first month it may republish on
-- ($recompute_since, UTC) and keeps the earlier months' rows (increment.BY_MONTH); a full
-- build reads every reading.
with readings as (
    select * from staging.stg_sensors
    where measured_at >= $recompute_since
),

footfall_per_sensor as (
    select
        zone_id,
        time_band,
        period_start,
        sensor_id,
        sum(value) / count(distinct date_trunc('hour', measured_at)) as per_hour,
    from readings
    where metric = 'footfall'
    group by all
),

footfall as (
    select
        zone_id,
        time_band,
        period_start,
        avg(per_hour) as footfall_per_hour,
    from footfall_per_sensor
    group by all
),

light_and_noise as (
    select
        zone_id,
        time_band,
        period_start,
        avg(value) filter (where metric = 'lux') as lux_mean,
        10.0 * log10(avg(pow(10.0, value / 10.0)) filter (where metric = 'noise_db'))
            as noise_leq_db,
        count(*) as n_readings,
    from readings
    group by all
),

final as (
    select
        ln.zone_id,
        ln.time_band,
        ln.period_start,
        ln.lux_mean,
        f.footfall_per_hour,
        ln.noise_leq_db,
        ln.n_readings,
    from light_and_noise as ln
    left join footfall as f
        on f.zone_id = ln.zone_id
        and f.time_band = ln.time_band
        and f.period_start = ln.period_start
)

select * from final
