//! Quarters are counted by local date: 23:30 on 31 March in Hà Nội is Q1.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A calendar quarter of a year (1..=4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quarter {
    pub year: i32,
    pub quarter: u8,
}

impl Quarter {
    /// A quarter of a year, checked: a year between 2000 and 2100, a quarter 1 to 4.
    pub fn new(year: i32, quarter: u8) -> crate::error::CoreResult<Self> {
        if !(2000..=2100).contains(&year) {
            return Err(crate::error::CoreError::invalid("year", "a year between 2000 and 2100"));
        }
        if !(1..=4).contains(&quarter) {
            return Err(crate::error::CoreError::invalid("quarter", "a quarter is 1 to 4"));
        }
        Ok(Self { year, quarter })
    }

    /// The quarter that contains a local date.
    pub fn of_date(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            quarter: (date.month0() / 3 + 1) as u8,
        }
    }

    /// The first local day of the quarter.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, u32::from(self.quarter - 1) * 3 + 1, 1).expect("quarter months are valid")
    }

    /// The quarter after this one.
    pub fn next(self) -> Self {
        if self.quarter == 4 {
            Self {
                year: self.year + 1,
                quarter: 1,
            }
        } else {
            Self {
                year: self.year,
                quarter: self.quarter + 1,
            }
        }
    }

    /// The quarter before this one.
    pub fn previous(self) -> Self {
        if self.quarter == 1 {
            Self {
                year: self.year - 1,
                quarter: 4,
            }
        } else {
            Self {
                year: self.year,
                quarter: self.quarter - 1,
            }
        }
    }

    /// The instants `[start, end)` of this quarter in a time zone.
    pub fn bounds(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            local_midnight(self.first_day(), tz),
            local_midnight(self.next().first_day(), tz),
        )
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-Q{}", self.year, self.quarter)
    }
}

/// The quarter an instant falls in, counted by its local date in `tz`.
pub fn quarter_of(instant: DateTime<Utc>, tz: Tz) -> Quarter {
    Quarter::of_date(instant.with_timezone(&tz).date_naive())
}

/// The first instant of a local date (the earliest, should midnight be ambiguous).
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        // A zone that skips midnight (a DST jump): the day starts an hour later.
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&midnight)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Ho_Chi_Minh;
    use proptest::prelude::*;

    #[test]
    fn late_evening_of_31_march_local_is_still_q1() {
        let instant: DateTime<Utc> = "2026-03-31T16:30:00Z".parse().unwrap();
        assert_eq!(
            instant.with_timezone(&Ho_Chi_Minh).to_rfc3339(),
            "2026-03-31T23:30:00+07:00"
        );
        assert_eq!(quarter_of(instant, Ho_Chi_Minh), Quarter { year: 2026, quarter: 1 });
        let after_midnight: DateTime<Utc> = "2026-03-31T17:00:00Z".parse().unwrap();
        assert_eq!(
            quarter_of(after_midnight, Ho_Chi_Minh),
            Quarter { year: 2026, quarter: 2 }
        );
        // 00:30 on 1 January local is still 31 December in UTC: the zone decides the quarter.
        let new_year_local: DateTime<Utc> = "2025-12-31T17:30:00Z".parse().unwrap();
        assert_eq!(
            quarter_of(new_year_local, chrono_tz::UTC),
            Quarter { year: 2025, quarter: 4 }
        );
        assert_eq!(
            quarter_of(new_year_local, Ho_Chi_Minh),
            Quarter { year: 2026, quarter: 1 }
        );
    }

    #[test]
    fn quarter_bounds_are_local_midnights() {
        let (start, end) = Quarter { year: 2026, quarter: 4 }.bounds(Ho_Chi_Minh);
        assert_eq!(start.to_rfc3339(), "2026-09-30T17:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-31T17:00:00+00:00");
    }

    proptest! {
        #[test]
        fn every_instant_lies_within_its_quarter_bounds(secs in 0i64..4_102_444_800) {
            let instant = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let q = quarter_of(instant, Ho_Chi_Minh);
            let (start, end) = q.bounds(Ho_Chi_Minh);
            prop_assert!(start <= instant && instant < end, "{instant} not in {q} = [{start}, {end})");
            prop_assert_eq!(quarter_of(start, Ho_Chi_Minh), q);
            prop_assert_eq!(quarter_of(end - chrono::Duration::seconds(1), Ho_Chi_Minh), q);
            prop_assert_eq!(quarter_of(end, Ho_Chi_Minh), q.next());
        }

        #[test]
        fn quarter_follows_the_local_month(secs in 0i64..4_102_444_800) {
            let instant = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let local = instant.with_timezone(&Ho_Chi_Minh);
            let q = quarter_of(instant, Ho_Chi_Minh);
            prop_assert_eq!(q.year, local.year());
            prop_assert_eq!(u32::from(q.quarter), (local.month() - 1) / 3 + 1);
        }
    }
}
