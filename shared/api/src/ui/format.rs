//! How the dashboard writes dates, times and numbers: Vietnamese usage, in Asia/Ho_Chi_Minh
//! (dates `dd/MM/yyyy`, times `HH:mm`, `12.400` for twelve thousand four hundred).

use chrono::{DateTime, Utc};
use outreach_core::schedule::DEFAULT_TIME_ZONE;

/// `dd/MM/yyyy` of an instant, local time.
pub fn date(t: DateTime<Utc>) -> String {
    t.with_timezone(&DEFAULT_TIME_ZONE).format("%d/%m/%Y").to_string()
}

/// `HH:mm` of an instant, local time.
pub fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&DEFAULT_TIME_ZONE).format("%H:%M").to_string()
}

/// `dd/MM/yyyy HH:mm`, local time.
pub fn date_time(t: DateTime<Utc>) -> String {
    format!("{} {}", date(t), time(t))
}

/// The weekday of an instant, local time, in Vietnamese (`Thứ Bảy`).
pub fn weekday(t: DateTime<Utc>) -> &'static str {
    use chrono::Datelike;
    match t.with_timezone(&DEFAULT_TIME_ZONE).weekday() {
        chrono::Weekday::Mon => "Thứ Hai",
        chrono::Weekday::Tue => "Thứ Ba",
        chrono::Weekday::Wed => "Thứ Tư",
        chrono::Weekday::Thu => "Thứ Năm",
        chrono::Weekday::Fri => "Thứ Sáu",
        chrono::Weekday::Sat => "Thứ Bảy",
        chrono::Weekday::Sun => "Chủ Nhật",
    }
}

/// A whole number with `.` between thousands.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A figure of a report: a count rounded to a whole number, or a ratio as a percentage
/// with one decimal (`42,5 %`); `—` when there is none.
pub fn figure(value: Option<f64>, ratio: bool) -> String {
    match value {
        None => "—".into(),
        Some(v) if ratio => percent(v * 100.0),
        Some(v) => count(v.round() as i64),
    }
}

/// A percentage with one decimal and a decimal comma (`87,5 %`).
pub fn percent(p: f64) -> String {
    format!("{:.1} %", p).replace('.', ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_vietnamese() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(12_400), "12.400");
        assert_eq!(count(1_234_567), "1.234.567");
        assert_eq!(count(-15_000), "-15.000");
        assert_eq!(percent(87.54), "87,5 %");
        assert_eq!(figure(Some(0.425), true), "42,5 %");
        assert_eq!(figure(None, false), "—");
    }

    #[test]
    fn dates_and_times_are_local() {
        let t: DateTime<Utc> = "2026-10-03T01:00:00Z".parse().unwrap();
        assert_eq!(date_time(t), "03/10/2026 08:00");
        assert_eq!(weekday(t), "Thứ Bảy");
    }
}
