//! *Lịch buổi* as a calendar: the caller's sessions of one week or one month, with the
//! list's filters, each a link to its page with its staffing x/y. A plain CSS grid of
//! days: seven columns on a wide screen, a list of days on a phone, and printable.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike, Days, Months, NaiveDate};
use outreach_core::schedule::DEFAULT_TIME_ZONE;

use crate::AppState;
use crate::ui::sessions::{Filters, SessionRow, SessionsQuery, local_day, sessions_between};
use crate::ui::{Nav, Session as UiSession, UiError, html};

/// One day of the calendar.
pub struct CalendarDay {
    /// `Thứ Hai`.
    pub weekday: &'static str,
    /// `07/09/2026`.
    pub date: String,
    /// The day of the month alone, for the month's grid.
    pub day: u32,
    /// Whether it belongs to the month shown (a month's grid starts and ends with whole weeks).
    pub in_month: bool,
    pub today: bool,
    pub sessions: Vec<SessionRow>,
}

#[derive(Template)]
#[template(path = "ui/calendar.html")]
struct CalendarPage {
    nav: Nav,
    /// `tuan` or `thang`.
    view: &'static str,
    title: String,
    days: Vec<CalendarDay>,
    filters: Filters,
    from: String,
    previous: String,
    current: String,
    next: String,
    list_link: String,
    week_link: String,
    month_link: String,
    total: usize,
    more: bool,
}

const WEEKDAYS: [&str; 7] = [
    "Thứ Hai",
    "Thứ Ba",
    "Thứ Tư",
    "Thứ Năm",
    "Thứ Sáu",
    "Thứ Bảy",
    "Chủ Nhật",
];

/// The days a view of `anchor` shows: the week (Monday to Sunday) holding it, or the whole
/// weeks covering its month; and the first day of the month when it is a month.
fn days_shown(month: bool, anchor: NaiveDate) -> (NaiveDate, NaiveDate, Option<NaiveDate>) {
    let monday = |d: NaiveDate| d - Days::new(u64::from(d.weekday().num_days_from_monday()));
    if month {
        let first = anchor.with_day(1).unwrap_or(anchor);
        let last = first + Months::new(1) - Days::new(1);
        (monday(first), monday(last) + Days::new(6), Some(first))
    } else {
        let start = monday(anchor);
        (start, start + Days::new(6), None)
    }
}

/// `GET /ui/buoi/lich?view=tuan|thang&from&commune&campaign&status`: the week (or month)
/// holding `from` (today by default).
pub async fn page(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<SessionsQuery>,
) -> Result<Response, UiError> {
    let today = state.clock.now().with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let month = q.view == "thang";
    let anchor = local_day(&q.from, today);
    let (start, end, first) = days_shown(month, anchor);
    let (filters, rows, more) = sessions_between(&state, &session, &q, start, end).await?;
    let total = rows.len();
    let mut days: Vec<CalendarDay> = start
        .iter_days()
        .take_while(|d| *d <= end)
        .map(|d| CalendarDay {
            weekday: WEEKDAYS[d.weekday().num_days_from_monday() as usize],
            date: d.format("%d/%m/%Y").to_string(),
            day: d.day(),
            in_month: first.is_none_or(|f| f.month() == d.month()),
            today: d == today,
            sessions: Vec::new(),
        })
        .collect();
    for row in rows {
        let at = (row.local_day - start).num_days();
        if let Some(day) = usize::try_from(at).ok().and_then(|i| days.get_mut(i)) {
            day.sessions.push(row);
        }
    }
    let view = if month { "thang" } else { "tuan" };
    let link = |path: &str, view: Option<&str>, from: NaiveDate, to: Option<NaiveDate>| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(view) = view {
            query.append_pair("view", view);
        }
        query.append_pair("from", &from.format("%Y-%m-%d").to_string());
        if let Some(to) = to {
            query.append_pair("to", &to.format("%Y-%m-%d").to_string());
        }
        query.extend_pairs(filters.query());
        format!("{path}?{}", query.finish())
    };
    let (previous, next) = match first {
        Some(first) => (first - Months::new(1), first + Months::new(1)),
        None => (start - Days::new(7), start + Days::new(7)),
    };
    let title = match first {
        Some(first) => format!("Tháng {}/{}", first.month(), first.year()),
        None => format!("Tuần {} – {}", start.format("%d/%m/%Y"), end.format("%d/%m/%Y")),
    };
    let (list_from, list_to) = match first {
        Some(first) => (first, first + Months::new(1) - Days::new(1)),
        None => (start, end),
    };
    html(CalendarPage {
        nav: Nav::new(&session, "/ui/buoi"),
        view,
        title,
        previous: link("/ui/buoi/lich", Some(view), previous, None),
        current: link("/ui/buoi/lich", Some(view), today, None),
        next: link("/ui/buoi/lich", Some(view), next, None),
        list_link: link("/ui/buoi", None, list_from, Some(list_to)),
        week_link: link("/ui/buoi/lich", Some("tuan"), anchor, None),
        month_link: link("/ui/buoi/lich", Some("thang"), anchor, None),
        from: anchor.format("%Y-%m-%d").to_string(),
        days,
        filters,
        total,
        more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_runs_monday_to_sunday_and_a_month_covers_whole_weeks() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            days_shown(false, d("2026-09-10")),
            (d("2026-09-07"), d("2026-09-13"), None)
        );
        assert_eq!(
            days_shown(false, d("2026-09-13")),
            (d("2026-09-07"), d("2026-09-13"), None)
        );
        // September 2026 begins on a Tuesday and ends on a Wednesday.
        assert_eq!(
            days_shown(true, d("2026-09-20")),
            (d("2026-08-31"), d("2026-10-04"), Some(d("2026-09-01")))
        );
    }
}
