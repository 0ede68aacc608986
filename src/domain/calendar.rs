//! The working-day calendar: weekends, statutory holidays and the make-up working days
//! (调休) of each year, and promised time limits (承诺时限) counted in working days.

use std::collections::BTreeMap;
use utoipa::ToSchema;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::ParseError;
use super::text::printed_text;

/// One holiday block of a year: its days off (weekend days inside the block included) and
/// the weekend days worked to make up for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(default)]
    pub make_up_workdays: Vec<NaiveDate>,
}

/// The most days a year's holiday blocks may hold together, weekends inside them included.
/// Since 2025 the law gives 13 days of public holiday; with the weekends they are bridged to,
/// the State Council's notices come to 30–34 days (2026: 33). 45 leaves room for a longer
/// Spring Festival and still refuses a year declared a holiday wholesale.
pub const MAX_HOLIDAY_DAYS_PER_YEAR: u32 = 45;

/// The most make-up working days (调休上班日) a year may hold; the notices have 4–8 (2026: 6).
pub const MAX_MAKE_UP_DAYS_PER_YEAR: usize = 10;

/// The first year a calendar may be set for: no submission of this service predates it.
pub const FIRST_CALENDAR_YEAR: i32 = 2000;

/// The years an admin may set a calendar for on `today`: from [`FIRST_CALENDAR_YEAR`] to next
/// year. The State Council publishes a year's notice in the autumn before it, so no notice
/// exists for the year after next; a calendar set that far ahead could only be invented.
pub fn settable_years(today: NaiveDate) -> std::ops::RangeInclusive<i32> {
    FIRST_CALENDAR_YEAR..=today.year() + 1
}

/// A year's calendar as shipped in `templates/calendar/<year>.toml` or set by an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YearCalendar {
    pub year: i32,
    /// Where the dates come from (the State Council's notice).
    pub source: String,
    /// False while the year's notice is not out: only the days fixed by law are known.
    pub confirmed: bool,
    pub holidays: Vec<Holiday>,
}

impl YearCalendar {
    /// Checks that every date lies in the year, blocks run forwards and do not overlap, a
    /// make-up working day is a weekend day outside every block, and the year holds at most
    /// [`MAX_HOLIDAY_DAYS_PER_YEAR`] days off and [`MAX_MAKE_UP_DAYS_PER_YEAR`] make-up days;
    /// the error names the field.
    pub fn check(mut self) -> Result<Self, (String, ParseError)> {
        let invalid = |field: String, message: String| {
            Err((field, ParseError::new("invalid_calendar", message)))
        };
        self.source =
            printed_text(&self.source, 200, "a source").map_err(|e| ("source".to_owned(), e))?;
        if self.holidays.len() > 40 {
            return invalid(
                "holidays".into(),
                "至多40个假期 / at most 40 holidays".into(),
            );
        }
        for (i, h) in self.holidays.iter_mut().enumerate() {
            h.name = printed_text(&h.name, 20, "a holiday name")
                .map_err(|e| (format!("holidays[{i}].name"), e))?;
            if h.from.year() != self.year || h.to.year() != self.year || h.to < h.from {
                return invalid(
                    format!("holidays[{i}]"),
                    format!(
                        "假期应在{}年内且起止有序 / a holiday lies in {} and ends after it starts",
                        self.year, self.year
                    ),
                );
            }
        }
        for (i, h) in self.holidays.iter().enumerate() {
            if let Some(j) = self.holidays[..i]
                .iter()
                .position(|other| other.from <= h.to && h.from <= other.to)
            {
                return invalid(
                    format!("holidays[{i}]"),
                    format!("假期与第{}个假期重叠 / overlaps holidays[{j}]", j + 1),
                );
            }
        }
        let days: i64 = self
            .holidays
            .iter()
            .map(|h| (h.to - h.from).num_days() + 1)
            .sum();
        if days > i64::from(MAX_HOLIDAY_DAYS_PER_YEAR) {
            return invalid(
                "holidays".into(),
                format!(
                    "假期合计{days}天，每年至多{MAX_HOLIDAY_DAYS_PER_YEAR}天 / the holidays add up to {days} days; a year has at most {MAX_HOLIDAY_DAYS_PER_YEAR}"
                ),
            );
        }
        let make_up: usize = self.holidays.iter().map(|h| h.make_up_workdays.len()).sum();
        if make_up > MAX_MAKE_UP_DAYS_PER_YEAR {
            return invalid(
                "holidays".into(),
                format!(
                    "调休上班日合计{make_up}天，每年至多{MAX_MAKE_UP_DAYS_PER_YEAR}天 / {make_up} make-up working days; a year has at most {MAX_MAKE_UP_DAYS_PER_YEAR}"
                ),
            );
        }
        for (i, h) in self.holidays.iter().enumerate() {
            for (j, day) in h.make_up_workdays.iter().enumerate() {
                let off = self
                    .holidays
                    .iter()
                    .any(|other| (other.from..=other.to).contains(day));
                if day.year() != self.year || !is_weekend(*day) || off {
                    return invalid(
                        format!("holidays[{i}].make_up_workdays[{j}]"),
                        format!(
                            "{day} 不是本年假期外的周末 / {day} is not a weekend day of {} outside the holidays",
                            self.year
                        ),
                    );
                }
            }
        }
        Ok(self)
    }
}

/// China Standard Time (UTC+8, no daylight saving): the days promises are counted in.
pub const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// The day `t` falls on in China.
pub fn china_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&CHINA).date_naive()
}

/// A moment as people read it everywhere (pages, receipts, certificates, the CLI): Beijing
/// time to the second, with its zone, e.g. `2026-12-02 18:30:05 北京时间 (UTC+8)`. JSON keeps
/// RFC 3339 UTC.
pub fn beijing_time(t: DateTime<Utc>) -> String {
    format!(
        "{} 北京时间 (UTC+8)",
        t.with_timezone(&CHINA).format("%Y-%m-%d %H:%M:%S")
    )
}

/// A time typed in Beijing time as a form's `datetime-local` sends it (`2026-12-04T09:30`,
/// seconds optional).
pub fn beijing_local_time(value: &str) -> Result<DateTime<Utc>, ParseError> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(value.trim(), format).ok())
        .and_then(|local| local.and_local_timezone(CHINA).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            ParseError::new(
                "invalid_time",
                "时间应为北京时间 年-月-日 时:分 / expected a Beijing time, year-month-day hour:minute",
            )
        })
}

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The calendars of the years known; a year without one counts weekends only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeMap<i32, YearCalendar>,
}

impl Calendar {
    pub fn new(years: impl IntoIterator<Item = YearCalendar>) -> Self {
        Self {
            years: years.into_iter().map(|y| (y.year, y)).collect(),
        }
    }

    pub fn year(&self, year: i32) -> Option<&YearCalendar> {
        self.years.get(&year)
    }

    /// Whether the day is worked: a make-up day is, a holiday is not, otherwise Monday to
    /// Friday.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if let Some(year) = self.years.get(&day.year()) {
            if year
                .holidays
                .iter()
                .any(|h| h.make_up_workdays.contains(&day))
            {
                return true;
            }
            if year.holidays.iter().any(|h| (h.from..=h.to).contains(&day)) {
                return false;
            }
        }
        !is_weekend(day)
    }

    /// The `n`-th working day after `start` (the day of acceptance does not count).
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut day = start;
        let mut counted = 0;
        while counted < n {
            match day.checked_add_days(Days::new(1)) {
                Some(next) => day = next,
                None => return NaiveDate::MAX,
            }
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        day
    }

    /// Working days after `from` up to and including `to` (0 when `to` is not later).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days()
            .skip(1)
            .take_while(|d| *d <= to)
            .filter(|d| self.is_working_day(*d))
            .count() as u32
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn beijing_time_is_utc_plus_eight_with_its_zone() {
        let t = DateTime::parse_from_rfc3339("2026-12-31T16:30:05.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(beijing_time(t), "2027-01-01 00:30:05 北京时间 (UTC+8)");
        let typed = beijing_local_time("2027-01-01T00:30").unwrap();
        assert_eq!(typed.to_rfc3339(), "2026-12-31T16:30:00+00:00");
        assert!(beijing_local_time("2027-01-01").is_err());
    }

    /// 2026 with its Spring Festival only: nine days off, two Saturdays worked.
    pub(crate) fn spring_festival_2026() -> Calendar {
        Calendar::new([YearCalendar {
            year: 2026,
            source: "国办发明电〔2025〕7号".into(),
            confirmed: true,
            holidays: vec![Holiday {
                name: "春节".into(),
                from: d("2026-02-15"),
                to: d("2026-02-23"),
                make_up_workdays: vec![d("2026-02-14"), d("2026-02-28")],
            }],
        }
        .check()
        .unwrap()])
    }

    #[test]
    fn weekends_holidays_and_make_up_days_count_as_they_should() {
        let c = spring_festival_2026();
        // Friday 2026-02-13 + 1: Saturday the 14th is a make-up working day.
        assert_eq!(c.add_working_days(d("2026-02-13"), 1), d("2026-02-14"));
        // Then the whole festival is off: the 2nd working day is Tuesday the 24th.
        assert_eq!(c.add_working_days(d("2026-02-13"), 2), d("2026-02-24"));
        // An ordinary weekend: Friday + 1 working day is Monday.
        assert_eq!(c.add_working_days(d("2026-03-06"), 1), d("2026-03-09"));
        assert_eq!(c.working_days_between(d("2026-02-13"), d("2026-02-24")), 2);
        assert_eq!(c.working_days_between(d("2026-02-24"), d("2026-02-13")), 0);
    }

    #[test]
    fn a_calendar_with_a_date_outside_its_year_or_a_weekday_make_up_day_is_refused() {
        let mut year = spring_festival_2026().year(2026).unwrap().clone();
        year.holidays[0].make_up_workdays.push(d("2026-03-02"));
        assert_eq!(
            year.check().unwrap_err().0,
            "holidays[0].make_up_workdays[2]"
        );
        let mut year = spring_festival_2026().year(2026).unwrap().clone();
        year.holidays[0].to = d("2027-01-02");
        assert_eq!(year.check().unwrap_err().0, "holidays[0]");
    }

    /// A block of `days` days from `from`, with `make_up` make-up days (Saturdays of 2026
    /// from `saturday`, a week apart).
    fn block(from: &str, days: u64, saturday: &str, make_up: u64) -> Holiday {
        let from = d(from);
        Holiday {
            name: "假期".into(),
            from,
            to: from + Days::new(days - 1),
            make_up_workdays: (0..make_up)
                .map(|w| d(saturday) + Days::new(7 * w))
                .collect(),
        }
    }

    fn year_of(holidays: Vec<Holiday>) -> YearCalendar {
        YearCalendar {
            year: 2026,
            source: "通知".into(),
            confirmed: true,
            holidays,
        }
    }

    #[test]
    fn a_year_holds_at_most_45_days_off_and_10_make_up_days() {
        // 45 days in two blocks, 10 make-up Saturdays (from 2026-07-04 on, after both).
        let most = || {
            year_of(vec![
                block("2026-01-01", 30, "2026-07-04", 5),
                block("2026-05-01", 15, "2026-08-08", 5),
            ])
        };
        assert!(most().check().is_ok());
        let mut longer = most();
        longer.holidays[1].to = d("2026-05-16");
        let (field, error) = longer.check().unwrap_err();
        assert_eq!(field, "holidays");
        assert!(error.message.contains("46"), "{}", error.message);
        let mut more = most();
        more.holidays[1].make_up_workdays.push(d("2026-12-26"));
        let (field, error) = more.check().unwrap_err();
        assert_eq!(field, "holidays");
        assert!(error.message.contains("11"), "{}", error.message);
        // A whole year off, as was once accepted.
        let whole = year_of(vec![block("2026-01-01", 365, "2026-07-04", 0)]);
        assert_eq!(whole.check().unwrap_err().0, "holidays");
        // Days are not counted twice: overlapping blocks are refused.
        let overlapping = year_of(vec![
            block("2026-10-01", 7, "2026-10-10", 0),
            block("2026-09-25", 7, "2026-10-10", 0),
        ]);
        assert_eq!(overlapping.check().unwrap_err().0, "holidays[1]");
    }

    #[test]
    fn a_calendar_may_be_set_from_2000_to_next_year() {
        assert_eq!(settable_years(d("2026-12-02")), 2000..=2027);
        assert!(!settable_years(d("2026-01-01")).contains(&2028));
        assert!(!settable_years(d("2026-01-01")).contains(&1999));
    }
}
