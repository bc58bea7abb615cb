//! Cron expressions as a planner or an API caller may write them, read in a time zone and
//! expanded: the next sessions after an instant (the schedule preview) and the occurrences
//! within a campaign period (campaign validation, the planner).
//!
//! Input: the expression, then optionally a NUL byte and parameter bytes (zone, dates,
//! count; missing bytes read as zero), so a seed can be a bare expression.
#![no_main]

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use outreach_core::schedule::{CronSchedule, DEFAULT_TIME_ZONE, Period};

/// The home zone first, then zones with DST, midnight transitions and odd offsets.
const ZONES: [Tz; 9] = [
    DEFAULT_TIME_ZONE,
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::America::Havana,
    chrono_tz::America::Santiago,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Chatham,
    chrono_tz::Asia::Kolkata,
];

/// Most occurrences taken from one period: enough to cross a few DST changes, few enough
/// that an every-second schedule over three years stays quick.
const MAX_OCCURRENCES: usize = 400;

/// The longest campaign period the API accepts (three years), in days.
const MAX_PERIOD_DAYS: u64 = 3 * 366;

/// Where dates and instants are drawn from: near today (the cron crate knows the years
/// 1970–2100), anywhere chrono can represent (JSON accepts `-262143-01-01`), or the first
/// or last days of that range, as a hostile caller may send.
struct Span {
    first_day: NaiveDate,
    days: u64,
}

impl Span {
    fn pick(u: &mut Unstructured<'_>) -> Self {
        let all_days = NaiveDate::MAX
            .signed_duration_since(NaiveDate::MIN)
            .num_days()
            .unsigned_abs();
        let (first_day, days) = match u.arbitrary::<u8>().unwrap_or(0) % 4 {
            0 => (NaiveDate::from_ymd_opt(1965, 1, 1).unwrap_or(NaiveDate::MIN), 150 * 366),
            1 => (NaiveDate::MIN, all_days),
            2 => (NaiveDate::MIN, 7),
            _ => (NaiveDate::MAX - Days::new(7), 7),
        };
        Self { first_day, days }
    }

    fn date(&self, u: &mut Unstructured<'_>) -> NaiveDate {
        let offset = u.int_in_range(0..=self.days).unwrap_or(0);
        self.first_day
            .checked_add_days(Days::new(offset))
            .unwrap_or(NaiveDate::MAX)
    }

    fn instant(&self, u: &mut Unstructured<'_>) -> DateTime<Utc> {
        let day = self.date(u);
        let second = u.int_in_range(0..=86_399u32).unwrap_or(0);
        day.and_hms_opt(second / 3600, second / 60 % 60, second % 60)
            .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
    }
}

fuzz_target!(|data: &[u8]| {
    let (expression, parameters) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(expression) = std::str::from_utf8(expression) else {
        return;
    };
    let mut u = Unstructured::new(parameters);
    let tz = ZONES[usize::from(u.arbitrary::<u8>().unwrap_or(0)) % ZONES.len()];
    let span = Span::pick(&mut u);

    let Ok(schedule) = CronSchedule::parse(expression, tz) else {
        return;
    };
    assert_eq!(schedule.time_zone(), tz);
    assert_eq!(schedule.expression(), expression.trim());
    // The expression as stored parses again to the same schedule (the planner re-reads it).
    assert!(matches!(CronSchedule::parse(schedule.expression(), tz), Ok(again) if again == schedule));

    // The schedule preview: at most 100 sessions, in order, after the instant asked for.
    let after = span.instant(&mut u);
    let count = usize::from(u.arbitrary::<u8>().unwrap_or(0) % 101);
    let next = schedule.next_sessions(after, count);
    assert!(next.len() <= count);
    assert!(next.iter().all(|t| *t > after), "{next:?} not all after {after}");
    assert!(next.windows(2).all(|w| w[0] < w[1]), "{next:?} not increasing");

    // A campaign period of up to three years.
    let start = span.date(&mut u);
    let days = u.int_in_range(0..=MAX_PERIOD_DAYS).unwrap_or(0);
    let end = start.checked_add_days(Days::new(days)).unwrap_or(NaiveDate::MAX);
    let Ok(period) = Period::new(start, end) else {
        unreachable!("{end} is not before {start}");
    };
    let (from, until) = period.bounds(tz);
    let occurrences: Vec<_> = schedule.occurrences_in(&period).take(MAX_OCCURRENCES).collect();
    assert!(
        occurrences.iter().all(|t| (from..until).contains(t)),
        "{occurrences:?} not all within {from}..{until}"
    );
    assert!(
        occurrences.windows(2).all(|w| w[0] < w[1]),
        "{occurrences:?} not increasing"
    );
});
