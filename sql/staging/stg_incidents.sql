-- One row per reported incident, with its zone, the local time and the day/night band of
-- the moment it happened (sun-based or fixed hours, from ref.day_bands), or 'unknown' for
-- records whose source gives no time of day (timestamp.date_only, placeholder_times):
-- they count in the source's totals and data quality, not in day or night cells.
with incidents as (
    select v.* from validated.incidents as v
    where not exists (  -- a held batch is not published until released (ops.batch_holds)
        select 1 from ops.batch_holds as h
        where h.batch_id = v.batch_id and h.released_at is null
    )
),

day_bands as (
    select * from ref.day_bands
),

sources as (
    select * from ref.sources
),

localised as (
    select
        *,
        timezone($city_tz, occurred_at) as occurred_local_at
    from incidents
),

final as (
    select
        i.source_name,
        i.batch_id,
        i.incident_id,
        i.occurred_at,
        i.occurred_local_at,
        i.zone_id,
        case
            -- a date without a time of day (or a placeholder time) is in neither band
            when not coalesce(i.is_time_known, true) then 'unknown'
            when i.occurred_at >= b.day_starts_at and i.occurred_at < b.night_starts_at then 'day'
            else 'night'
        end as time_band,
        b.local_date is not null as has_band_rule,
        i.category,
        i.severity,
        i.source,
        -- what the source counts: its rate is pooled only with its family's (a source no
        -- longer in the config is a family of its own)
        coalesce(s.incident_family, i.source_name) as incident_family,
        cast(date_trunc('month', i.occurred_local_at) as date) as period_start,
    from localised as i
    left join day_bands as b
        on b.local_date = cast(i.occurred_local_at as date)
    left join sources as s on s.source_name = i.source_name
)

select * from final
