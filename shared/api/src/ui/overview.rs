//! *Tổng quan*: where the caller's area stands this quarter. Each of the year's targets
//! with the quarter and the year to date, the milestone due by the quarter's end and the
//! status; a year-end projection from the sessions still scheduled and the average per
//! session so far; the communes furthest behind; the coming week's sessions short of
//! volunteers; and the last week's messages by channel.
//!
//! The figures come from the quarterly report (running tallies, never raw records); the
//! projection from the year's tallies and the active campaigns' schedules; the sessions
//! from the time-ordered session index over a one-week window; the messages from the
//! running delivery tallies of the unit's communes.

use std::collections::{BTreeMap, HashSet};

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use outreach_core::answer::Headcount;
use outreach_core::campaign::CampaignStatus;
use outreach_core::contact::Channel;
use outreach_core::ids::{SessionId, UnitCode};
use outreach_core::org::Level;
use outreach_core::outcome::MetricKind;
use outreach_core::outcome::{SESSIONS_REPORTED, Tally};
use outreach_core::ports::{PageRequest, SessionFilter, Store};
use outreach_core::quarter::local_midnight;
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

/// A session of the coming week short of volunteers, for its minimum or for the citizens
/// who said they will come, or with more of those than it holds.
pub struct ShortSession {
    pub id: String,
    pub when: String,
    pub commune: String,
    pub venue: String,
    pub staff: String,
    /// Citizens who said they will come, over the capacity (`"18/30"`), when it asked.
    pub coming: Option<String>,
    pub over_capacity: bool,
    /// Assigned volunteers who said they will not come.
    pub declined: usize,
}

/// A confirmation figure of the caller's area: the quarter and the year to date.
pub struct AnswerFigureRow {
    pub label: String,
    pub quarter: String,
    pub ytd: String,
}

/// The metrics of the overview's confirmation figures, from the report.
const ANSWER_FIGURES: [&str; 3] = ["confirmation_rate", "no_show_rate", "walk_in_share"];

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
    answer_figures: Vec<AnswerFigureRow>,
    messages: Vec<ChannelMessages>,
    show_messages: bool,
    week: String,
}

/// The quarter shown: the one asked for, or the current one.
fn chosen_quarter(q: &OverviewQuery, now: DateTime<Utc>) -> Result<Quarter, UiError> {
    let current = quarter_of(now, DEFAULT_TIME_ZONE);
    match (q.year, q.quarter) {
        (Some(year), Some(quarter)) => Ok(Quarter::new(year, quarter)?),
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
    let (report, tallies) = usecases::quarterly_report_and_tallies(store, &org, quarter, now).await?;
    let communes: HashSet<String> = report
        .rows
        .iter()
        .filter(|r| r.level == Level::Commune)
        .map(|r| r.code.clone())
        .collect();
    let ahead = sessions_ahead(store, &communes, quarter.year, now).await?;
    let window = sessions_around(store, &session, &communes, now).await?;
    let headcounts = week_headcounts(store, &window, now).await?;
    let pace = Pace::of(&tallies, &communes, ahead, &headcounts);
    let targets = target_cards(&report, &org, &pace, now, quarter);
    let behind = furthest_behind(&report);
    let short = short_of_staff(&window, &headcounts, now, &names(&report));
    let answer_figures = answer_figures(&report, &org);
    // Messages are the delivery log's, which planners read (as `GET /v1/deliveries`).
    let messages = if crate::ui::may(session.role(), axum::http::Method::GET, "/v1/deliveries") {
        last_week_messages(store, &communes, now).await?
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
        answer_figures,
        show_messages: crate::ui::may(session.role(), axum::http::Method::GET, "/v1/deliveries"),
        messages,
        week: format!("{} – {}", format::date(now - Duration::days(7)), format::date(now)),
    })
}

/// The names of the report's units by code.
fn names(report: &QuarterlyReport) -> BTreeMap<String, String> {
    report.rows.iter().map(|r| (r.code.clone(), r.name.clone())).collect()
}

/// A metric's year so far in the unit's communes, from the tallies the report was built
/// from, whatever the number of sessions.
fn year_sum(tallies: &[Tally], communes: &HashSet<String>, metric: &str) -> f64 {
    tallies
        .iter()
        .filter(|t| t.key.metric == metric && communes.contains(t.key.unit_code.as_str()))
        .map(|t| t.value.max(0) as f64)
        .sum()
}

/// Metrics that grow with the citizens who come: their projection counts the confirmed
/// headcount of the sessions ahead. The others (volunteers trained, a planner's own) go
/// by the average per session alone.
const CITIZEN_METRICS: [&str; 3] = ["dossiers_supported", "accounts_created", "attendees"];

/// The year's pace in the unit's communes: what a session has brought so far, the sessions
/// still to come, and the citizens confirmed for those of the coming week.
struct Pace {
    /// Sessions that reported attendance or outcomes this year.
    held: f64,
    /// Sessions still to come this year by the active campaigns' schedules.
    ahead: f64,
    /// Citizens on a reported session's attendance, on average.
    citizens_per_session: f64,
    /// The expected citizens of each coming session with confirmations, by the share of
    /// the confirmed who came so far and the citizens who came without confirming.
    expected: Vec<f64>,
    /// Citizens confirmed for those sessions.
    confirmed: u32,
}

impl Pace {
    fn of(tallies: &[Tally], communes: &HashSet<String>, ahead: u64, week: &BTreeMap<SessionId, Headcount>) -> Self {
        let sum = |metric| year_sum(tallies, communes, metric);
        let held = sum(SESSIONS_REPORTED);
        let citizens = sum("citizens_attended");
        let confirmed_so_far = sum("citizens_confirmed");
        let came_confirmed = (confirmed_so_far - sum("confirmed_absent")).max(0.0);
        let per_session = if held > 0.0 { citizens / held } else { 0.0 };
        let coming: Vec<u32> = week.values().map(|h| h.citizens.coming).filter(|c| *c > 0).collect();
        let expected = coming
            .iter()
            .map(|&c| {
                let c = f64::from(c);
                if confirmed_so_far > 0.0 && held > 0.0 {
                    // Of the confirmed, the share that came; and as many unconfirmed
                    // citizens (walk-ins, people who did not answer) as a session has had.
                    c * came_confirmed / confirmed_so_far + (citizens - came_confirmed).max(0.0) / held
                } else {
                    // No confirmations seen yet: at least the confirmed, at most the usual.
                    c.max(per_session)
                }
            })
            .collect();
        Self {
            held,
            ahead: ahead as f64,
            citizens_per_session: per_session,
            expected,
            confirmed: coming.iter().sum(),
        }
    }

    /// The year-end figure of a count metric at `ytd`: the year to date plus, for each
    /// session to come, the average per session so far; for a metric that grows with the
    /// citizens, a coming session with confirmations brings that average scaled by its
    /// expected citizens over the usual. None before any session reported.
    fn project(&self, metric: &str, ytd: f64) -> Option<f64> {
        if self.held <= 0.0 {
            return None;
        }
        let average = ytd / self.held;
        let mut projected = ytd + average * self.ahead;
        if CITIZEN_METRICS.contains(&metric) && self.citizens_per_session > 0.0 {
            for expected in &self.expected {
                projected += average * (expected / self.citizens_per_session - 1.0);
            }
        }
        Some(projected.max(ytd))
    }

    /// What the projection of a citizens' metric took from the confirmations, if any.
    fn confirmed_note(&self, metric: &str) -> Option<String> {
        (CITIZEN_METRICS.contains(&metric) && !self.expected.is_empty() && self.citizens_per_session > 0.0).then(|| {
            format!(
                "{} buổi 7 ngày tới tính theo {} người dân đã xác nhận sẽ đến",
                self.expected.len(),
                format::count(i64::from(self.confirmed))
            )
        })
    }
}

/// The expected headcount of each session of the coming week whose campaign asks whether
/// people will come, from its answers: one read per such campaign and per such session.
async fn week_headcounts(
    store: &dyn Store,
    window: &[Session],
    now: DateTime<Utc>,
) -> Result<BTreeMap<SessionId, Headcount>, UiError> {
    let mut asks: BTreeMap<&str, bool> = BTreeMap::new();
    let mut headcounts = BTreeMap::new();
    for s in window.iter().filter(|s| s.starts_at > now) {
        let asking = match asks.get(s.campaign_id.as_str()) {
            Some(a) => *a,
            None => {
                let a = store
                    .get_campaign(&s.campaign_id)
                    .await?
                    .is_some_and(|c| c.reminder_rules.iter().any(|r| r.asks_answer));
                asks.insert(s.campaign_id.as_str(), a);
                a
            }
        };
        if asking {
            let answers = store.session_answers(&s.id).await?;
            // Who was asked is not read here: the overview needs only who said what.
            headcounts.insert(
                s.id.clone(),
                Headcount::count(s.capacity, s.min_staff, &s.staff, &[], &answers),
            );
        }
    }
    Ok(headcounts)
}

/// The area's confirmation rate, no-show rate and walk-in share, this quarter and so far
/// this year, from the report.
fn answer_figures(report: &QuarterlyReport, org: &str) -> Vec<AnswerFigureRow> {
    ANSWER_FIGURES
        .iter()
        .filter_map(|metric| report.row(org, metric))
        .filter(|r| r.quarter_value.is_some() || r.ytd_value.is_some())
        .map(|r| AnswerFigureRow {
            label: outreach_report::metric_label(&r.metric).to_string(),
            quarter: format::figure(r.quarter_value, true),
            ytd: format::figure(r.ytd_value, true),
        })
        .collect()
}

/// Sessions still to come in `year` in the unit's communes, by the active campaigns'
/// schedules (the planner stores only the next few weeks of them): the campaigns are
/// read, not the sessions. A session cancelled ahead of time still counts.
async fn sessions_ahead(
    store: &dyn Store,
    communes: &HashSet<String>,
    year: i32,
    now: DateTime<Utc>,
) -> Result<u64, UiError> {
    let year_end = local_midnight(
        chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap_or_default(),
        DEFAULT_TIME_ZONE,
    );
    let mut ahead = 0u64;
    let mut page = PageRequest::first(500);
    loop {
        let got = store.list_campaigns(Some(CampaignStatus::Active), &page).await?;
        for campaign in &got.items {
            let hosts = campaign
                .communes
                .iter()
                .filter(|c| communes.contains(c.as_str()))
                .count() as u64;
            if hosts == 0 {
                continue;
            }
            let schedule = campaign.schedule.parse()?;
            let (start, end) = campaign.period.bounds(schedule.time_zone());
            let dates = schedule.occurrences_between(start.max(now), end.min(year_end)).count() as u64;
            ahead += dates * hosts;
        }
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    Ok(ahead)
}

/// The sessions of the unit's communes in the coming week (not cancelled), read from the
/// time-ordered index: a window of the calendar, not of the records (a commune officer:
/// their own).
async fn sessions_around(
    store: &dyn Store,
    session: &UiSession,
    communes: &HashSet<String>,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, UiError> {
    let commune = (session.role() == crate::auth::Role::CommuneOfficer).then(|| UnitCode::from(&session.claims().org));
    let filter = SessionFilter {
        commune,
        from: Some(now),
        to: Some(now + Duration::days(7)),
        ..SessionFilter::default()
    };
    let mut page = PageRequest::first(500);
    let mut sessions = Vec::new();
    loop {
        let got = store.list_sessions(&filter, &page).await?;
        sessions.extend(
            got.items
                .into_iter()
                .filter(|s| s.status != SessionStatus::Cancelled && communes.contains(s.commune_code.as_str())),
        );
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    Ok(sessions)
}

/// The unit's own rows that carry a target, as cards; count targets get a projection
/// ([`Pace::project`]).
fn target_cards(
    report: &QuarterlyReport,
    org: &str,
    pace: &Pace,
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
            let projected = (!ratio && this_year)
                .then(|| pace.project(&r.metric, r.ytd_value.unwrap_or_default()))
                .flatten();
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
                    let note = pace
                        .confirmed_note(&r.metric)
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    format!(
                        "Theo nhịp này: {} / {} vào cuối năm{note}",
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

/// The coming week's sessions with fewer volunteers than they need (for their minimum or,
/// at one for every ten, for the citizens who said they will come, not counting assigned
/// volunteers who said they will not), or with more citizens coming than they hold.
fn short_of_staff(
    window: &[Session],
    headcounts: &BTreeMap<SessionId, Headcount>,
    now: DateTime<Utc>,
    names: &BTreeMap<String, String>,
) -> Vec<ShortSession> {
    window
        .iter()
        .filter(|s| s.starts_at > now && s.starts_at < now + Duration::days(7))
        .filter_map(|s| {
            let h = headcounts.get(&s.id);
            let flagged = s.is_short_of_staff() || h.is_some_and(|h| h.short_of_staff || h.over_capacity);
            flagged.then(|| ShortSession {
                id: s.id.to_string(),
                when: format!("{} {}", format::weekday(s.starts_at), format::date_time(s.starts_at)),
                commune: names
                    .get(s.commune_code.as_str())
                    .cloned()
                    .unwrap_or_else(|| String::from(&s.commune_code)),
                venue: s.venue.clone(),
                staff: format!("{}/{}", s.staff.len(), s.min_staff),
                coming: h.map(|h| format!("{}/{}", h.citizens.coming, s.capacity)),
                over_capacity: h.is_some_and(|h| h.over_capacity),
                declined: h.map_or(0, |h| h.declined_staff.len()),
            })
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
type ChannelTally = (u64, u64, u64, u64, BTreeMap<&'static str, u64>);

/// The last week's messages by channel, from the running delivery tallies of the unit's
/// communes (one or two reads of the month partitions, however many messages went).
async fn last_week_messages(
    store: &dyn Store,
    area: &HashSet<String>,
    now: DateTime<Utc>,
) -> Result<Vec<ChannelMessages>, UiError> {
    let day = |t: DateTime<Utc>| t.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let communes: Vec<UnitCode> = area.iter().map(UnitCode::from).collect();
    let tallies = store
        .delivery_tallies(&communes, day(now - Duration::days(7)), day(now))
        .await?;
    let mut by_channel: BTreeMap<&'static str, ChannelTally> = BTreeMap::new();
    for t in tallies {
        let channel = match t.key.channel {
            Channel::Sms => "SMS",
            Channel::Email => "Email",
            Channel::Zns => "Zalo ZNS",
        };
        let entry = by_channel.entry(channel).or_default();
        match t.key.status {
            DeliveryStatus::Sent => entry.0 += t.count,
            DeliveryStatus::Failed => entry.1 += t.count,
            DeliveryStatus::Suppressed => {
                entry.2 += t.count;
                *entry.4.entry(suppression_label(&t.key.reason)).or_default() += t.count;
            }
            _ => entry.3 += t.count,
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
