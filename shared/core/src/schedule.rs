//! Recurring session schedules: a cron expression in a time zone, expanded over a period.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::quarter::local_midnight;

/// The programme's home time zone, the default for every schedule.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Ho_Chi_Minh;

/// A campaign's period: local dates, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// A period, refused when it ends before it starts.
    pub fn new(start: NaiveDate, end: NaiveDate) -> CoreResult<Self> {
        if end < start {
            return Err(CoreError::invalid(
                "period.end",
                format!("the period ends ({end}) before it starts ({start})"),
            ));
        }
        Ok(Self { start, end })
    }

    /// The instants `[start, end)` the period covers in a time zone.
    pub fn bounds(&self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let after_end = self.end.succ_opt().unwrap_or(self.end);
        (local_midnight(self.start, tz), local_midnight(after_end, tz))
    }
}

/// A validated recurring schedule: the cron expression as given, the `cron` crate's
/// 6/7-field form it normalises to, and the time zone it is read in.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expression: String,
    normalized: String,
    tz: Tz,
    schedule: cron::Schedule,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized && self.tz == other.tz
    }
}

impl CronSchedule {
    /// Parse a cron expression in a time zone. Accepts the common 5-field form
    /// (`min hour dom month dow`, Sunday = 0 or 7), the `cron` crate's 6/7-field form with
    /// seconds (and optional year; Sunday = 1, Saturday = 7), and `@daily`-style shorthands.
    pub fn parse(expression: &str, tz: Tz) -> CoreResult<Self> {
        let trimmed = expression.trim();
        if trimmed.is_empty() {
            return Err(CoreError::invalid("schedule.cron", "the cron expression is empty"));
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let normalized = match fields.len() {
            1 if trimmed.starts_with('@') => trimmed.to_string(),
            5 => {
                let dow = five_field_days_of_week(fields[4])?;
                format!("0 {} {} {} {} {}", fields[0], fields[1], fields[2], fields[3], dow)
            }
            6 | 7 => fields.join(" "),
            n => {
                return Err(CoreError::invalid(
                    "schedule.cron",
                    format!(
                        "a cron expression has 5 fields (min hour day month weekday) or 6/7 with seconds first; got {n}"
                    ),
                ));
            }
        };
        let schedule = cron::Schedule::from_str(&normalized)
            .map_err(|e| CoreError::invalid("schedule.cron", format!("invalid cron expression {trimmed:?}: {e}")))?;
        Ok(Self {
            expression: trimmed.to_string(),
            normalized,
            tz,
            schedule,
        })
    }

    /// The expression as the planner gave it.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is read in.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Occurrence instants in `[from, until)`, strictly increasing.
    pub fn occurrences_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        // `after` is exclusive, so start one second earlier to include `from` itself (at
        // chrono's first instant there is no earlier one, nor an occurrence: cron starts in 1970).
        let start = from
            .checked_sub_signed(chrono::Duration::seconds(1))
            .unwrap_or(from)
            .with_timezone(&self.tz);
        let mut previous_wall_time = None;
        self.schedule
            .after(&start)
            // When clocks fall back, a wall time happens twice: one session, not two.
            .filter(move |t| {
                let wall = t.naive_local();
                let repeat = previous_wall_time == Some(wall);
                previous_wall_time = Some(wall);
                !repeat
            })
            .map(|t| t.with_timezone(&Utc))
            .take_while(move |t| *t < until)
    }

    /// The occurrences of this schedule within a campaign period. A wall time that does
    /// not exist that day (clocks spring forward) has no occurrence; one that happens twice
    /// (clocks fall back) has one. Asia/Ho_Chi_Minh has neither.
    pub fn occurrences_in(&self, period: &Period) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let (from, until) = period.bounds(self.tz);
        self.occurrences_between(from, until)
    }

    /// The next `count` occurrences strictly after `after`, as `occurrences_between` counts
    /// them (a wall time repeated when clocks fall back is one session, at its first pass).
    pub fn next_sessions(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        // Past chrono's last instant there is nothing (the cron crate would panic adding a second).
        let Some(from) = after.checked_add_signed(chrono::Duration::seconds(1)) else {
            return Vec::new();
        };
        self.occurrences_between(from, DateTime::<Utc>::MAX_UTC)
            // Inside a repeated hour, the first pass of the next wall time can lie before `after`.
            .filter(|t| *t > after)
            .take(count)
            .collect()
    }
}

/// Rewrite a 5-field day-of-week field (0/7 = Sunday) as day names, which mean the same in
/// the `cron` crate (where 1 = Sunday). Ranges and steps are expanded; names pass through.
fn five_field_days_of_week(field: &str) -> CoreResult<String> {
    const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let bad = |why: String| CoreError::invalid("schedule.cron", format!("day-of-week field {field:?}: {why}"));
    let number = |s: &str| -> CoreResult<Option<u32>> {
        if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
            let n: u32 = s.parse().map_err(|_| bad(format!("{s} is not a day")))?;
            if n > 7 {
                return Err(bad(format!("{n} is not a day (0-7, 0 and 7 are Sunday)")));
            }
            Ok(Some(n % 7))
        } else {
            Ok(None)
        }
    };
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| bad(format!("step {s:?} is not a number")))?;
                if step == 0 {
                    return Err(bad("a step of 0".into()));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (Some(0), Some(6))
        } else if let Some((a, b)) = range.split_once('-') {
            match (number(a)?, number(b)?) {
                (Some(a), Some(b)) => {
                    // 5-7 means Friday to Sunday: 7 is the week's end here, not its start.
                    let b = if b == 0 && range.ends_with('7') { 7 } else { b };
                    if b < a {
                        return Err(bad(format!("range {range} runs backwards")));
                    }
                    (Some(a), Some(b))
                }
                (None, None) => (None, None),
                _ => return Err(bad(format!("range {range} mixes numbers and names"))),
            }
        } else {
            let n = number(range)?;
            (n, n)
        };
        match (lo, hi) {
            (Some(lo), Some(hi)) => {
                let last = if step > 1 && !range.contains('-') && range != "*" {
                    6
                } else {
                    hi
                };
                let mut d = lo;
                while d <= last {
                    out.push(NAMES[(d % 7) as usize].to_string());
                    d += step;
                }
            }
            _ => out.push(part.to_string()),
        }
    }
    out.dedup();
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};
    use proptest::prelude::*;

    fn period(a: &str, b: &str) -> Period {
        Period::new(a.parse().unwrap(), b.parse().unwrap()).unwrap()
    }

    #[test]
    fn saturday_eight_am_over_q4_2026_gives_13_sessions_at_one_utc() {
        let q4 = period("2026-10-01", "2026-12-31");
        for expr in [
            "0 8 * * 6",
            "0 8 * * SAT",
            "0 0 8 * * Sat",
            "0 0 8 * * 7",
            "0 0 8 * * Sat 2026",
        ] {
            let schedule = CronSchedule::parse(expr, DEFAULT_TIME_ZONE).unwrap();
            let sessions: Vec<_> = schedule.occurrences_in(&q4).collect();
            assert_eq!(sessions.len(), 13, "{expr}");
            for s in &sessions {
                assert_eq!((s.hour(), s.minute()), (1, 0), "{expr}: {s}");
                assert_eq!(s.with_timezone(&DEFAULT_TIME_ZONE).weekday(), Weekday::Sat, "{expr}");
            }
            assert_eq!(sessions[0].to_rfc3339(), "2026-10-03T01:00:00+00:00");
            assert_eq!(sessions[12].to_rfc3339(), "2026-12-26T01:00:00+00:00");
        }
    }

    #[test]
    fn five_field_days_of_week_follow_the_common_convention() {
        let cases = [
            ("0", "Sun"),
            ("7", "Sun"),
            ("1-5", "Mon,Tue,Wed,Thu,Fri"),
            ("5-7", "Fri,Sat,Sun"),
            ("*/2", "Sun,Tue,Thu,Sat"),
            ("1,3", "Mon,Wed"),
            ("MON-FRI", "MON-FRI"),
            ("2/3", "Tue,Fri"),
        ];
        for (field, want) in cases {
            assert_eq!(five_field_days_of_week(field).unwrap(), want, "{field}");
        }
        assert!(five_field_days_of_week("8").is_err());
        assert!(five_field_days_of_week("5-2").is_err());
    }

    #[test]
    fn bad_expressions_are_refused_with_the_field_named() {
        for expr in [
            "",
            "every saturday",
            "0 25 * * *",
            "0 8 * *",
            "61 0 8 * * *",
            "0 8 * * 9",
        ] {
            match CronSchedule::parse(expr, DEFAULT_TIME_ZONE) {
                Err(CoreError::Validation { field, .. }) => assert_eq!(field, "schedule.cron"),
                other => panic!("{expr:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn a_period_that_ends_before_it_starts_is_refused() {
        let err = Period::new("2026-12-31".parse().unwrap(), "2026-10-01".parse().unwrap()).unwrap_err();
        assert!(
            matches!(err, CoreError::Validation { ref field, .. } if field == "period.end"),
            "{err}"
        );
    }

    #[test]
    fn a_wall_time_repeated_when_clocks_fall_back_is_one_session() {
        // Berlin, Sunday 27 October 2024: 02:00–02:59 happens twice.
        let s = CronSchedule::parse("0 2 * * 0", chrono_tz::Europe::Berlin).unwrap();
        let p = period("2024-10-20", "2024-11-03");
        let local: Vec<String> = s
            .occurrences_in(&p)
            .map(|t| t.with_timezone(&chrono_tz::Europe::Berlin).to_rfc3339())
            .collect();
        assert_eq!(
            local,
            [
                "2024-10-20T02:00:00+02:00",
                "2024-10-27T02:00:00+02:00",
                "2024-11-03T02:00:00+01:00"
            ]
        );
    }

    #[test]
    fn next_sessions_previews_in_order() {
        let s = CronSchedule::parse("30 7 * * 1,3", DEFAULT_TIME_ZONE).unwrap();
        let after: DateTime<Utc> = "2026-11-29T00:00:00Z".parse().unwrap();
        let next = s.next_sessions(after, 3);
        let local: Vec<String> = next
            .iter()
            .map(|t| t.with_timezone(&DEFAULT_TIME_ZONE).to_rfc3339())
            .collect();
        assert_eq!(
            local,
            [
                "2026-11-30T07:30:00+07:00",
                "2026-12-02T07:30:00+07:00",
                "2026-12-07T07:30:00+07:00"
            ]
        );
    }

    #[test]
    fn the_first_and_last_days_chrono_knows_have_no_sessions_and_do_not_panic() {
        // Both ends are valid JSON dates ("-262143-01-01", "+262142-12-31T23:59:59Z").
        let s = CronSchedule::parse("0 8 * * 6", DEFAULT_TIME_ZONE).unwrap();
        for (start, end) in [(NaiveDate::MIN, NaiveDate::MIN), (NaiveDate::MAX, NaiveDate::MAX)] {
            let p = Period::new(start, end).unwrap();
            assert_eq!(s.occurrences_in(&p).count(), 0, "{start}");
        }
        assert!(s.next_sessions(DateTime::<Utc>::MAX_UTC, 3).is_empty());
        let last_whole_second = DateTime::<Utc>::MAX_UTC.with_nanosecond(0).unwrap();
        assert!(s.next_sessions(last_whole_second, 3).is_empty());
    }

    #[test]
    fn the_preview_around_a_repeated_hour_lists_each_wall_time_once_and_only_later_ones() {
        // Berlin, Sunday 27 October 2024: 02:00–02:59 happens twice (00:00–00:59 and 01:00–01:59 UTC).
        let s = CronSchedule::parse("*/30 * * * *", chrono_tz::Europe::Berlin).unwrap();
        let preview = |after: &str| -> Vec<String> {
            s.next_sessions(after.parse().unwrap(), 3)
                .iter()
                .map(|t| t.to_rfc3339())
                .collect()
        };
        assert_eq!(
            preview("2024-10-26T23:45:00Z"),
            [
                "2024-10-27T00:00:00+00:00",
                "2024-10-27T00:30:00+00:00",
                "2024-10-27T02:00:00+00:00"
            ]
        );
        // 02:15 in the second pass: 02:30 already happened (00:30 UTC), so 03:00 comes next.
        assert_eq!(
            preview("2024-10-27T01:15:00Z"),
            [
                "2024-10-27T02:00:00+00:00",
                "2024-10-27T02:30:00+00:00",
                "2024-10-27T03:00:00+00:00"
            ]
        );
    }

    fn any_zone() -> impl Strategy<Value = Tz> {
        prop_oneof![
            Just(chrono_tz::Asia::Ho_Chi_Minh),
            Just(chrono_tz::UTC),
            Just(chrono_tz::Europe::Berlin),
            Just(chrono_tz::America::New_York),
            Just(chrono_tz::Asia::Kolkata),
        ]
    }

    proptest! {
        #[test]
        fn occurrences_lie_in_the_period_strictly_increasing_at_the_local_time(
            minute in 0u32..60, hour in 0u32..24, dow in 0u32..7,
            start_day in 0i64..1500, length in 0i64..200, tz in any_zone(),
        ) {
            let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(start_day);
            let p = Period::new(start, start + chrono::Duration::days(length)).unwrap();
            let schedule = CronSchedule::parse(&format!("{minute} {hour} * * {dow}"), tz).unwrap();
            let all: Vec<_> = schedule.occurrences_in(&p).collect();
            // Exactly one on each matching day whose wall time exists: a time skipped when
            // clocks spring forward has no session, a time repeated when they fall back has one.
            let expected = (0..=length)
                .map(|i| p.start + chrono::Duration::days(i))
                .filter(|d| d.weekday().num_days_from_sunday() == dow)
                .filter(|d| tz.from_local_datetime(&d.and_hms_opt(hour, minute, 0).unwrap()).earliest().is_some())
                .count();
            prop_assert_eq!(all.len(), expected, "for {} days", length + 1);
            for pair in all.windows(2) {
                prop_assert!(pair[0] < pair[1]);
            }
            for t in &all {
                let local = t.with_timezone(&tz);
                prop_assert!(local.date_naive() >= p.start && local.date_naive() <= p.end);
                prop_assert_eq!(local.weekday().num_days_from_sunday(), dow);
                // A DST gap can push a wall time forward; elsewhere it is exact.
                if tz == chrono_tz::Asia::Ho_Chi_Minh || tz == chrono_tz::UTC || tz == chrono_tz::Asia::Kolkata {
                    prop_assert_eq!((local.hour(), local.minute()), (hour, minute));
                }
            }
        }

        #[test]
        fn five_and_six_field_forms_agree(minute in 0u32..60, hour in 0u32..24, dow in 0u32..7) {
            let p = period("2026-01-01", "2026-03-31");
            let five = CronSchedule::parse(&format!("{minute} {hour} * * {dow}"), DEFAULT_TIME_ZONE).unwrap();
            let six = CronSchedule::parse(&format!("0 {minute} {hour} * * {}", dow + 1), DEFAULT_TIME_ZONE).unwrap();
            prop_assert_eq!(five.occurrences_in(&p).collect::<Vec<_>>(), six.occurrences_in(&p).collect::<Vec<_>>());
        }
    }
}
