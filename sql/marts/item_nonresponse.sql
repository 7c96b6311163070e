-- Dashboard table for survey staff: item non-response ("don't know / no answer", the
-- codes a source declares in `non_response`) per survey item x zone (and city-wide,
-- zone_id '_all') x month: how many respondents were asked, how many gave no answer and
-- the rate. Disclosure control as for zone cells: a zone with fewer than k respondents
-- asked is withheld, and where the withheld zones of an item-month are a single zone or
-- fewer than k people together, the smallest published zone is withheld with them (or,
-- with none left, the city-wide row), so that the city row minus the published zones
-- never tells a handful of people's answers.
with answered as (
    select zone_id, item_id, surveyed_at, respondent_id, false as is_non_response
    from validated.survey as v
    where not coalesce(is_aggregate, false)
        and not exists (  -- held batches are not published (ops.batch_holds)
            select 1 from ops.batch_holds as h
            where h.batch_id = v.batch_id and h.released_at is null
        )
),

not_answered as (
    select zone_id, item_id, surveyed_at, respondent_id, true as is_non_response
    from validated.survey_non_response as v
    where not exists (
        select 1 from ops.batch_holds as h
        where h.batch_id = v.batch_id and h.released_at is null
    )
),

asked as (
    select
        zone_id,
        item_id,
        cast(date_trunc('month', timezone($city_tz, surveyed_at)) as date) as period_start,
        coalesce(respondent_id, '') as respondent_id,
        bool_or(is_non_response) and not bool_or(not is_non_response) as gave_no_answer,
    from (select * from answered union all select * from not_answered)
    where zone_id in (select zone_id from ref.zones)
    group by all
),

by_zone as (
    select
        zone_id,
        item_id,
        period_start,
        count(*) as n_asked,
        count(*) filter (where gave_no_answer) as n_non_response,
    from asked
    group by all
),

primary_flags as (
    select *, n_asked < $min_respondents as is_small from by_zone
),

exposure as (
    select
        item_id,
        period_start,
        count(*) filter (where is_small) as n_small,
        coalesce(sum(n_asked) filter (where is_small), 0) as people_small,
    from primary_flags
    group by all
),

ranked as (
    select
        p.*,
        e.n_small = 1 or (e.n_small >= 1 and e.people_small < $min_respondents) as is_exposed,
        row_number() over (
            partition by p.item_id, p.period_start, p.is_small order by p.n_asked, p.zone_id
        ) as size_rank,
        count(*) filter (where not p.is_small) over (partition by p.item_id, p.period_start)
            as n_published_zones,
    from primary_flags as p
    inner join exposure as e using (item_id, period_start)
),

zones_out as (
    select
        zone_id,
        item_id,
        period_start,
        n_asked,
        n_non_response,
        case
            when is_small then 'primary: fewer than k respondents asked'
            when is_exposed and size_rank = 1
                then 'complementary: protects a withheld zone from the city row'
        end as suppression_reason,
    from ranked
),

city_out as (
    select
        '_all' as zone_id,
        item_id,
        period_start,
        sum(n_asked) as n_asked,
        sum(n_non_response) as n_non_response,
        case
            when sum(n_asked) < $min_respondents then 'primary: fewer than k respondents asked'
            when bool_or(is_exposed) and max(n_published_zones) = 0
                then 'complementary: protects a withheld zone'
        end as suppression_reason,
    from ranked
    group by all
),

final as (
    select
        $city_id as city_id,
        c.zone_id,
        case when c.zone_id = '_all' then 'city' else 'zone' end as level,
        c.item_id,
        c.period_start,
        case when c.suppression_reason is null then c.n_asked end as n_asked,
        case when c.suppression_reason is null then c.n_non_response end as n_non_response,
        case when c.suppression_reason is null
            then round(c.n_non_response / c.n_asked, 3)
        end as non_response_rate,
        c.suppression_reason is not null as is_suppressed,
        c.suppression_reason,
        $is_synthetic as is_synthetic,
    from (select * from zones_out union all select * from city_out) as c
)

select * from final
order by item_id, period_start, level desc, zone_id
