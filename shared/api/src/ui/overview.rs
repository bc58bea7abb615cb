//! *Tổng quan*: where the caller's area stands this quarter. Each of the year's targets
//! with the quarter and the year to date, the milestone due by the quarter's end and the
//! status; a year-end projection from the sessions still scheduled and the average per
//! session so far; the communes furthest behind; the coming week's sessions short of
//! volunteers; and the last week's messages by channel.
//!
//! The figures come from the quarterly report (running tallies, never raw records); the
//! sessions from the time-ordered session index over a bounded window; the messages from
//! the deliveries of the last week's sessions.

use std::collections::{BTreeMap, HashSet};

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use outreach_core::contact::Channel;
use outreach_core::org::Level;
use outreach_core::outcome::MetricKind;
use outreach_core::ports::{DeliveryFilter, PageRequest, SessionFilter, Store};
use outreach_core::quarter::{Quarter, quarter_of};
use outreach_core::reminder::DeliveryStatus;
use outreach_core::report::{QuarterlyReport, Status};
use outreach_core::schedule::DEFAULT_TIME_ZONE;
use outreach_core::session::{Session, SessionStatus};
use outreach_core::usecases;
use serde::Deserialize;

use crate::AppState;
use crate::ui::{Nav, Session as UiSession, UiError, charts, format, html};

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    year: Option<i32>,
    quarter: Option<u8>,
    org: Option<String>,
}

/// One target of the year.
pub struct TargetCard {
    pub label: String,
    pub quarter: String,
    pub ytd: String,
    pub target: String,
    pub milestone: String,
    pub percent: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub chart: String,
    /// "Theo nhịp này: 12.400 / 15.000 vào cuối năm".
    pub projection: Option<String>,
}

/// A commune behind on a target.
pub struct Behind {
    pub name: String,
    pub code: String,
    pub metric: String,
    pub percent: String,
    pub status: &'static str,
}

/// A session of the coming week short of volunteers.
pub struct ShortSession {
    pub id: String,
    pub when: String,
    pub commune: String,
    pub venue: String,
    pub staff: String,
}

/// A channel's messages of the last week.
pub struct ChannelMessages {
    pub channel: &'static str,
    pub sent: u64,
    pub failed: u64,
    pub suppressed: u64,
    /// Claimed, waiting for a retry, or uncertain.
    pub other: u64,
    pub reasons: String,
    pub chart: String,
}

#[derive(Template)]
#[template(path = "ui/overview.html")]
struct OverviewPage {
    nav: Nav,
    org_name: String,
    quarter_label: String,
    previous: String,
    next: Option<String>,
    targets: Vec<TargetCard>,
    behind: Vec<Behind>,
    short: Vec<ShortSession>,
    messages: Vec<ChannelMessages>,
    show_messages: bool,
    week: String,
}

/// The quarter shown: the one asked for, or the current one.
fn chosen_quarter(q: &OverviewQuery, now: DateTime<Utc>) -> Result<Quarter, UiError> {
    let current = quarter_of(now, DEFAULT_TIME_ZONE);
    match (q.year, q.quarter) {
        (Some(year), Some(quarter)) => Ok(usecases::check_quarter(year, quarter)?),
        _ => Ok(current),
    }
}

fn link(org: &str, q: Quarter) -> String {
    format!("/ui/tong-quan?org={org}&year={}&quarter={}", q.year, q.quarter)
}

/// `GET /ui/tong-quan?org&year&quarter`.
pub async fn page(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, UiError> {
    let store = state.store.as_ref();
    let now = state.clock.now();
    let quarter = chosen_quarter(&q, now)?;
    let org = q.org.clone().unwrap_or_else(|| session.claims().org.clone());
    session.caller.require_area(store, &org, "unit", &org).await?;
    let report = usecases::quarterly_report(store, &org, quarter.year, quarter.quarter, now).await?;
    let area = session.caller.area(store).await?;
    let (held, ahead) = year_sessions(store, &session, &area, quarter.year, now).await?;
    let targets = target_cards(&report, &org, held.len(), ahead.len(), now, quarter);
    let behind = furthest_behind(&report);
    let short = short_of_staff(&ahead, now, &names(&report));
    // Messages are the delivery log's, which planners read (as `GET /v1/deliveries`).
    let messages = if crate::ui::may(session.role(), axum::http::Method::GET, "/v1/deliveries") {
        last_week_messages(store, &held, &ahead, now).await?
    } else {
        Vec::new()
    };
    let current = quarter_of(now, DEFAULT_TIME_ZONE);
    html(OverviewPage {
        nav: Nav::new(&session, "/ui/tong-quan"),
        org_name: report.org_name.clone(),
        quarter_label: format!("Quý {}/{}", quarter.quarter, quarter.year),
        previous: link(&org, quarter.previous()),
        next: (quarter != current).then(|| link(&org, quarter.next())),
        targets,
        behind,
        short,
        show_messages: crate::ui::may(session.role(), axum::http::Method::GET, "/v1/deliveries"),
        messages,
        week: format!("{} – {}", format::date(now - Duration::days(7)), format::date(now)),
    })
}

/// The names of the report's units by code.
fn names(report: &QuarterlyReport) -> BTreeMap<String, String> {
    report.rows.iter().map(|r| (r.code.clone(), r.name.clone())).collect()
}

/// The year's sessions in the caller's area: those held so far (started, not cancelled) and
/// those still scheduled, read from the time-ordered index (a commune officer: their own).
async fn year_sessions(
    store: &dyn Store,
    session: &UiSession,
    area: &HashSet<String>,
    year: i32,
    now: DateTime<Utc>,
) -> Result<(Vec<Session>, Vec<Session>), UiError> {
    let start = outreach_core::quarter::local_midnight(
        chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default(),
        DEFAULT_TIME_ZONE,
    );
    let end = outreach_core::quarter::local_midnight(
        chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap_or_default(),
        DEFAULT_TIME_ZONE,
    );
    let commune = (session.role() == crate::auth::Role::CommuneOfficer).then(|| session.claims().org.clone());
    let filter = SessionFilter {
        commune,
        from: Some(start),
        to: Some(end),
        ..SessionFilter::default()
    };
    let mut page = PageRequest::first(500);
    let (mut held, mut ahead) = (Vec::new(), Vec::new());
    loop {
        let got = store.list_sessions(&filter, &page).await?;
        for s in got.items {
            if s.status == SessionStatus::Cancelled || !area.contains(&s.commune_code) {
                continue;
            }
            if s.starts_at <= now {
                held.push(s);
            } else {
                ahead.push(s);
            }
        }
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    Ok((held, ahead))
}

/// The unit's own rows that carry a target, as cards; count targets get a projection:
/// the year to date plus, for each session still scheduled, the average per session held.
fn target_cards(
    report: &QuarterlyReport,
    org: &str,
    held: usize,
    ahead: usize,
    now: DateTime<Utc>,
    quarter: Quarter,
) -> Vec<TargetCard> {
    let this_year = quarter.year == quarter_of(now, DEFAULT_TIME_ZONE).year;
    report
        .rows
        .iter()
        .filter(|r| r.code == org && r.target.is_some())
        .map(|r| {
            let ratio = r.kind == MetricKind::Ratio;
            let target = r.target.unwrap_or_default();
            let done_share = match (r.ytd_value, target > 0.0) {
                (Some(v), true) => v / target * 100.0,
                _ => 0.0,
            };
            let milestone_share = r.milestone.filter(|_| target > 0.0).map(|m| m / target * 100.0);
            let projected = (!ratio && this_year && held > 0).then(|| {
                let ytd = r.ytd_value.unwrap_or_default();
                ytd + ytd / held as f64 * ahead as f64
            });
            let label = outreach_report::metric_label(&r.metric).to_string();
            let chart = charts::progress(
                &format!(
                    "{label}: {} trên {}",
                    format::figure(r.ytd_value, ratio),
                    format::figure(Some(target), ratio)
                ),
                done_share,
                milestone_share,
                projected.filter(|_| target > 0.0).map(|p| p / target * 100.0),
                r.status,
            );
            TargetCard {
                quarter: format::figure(r.quarter_value, ratio),
                ytd: format::figure(r.ytd_value, ratio),
                target: format::figure(Some(target), ratio),
                milestone: format::figure(r.milestone, ratio),
                percent: r
                    .percent_of_milestone
                    .map(format::percent)
                    .unwrap_or_else(|| "—".into()),
                status: charts::status_class(r.status),
                status_label: r.status.map_or("Chưa có số liệu", Status::label),
                chart,
                projection: projected.map(|p| {
                    format!(
                        "Theo nhịp này: {} / {} vào cuối năm",
                        format::count(p.round() as i64),
                        format::count(target.round() as i64)
                    )
                }),
                label,
            }
        })
        .collect()
}

/// The communes furthest behind their milestones (at most eight).
fn furthest_behind(report: &QuarterlyReport) -> Vec<Behind> {
    let mut rows: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.level == Level::Commune && matches!(r.status, Some(Status::Behind | Status::AtRisk)))
        .collect();
    rows.sort_by(|a, b| {
        a.percent_of_milestone
            .unwrap_or(0.0)
            .total_cmp(&b.percent_of_milestone.unwrap_or(0.0))
    });
    rows.into_iter()
        .take(8)
        .map(|r| Behind {
            name: r.name.clone(),
            code: r.code.clone(),
            metric: outreach_report::metric_label(&r.metric).to_string(),
            percent: r
                .percent_of_milestone
                .map(format::percent)
                .unwrap_or_else(|| "—".into()),
            status: charts::status_class(r.status),
        })
        .collect()
}

/// The coming week's sessions with fewer volunteers than they need.
fn short_of_staff(ahead: &[Session], now: DateTime<Utc>, names: &BTreeMap<String, String>) -> Vec<ShortSession> {
    ahead
        .iter()
        .filter(|s| s.starts_at < now + Duration::days(7) && s.is_short_of_staff())
        .map(|s| ShortSession {
            id: s.id.clone(),
            when: format!("{} {}", format::weekday(s.starts_at), format::date_time(s.starts_at)),
            commune: names
                .get(&s.commune_code)
                .cloned()
                .unwrap_or_else(|| s.commune_code.clone()),
            venue: s.venue.clone(),
            staff: format!("{}/{}", s.staff.len(), s.min_staff),
        })
        .collect()
}

/// Reasons of suppression as a planner reads them.
pub fn suppression_label(reason: &str) -> &'static str {
    match reason {
        "session_cancelled" => "buổi bị hủy",
        "session_moved" => "buổi dời lịch",
        "session_started" => "buổi đã bắt đầu",
        "campaign_not_active" => "chiến dịch không hoạt động",
        "contact_missing" => "không còn người nhận",
        "no_consent" => "chưa đồng ý nhận tin",
        "opted_out" => "đã từ chối nhận tin",
        "not_mobile" => "không phải số di động",
        "no_email" => "không có email",
        "quiet_hours" => "giờ yên tĩnh",
        "frequency_cap" => "vượt giới hạn 3 tin/24 giờ",
        "not_in_audience" => "không thuộc đối tượng",
        "erased" => "đã xóa dữ liệu",
        _ => "lý do khác",
    }
}

/// A channel's counts: sent, failed, suppressed, other, and the suppressions by reason.
type Tally = (u64, u64, u64, u64, BTreeMap<&'static str, u64>);

/// The last week's messages by channel, from the deliveries of the sessions they were for
/// (reminders go at most a few days ahead, so the week's sessions and the next few hold them).
async fn last_week_messages(
    store: &dyn Store,
    held: &[Session],
    ahead: &[Session],
    now: DateTime<Utc>,
) -> Result<Vec<ChannelMessages>, UiError> {
    let since = now - Duration::days(7);
    let window = held
        .iter()
        .filter(|s| s.starts_at >= since)
        .chain(ahead.iter().filter(|s| s.starts_at < now + Duration::days(8)));
    let mut by_channel: BTreeMap<&'static str, Tally> = BTreeMap::new();
    for s in window {
        let filter = DeliveryFilter {
            session: Some(s.id.clone()),
            ..DeliveryFilter::default()
        };
        let mut page = PageRequest::first(500);
        loop {
            let got = store.list_deliveries(&filter, &page).await?;
            for d in got
                .items
                .iter()
                .filter(|d| d.updated_at >= since && d.updated_at <= now)
            {
                let channel = match d.channel {
                    Channel::Sms => "SMS",
                    Channel::Email => "Email",
                    Channel::Zns => "Zalo ZNS",
                };
                let entry = by_channel.entry(channel).or_default();
                match d.status {
                    DeliveryStatus::Sent => entry.0 += 1,
                    DeliveryStatus::Failed => entry.1 += 1,
                    DeliveryStatus::Suppressed => {
                        entry.2 += 1;
                        *entry
                            .4
                            .entry(suppression_label(d.reason.as_deref().unwrap_or_default()))
                            .or_default() += 1;
                    }
                    _ => entry.3 += 1,
                }
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(by_channel
        .into_iter()
        .map(
            |(channel, (sent, failed, suppressed, other, reasons))| ChannelMessages {
                channel,
                sent,
                failed,
                suppressed,
                other,
                reasons: reasons
                    .iter()
                    .map(|(r, n)| format!("{r}: {}", format::count(*n as i64)))
                    .collect::<Vec<_>>()
                    .join("; "),
                chart: charts::stacked(
                    &format!("{channel}: {sent} đã gửi, {failed} lỗi, {suppressed} không gửi"),
                    &[
                        ("sent", sent),
                        ("failed", failed),
                        ("suppressed", suppressed),
                        ("other", other),
                    ],
                ),
            },
        )
        .collect())
}
