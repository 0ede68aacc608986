//! The working-day calendar: the shipped years (`templates/calendar/`), replaced year by year
//! by what an admin sets, and promised time limits counted on it.

use chrono::{NaiveDate, Utc};

use super::issuance::CHINA;
use super::{ServiceError, Services};
use crate::domain::actor::Actor;
use crate::domain::calendar::{Calendar, YearCalendar, settable_years};
use crate::domain::{ParseError, Role};

/// Today in China, the day promises are counted in.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&CHINA).date_naive()
}

/// Every known year: an admin's calendar where one is set, the shipped one otherwise.
pub async fn calendar(services: &Services) -> Result<Calendar, ServiceError> {
    let mut years: Vec<YearCalendar> = services.shipped_calendars.to_vec();
    for set in services.store.calendars().await? {
        years.retain(|y| y.year != set.year);
        years.push(set);
    }
    Ok(Calendar::new(years))
}

/// One year's holidays and make-up working days (public).
pub async fn year(services: &Services, year: i32) -> Result<YearCalendar, ServiceError> {
    calendar(services)
        .await?
        .year(year)
        .cloned()
        .ok_or_else(|| {
            ServiceError::not_found(
                "unknown_year",
                format!("没有{year}年的日历：只按周末计算 / no calendar for {year}: weekends only"),
            )
        })
}

/// Sets a year's calendar (an admin), e.g. when the State Council's notice comes out: a year
/// from 2000 to next year (see [`settable_years`]).
pub async fn set_year(
    services: &Services,
    actor: &Actor,
    year: i32,
    calendar: YearCalendar,
) -> Result<YearCalendar, ServiceError> {
    actor.require(&[Role::Admin])?;
    let settable = settable_years(today());
    if !settable.contains(&year) {
        return Err(ServiceError::invalid(
            "year",
            ParseError::new(
                "implausible_year",
                format!(
                    "只能设置{}至{}年的日历：次年以后的放假通知尚未发布 / a calendar may be set for {} to {}: no notice is out for later years",
                    settable.start(),
                    settable.end(),
                    settable.start(),
                    settable.end()
                ),
            ),
        ));
    }
    if calendar.year != year {
        return Err(ServiceError::invalid(
            "year",
            ParseError::new(
                "year_mismatch",
                format!("日历年份应为 {year} / the calendar is for {year}"),
            ),
        ));
    }
    let calendar = calendar
        .check()
        .map_err(|(field, e)| ServiceError::invalid(field, e))?;
    services.store.put_calendar(&calendar).await?;
    tracing::info!(year, by = %actor.label(), "calendar set");
    Ok(calendar)
}
