//! `outreach demo`: the main job, start to finish, on a fresh database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;
use outreach_app::{App, Config};
use outreach_core::campaign::{Audience, Campaign, CampaignAction, CampaignInput, ReminderRuleInput, ScheduleSpec};
use outreach_core::contact::mask_email;
use outreach_core::contact::{Channel, ConsentInput, ContactInput, ContactRole};
use outreach_core::cost::PriceTable;
use outreach_core::ids::{CampaignId, SessionId};
use outreach_core::jobs::{DEFAULT_HORIZON_DAYS, run_planner};
use outreach_core::org::Level;
use outreach_core::org::{ImportScope, ImportValidity, parse_units_json};
use outreach_core::outcome::{MetricKind, OfficialStatistics};
use outreach_core::phone::mask_phone_digits;
use outreach_core::ports::{
    ContactFilter, ContactStore, DeliveryFilter, DeliveryStore, OutcomeStore, PageRequest, SessionFilter, SessionStore,
    SnapshotStore, Store,
};
use outreach_core::quarter::Quarter;
use outreach_core::reminder::{DeliveryStatus, JobStatus};
use outreach_core::report::QuarterlyReport;
use outreach_core::schedule::{DEFAULT_TIME_ZONE, Period};
use outreach_core::session::{Session, SessionStatus};
use outreach_core::target::{AllocationInput, TargetInput};
use outreach_core::team::TeamInput;
use outreach_core::usecases::{self, Actor};
use outreach_core::usecases::{AttendanceInput, AttendeeInput, OutcomesInput};
use outreach_notify::Outbox;
use outreach_store::SqliteStore;

/// The demo's units before the reform of 1 July 2025: a slice of Bắc Giang, three tiers.
const UNITS_BEFORE: &str = r#"[
  {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": null, "valid_until": "2025-06-30"},
  {"code": "213", "name": "Thành phố Bắc Giang", "level": "district", "parent_code": "24", "valid_until": "2025-06-30"},
  {"code": "07201", "name": "Phường Thọ Xương", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"},
  {"code": "07207", "name": "Phường Ngô Quyền", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"},
  {"code": "07228", "name": "Phường Đa Mai", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"}
]"#;

/// The units in force since 1 July 2025: Bắc Ninh (which absorbed Bắc Giang, keeping code
/// 24), two tiers, province → commune; each commune names the former units it took in.
const UNITS_AFTER: &str = r#"[
  {"code": "24", "name": "Tỉnh Bắc Ninh", "level": "province", "parent_code": null, "valid_from": "2025-07-01"},
  {"code": "07210", "name": "Phường Bắc Giang", "level": "commune", "parent_code": "24", "valid_from": "2025-07-01",
   "former_units": [{"code": "07201", "merge": "full"}, {"code": "07207", "merge": "full"}]},
  {"code": "07228", "name": "Phường Đa Mai", "level": "commune", "parent_code": "24", "valid_from": "2025-07-01",
   "former_units": [{"code": "07228", "merge": "full"}]},
  {"code": "07246", "name": "Xã Xuân Lương", "level": "commune", "parent_code": "24", "valid_from": "2025-07-01"}
]"#;

/// The communes of the campaign, as they are today.
const COMMUNES: [&str; 3] = ["07210", "07228", "07246"];

/// The province: the unit the campaign targets and whose planner gets the quarterly summary.
const PROVINCE: &str = "24";

/// The demo's database and the quarter it plays, shared by its numbered steps.
struct Demo {
    /// Holds the outbox (and the database, unless kept elsewhere) until the demo ends.
    dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
    quarter: Quarter,
    q_start: DateTime<Utc>,
    q_end: DateTime<Utc>,
    /// Two weeks before the quarter: when the planner sets everything up.
    setup_time: DateTime<Utc>,
    actor: Actor,
}

pub async fn run(keep: Option<PathBuf>) -> Result<()> {
    let demo = Demo::open(keep)?;
    println!(
        "outreach demo — {} in Bắc Ninh (database: {})",
        demo.quarter,
        demo.path.display()
    );
    println!();
    demo.units().await?;
    let volunteers = demo.contacts().await?;
    demo.teams(&volunteers).await?;
    let (campaign, estimate) = demo.campaign().await?;
    demo.plan().await?;
    let cancelled = demo.staff_and_reschedule(&campaign, &volunteers).await?;
    demo.remind(&campaign, &cancelled, &estimate).await?;
    let sessions = demo.print_sessions(&campaign).await?;
    let summary_time = demo.close_quarter(&sessions).await?;
    across_the_reform(&demo.store, summary_time).await
}

impl Demo {
    fn open(keep: Option<PathBuf>) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = keep.unwrap_or_else(|| dir.path().join("demo.db"));
        if path.exists() {
            anyhow::bail!("{} exists; the demo starts from an empty database", path.display());
        }
        let store = SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let quarter = Quarter { year: 2026, quarter: 4 };
        let (q_start, q_end) = quarter.bounds(DEFAULT_TIME_ZONE);
        Ok(Self {
            dir,
            path,
            store,
            quarter,
            q_start,
            q_end,
            setup_time: q_start - Duration::days(14),
            actor: Actor::named("demo-planner"),
        })
    }

    /// 1. Units: the three tiers before 1 July 2025, then the two tiers in force since.
    async fn units(&self) -> Result<()> {
        let store = &self.store;
        let mut imported = Vec::new();
        for file in [UNITS_BEFORE, UNITS_AFTER] {
            let summary = usecases::import_org_units(
                store,
                parse_units_json(file)?,
                ImportValidity::default(),
                ImportScope::Anywhere,
            )
            .await?
            .summary;
            imported.push(summary);
        }
        println!(
            "1. units: until 30/06/2025 {} province, {} district, {} communes (Bắc Giang); from 01/07/2025 {} province, {} communes (Bắc Ninh, two tiers)",
            imported[0].provinces,
            imported[0].districts,
            imported[0].communes,
            imported[1].provinces,
            imported[1].communes
        );
        Ok(())
    }

    /// 2. Contacts: citizens and volunteers in each commune, most with consent: one
    ///    citizen of each commune to Zalo ZNS as well as SMS, two to SMS only. The
    ///    volunteers' ids, by commune.
    async fn contacts(&self) -> Result<Vec<Vec<String>>> {
        let (store, setup_time, actor) = (&self.store, self.setup_time, &self.actor);
        let mut citizens = 0;
        let mut volunteers: Vec<Vec<String>> = vec![Vec::new(); COMMUNES.len()];
        let mut refused = Vec::new();
        for (ci, commune) in COMMUNES.iter().enumerate() {
            for i in 0..6 {
                let role = if i < 4 {
                    ContactRole::Citizen
                } else {
                    ContactRole::Volunteer
                };
                let consent = |channel| ConsentInput {
                    channel,
                    method: "paper_form".into(),
                    wording_version: "2026-09".into(),
                    granted_at: Some(setup_time),
                };
                let consents = match i {
                    0 => vec![consent(Channel::Sms), consent(Channel::Zns)],
                    3 => Vec::new(), // registered at a session, no consent yet
                    _ => vec![consent(Channel::Sms)],
                };
                let input = ContactInput {
                    role,
                    name: format!(
                        "{} {}",
                        ["Nguyễn Văn", "Trần Thị", "Lê Minh", "Phạm Thu", "Hoàng Đức", "Vũ Ngọc"][i],
                        ["An", "Bình", "Chi"][ci]
                    ),
                    commune_code: commune.to_string(),
                    phone: format!("09{}{:07}", 1 + ci, 1_000 + i),
                    email: None,
                    consents,
                };
                let contact = usecases::register_contact(store, input, setup_time, actor).await?;
                match role {
                    ContactRole::Citizen => citizens += 1,
                    ContactRole::Volunteer => volunteers[ci].push(contact.id.to_string()),
                    ContactRole::Planner => {}
                }
                if i == 2 && ci == 0 {
                    refused.push(contact.id);
                }
            }
        }
        // A landline (no SMS possible) and two bad rows, through the CSV importer.
        let csv = "name,phone,role,commune_code,consent_sms,consent_method,consent_wording_version\n\
                   Đỗ Văn Hùng,0204 3854 123,citizen,07246,yes,paper_form,2026-09\n\
                   Bùi Thị Lan,01662 345 678,citizen,07246,yes,paper_form,2026-09\n\
                   Ngô Văn Khoa,0912 000 001,citizen,99999,no,,\n";
        let report = usecases::import_contacts(
            store,
            outreach_core::contact::parse_contacts_csv(csv)?,
            setup_time,
            actor,
            None,
        )
        .await?;
        for id in &refused {
            usecases::opt_out(
                store,
                id,
                Some(Channel::Sms),
                "sms_reply",
                setup_time + Duration::hours(1),
            )
            .await?;
        }
        let volunteer_count: usize = volunteers.iter().map(Vec::len).sum();
        println!(
            "2. contacts: {} citizens and {volunteer_count} volunteers registered; CSV import kept {} row(s), refused {}:",
            citizens + report.imported,
            report.imported,
            report.rejected.len()
        );
        for r in &report.rejected {
            println!("     row {}: {}", r.row, r.reasons.join("; "));
        }
        println!("   {} citizen(s) opted out by replying TC", refused.len());
        Ok(volunteers)
    }

    /// 3. Volunteer teams.
    async fn teams(&self, volunteers: &[Vec<String>]) -> Result<()> {
        let (store, setup_time, actor) = (&self.store, self.setup_time, &self.actor);
        for (ci, commune) in COMMUNES.iter().enumerate() {
            let team = TeamInput {
                name: format!("Đội tình nguyện tri thức trẻ {commune}"),
                leader_id: volunteers[ci].first().cloned(),
                member_ids: volunteers[ci].clone(),
            };
            usecases::put_team(store, commune, team, setup_time, actor).await?;
        }
        println!(
            "3. volunteer teams: {} teams of {} volunteers",
            COMMUNES.len(),
            volunteers[0].len()
        );
        Ok(())
    }

    /// 4. A campaign over the province: every Saturday 08:00 local; what it will cost,
    ///    before it is activated.
    async fn campaign(&self) -> Result<(Campaign, usecases::CampaignEstimate)> {
        let (store, setup_time, quarter) = (&self.store, self.setup_time, self.quarter);
        let input = CampaignInput {
            name: "Thứ Bảy dịch vụ công trực tuyến".into(),
            description: Some("Hỗ trợ người dân tạo tài khoản và nộp hồ sơ trực tuyến".into()),
            period: Period::new(
                quarter.first_day(),
                quarter.next().first_day().pred_opt().expect("date"),
            )?,
            target_units: vec![PROVINCE.into()],
            schedule: ScheduleSpec {
                cron: "0 8 * * 6".into(),
                time_zone: DEFAULT_TIME_ZONE,
            },
            session_minutes: 180,
            venues: [("07210".to_string(), "Nhà văn hoá phường Bắc Giang".to_string())].into(),
            default_venue: Some("Trụ sở UBND".into()),
            capacity: 40,
            min_staff: 2,
            reminder_rules: vec![
                ReminderRuleInput {
                    // Zalo ZNS, and SMS for whoever ZNS cannot reach (one message, never both);
                    // the SMS asks whether they will come.
                    id: Some("day-before".into()),
                    offset_minutes: 24 * 60,
                    audience: Audience::Citizens,
                    channels: vec![Channel::Zns, Channel::Sms],
                    sms_template: None,
                    email_subject: None,
                    email_template: None,
                    zns_template_id: Some("246810".into()),
                    zns_params: [
                        ("ten_khach_hang", "name"),
                        ("ngay", "date"),
                        ("gio", "time"),
                        ("dia_diem", "venue"),
                    ]
                    .into_iter()
                    .map(|(param, field)| (param.to_string(), field.to_string()))
                    .collect(),
                    asks_answer: true,
                },
                ReminderRuleInput {
                    id: Some("staff-2h".into()),
                    offset_minutes: 120,
                    audience: Audience::Volunteers,
                    channels: vec![Channel::Sms],
                    sms_template: None,
                    email_subject: None,
                    email_template: None,
                    zns_template_id: None,
                    zns_params: Default::default(),
                    asks_answer: false,
                },
            ],
            sms_unicode: false,
            max_sms_segments: 2,
        };
        let campaign = usecases::create_campaign(store, input, setup_time).await?;
        // Rule 14: what it will cost, before it is activated.
        let prices = PriceTable::default();
        let estimate = usecases::estimate_campaign(store, &campaign, &prices, setup_time).await?;
        print_estimate(&estimate);
        let campaign = usecases::act_on_campaign(store, &campaign.id, CampaignAction::Activate, setup_time).await?;
        println!(
            "4. campaign {:?}: {} in {} communes, {} reminder rules, {}",
            campaign.name,
            campaign.schedule.cron,
            campaign.communes.len(),
            campaign.reminder_rules.len(),
            campaign.status.as_str()
        );
        Ok((campaign, estimate))
    }

    /// 5. The planner runs through the quarter (once a week here; every 15 minutes in
    ///    production), materialising sessions over its rolling horizon.
    async fn plan(&self) -> Result<()> {
        let (store, setup_time, q_end) = (&self.store, self.setup_time, self.q_end);
        let horizon = Duration::days(DEFAULT_HORIZON_DAYS);
        let mut now = setup_time;
        let mut runs = 0;
        let mut created = 0;
        while now < q_end {
            created += run_planner(store, now, horizon).await?.sessions_created;
            runs += 1;
            now += Duration::days(7);
        }
        let again = run_planner(store, now - Duration::days(7), horizon).await?;
        println!(
            "5. planner: {runs} weekly runs materialised {created} sessions ({}-day horizon); running again created {}",
            DEFAULT_HORIZON_DAYS, again.sessions_created
        );
        Ok(())
    }

    /// 6. Staffing, one cancellation, one move — done a week before the sessions. The
    ///    cancelled session.
    async fn staff_and_reschedule(&self, campaign: &Campaign, volunteers: &[Vec<String>]) -> Result<Session> {
        let (store, q_start) = (&self.store, self.q_start);
        let sessions = all_sessions(store, &campaign.id).await?;
        let first_week: Vec<&Session> = sessions.iter().take(COMMUNES.len() * 4).collect();
        let office_time = q_start - Duration::days(7);
        for (i, s) in first_week.iter().enumerate() {
            let ci = COMMUNES.iter().position(|c| *c == s.commune_code).unwrap_or(0);
            // The third commune's team is short: it staffs its sessions with one volunteer.
            let staff = if ci == 2 {
                volunteers[ci][..1].to_vec()
            } else {
                volunteers[ci].clone()
            };
            if i % 5 != 4 {
                usecases::assign_staff(store, &s.id, staff, office_time).await?;
            }
        }
        let cancelled = &sessions[COMMUNES.len()];
        usecases::cancel_session(store, &cancelled.id, Some("Trùng lịch họp HĐND".into()), office_time).await?;
        let moved = &sessions[COMMUNES.len() * 2];
        let new_start = moved.starts_at + Duration::days(1);
        usecases::move_session(store, &moved.id, new_start, None, office_time).await?;
        println!(
            "6. staffing: {} sessions staffed; {} cancelled; {} moved to {}",
            first_week.len() - first_week.len() / 5,
            short_local(cancelled.starts_at),
            short_local(moved.starts_at),
            short_local(new_start)
        );
        Ok(cancelled.clone())
    }

    /// 7. The reminders of the first two weeks of October, through the same wiring `serve`
    ///    uses; the citizens who got the question by SMS answer it on the Friday before the
    ///    second Saturday, between the two stretches of reminders.
    async fn remind(
        &self,
        campaign: &Campaign,
        cancelled: &Session,
        estimate: &usecases::CampaignEstimate,
    ) -> Result<()> {
        let (store, path, q_start, quarter) = (&self.store, &self.path, self.q_start, self.quarter);
        let outbox = self.outbox();
        let app = App::build(Config::local(path.clone(), outbox.clone()), None).await?;
        let answer_time = cancelled.starts_at - Duration::hours(20);
        let before = simulate_reminders(&app, &campaign.id, q_start, answer_time).await?;
        let answers = answer_by_sms(store, &campaign.id, answer_time).await?;
        let mut reminders = simulate_reminders(&app, &campaign.id, answer_time, q_start + Duration::days(14)).await?;
        reminders.runs += before.runs;
        reminders.from = before.from;
        let dropped = session_jobs_cancelled(&app, &cancelled.id).await?;
        print_reminders(&reminders, dropped, &outbox)?;
        print_answers(store, &answers, answer_time).await?;
        let (first_day, last_day) = (
            quarter.first_day(),
            quarter.next().first_day().pred_opt().expect("date"),
        );
        let spent: u64 = store
            .delivery_tallies(
                &estimate
                    .communes
                    .iter()
                    .map(|c| c.code.as_str().into())
                    .collect::<Vec<_>>(),
                first_day,
                last_day,
            )
            .await?
            .iter()
            .map(|t| t.cost_milli_vnd)
            .sum();
        println!(
            "   chi phí đã ghi (recorded cost) of these reminders: {} đ; the whole quarter was estimated at {} đ",
            format_vnd(outreach_core::cost::vnd(spent)),
            format_vnd(estimate.total_cost_vnd)
        );
        Ok(())
    }

    /// What a planner sees: the first sessions, flagged, and the quarter's count.
    async fn print_sessions(&self, campaign: &Campaign) -> Result<Vec<Session>> {
        let (store, quarter) = (&self.store, self.quarter);
        let sessions = all_sessions(store, &campaign.id).await?;
        println!();
        println!(
            "{:<10} {:<8} {:<18} {:<10} {:>5}  flags",
            "date", "commune", "starts (local)", "status", "staff"
        );
        for s in sessions.iter().take(12) {
            let mut flags = Vec::new();
            if s.is_short_of_staff() {
                flags.push("short of staff");
            }
            if s.is_moved() {
                flags.push("moved");
            }
            println!(
                "{:<10} {:<8} {:<18} {:<10} {:>2}/{:<2}  {}",
                s.starts_at.with_timezone(&Ho_Chi_Minh).format("%d/%m/%Y"),
                s.commune_code,
                s.starts_at.with_timezone(&Ho_Chi_Minh).format("%a %H:%M %:z"),
                s.status.as_str(),
                s.staff.len(),
                s.min_staff,
                flags.join(", ")
            );
        }
        let scheduled = sessions.iter().filter(|s| s.status == SessionStatus::Scheduled).count();
        let short = sessions.iter().filter(|s| s.is_short_of_staff()).count();
        println!(
            "… {} sessions in {quarter}: {scheduled} scheduled, {short} short of staff",
            sessions.len()
        );
        Ok(sessions)
    }

    /// 8. What happened at each session, the official statistics, the year's targets, and
    ///    the quarterly summary the morning after the quarter (07:00 on 1 January), whose
    ///    time it gives.
    async fn close_quarter(&self, sessions: &[Session]) -> Result<DateTime<Utc>> {
        let (store, path, actor) = (&self.store, &self.path, &self.actor);
        let (quarter, setup_time, q_end) = (self.quarter, self.setup_time, self.q_end);
        let outbox = self.outbox();
        let (held, door) = record_sessions(store, sessions, actor).await?;
        let statistics: Vec<OfficialStatistics> = COMMUNES
            .iter()
            .enumerate()
            .map(|(i, c)| OfficialStatistics {
                commune_code: (*c).into(),
                year: quarter.year,
                quarter: quarter.quarter,
                dossiers_online: [420, 150, 90][i],
                dossiers_total: [1000, 600, 400][i],
                services_publicized: [180, 160, 120][i],
                services_total: 200,
            })
            .collect();
        usecases::set_official_statistics(store, statistics).await?;
        let targets = vec![
            target("dossiers_supported", 600.0, None, Some(AllocationInput::Equal)),
            target("youth_trained", 4000.0, None, Some(AllocationInput::Equal)),
            target("online_dossier_ratio", 40.0, Some("percent"), None),
            target("services_publicized_ratio", 100.0, Some("percent"), None),
        ];
        usecases::set_targets(store, quarter.year, PROVINCE, targets, setup_time, actor).await?;
        usecases::register_contact(
            store,
            ContactInput {
                role: ContactRole::Planner,
                name: "Phó Bí thư Tỉnh đoàn".into(),
                commune_code: PROVINCE.into(),
                phone: "0988 000 024".into(),
                email: Some("tinhdoan.bacninh@example.vn".into()),
                consents: Vec::new(),
            },
            setup_time,
            actor,
        )
        .await?;
        let mut config = Config::local(path.clone(), outbox.clone());
        config.report_orgs = vec![PROVINCE.into()];
        let app = App::build(config, None).await?;
        let summary_time = q_end + Duration::hours(7);
        let summary = app.quarterly_summary(summary_time, None).await?;
        let emailed: usize = summary.units.iter().map(|u| u.emailed).sum();
        let attachment = Outbox::read_email(&outbox)?
            .into_iter()
            .rev()
            .find_map(|m| m.attachments.into_iter().next())
            .map(|a| a.filename)
            .unwrap_or_default();
        println!();
        println!(
            "8. outcomes of {held} sessions recorded; statistics of {} communes; targets for {}; quarterly summary at {}: snapshot revision {}, emailed to {emailed} planner(s) with {attachment}",
            COMMUNES.len(),
            quarter.year,
            short_local(summary_time),
            summary.units.first().map_or(0, |u| u.revision),
        );
        println!("{door}");
        let snapshot = store
            .get_snapshot(PROVINCE, quarter, None)
            .await?
            .context("the summary kept no snapshot")?;
        print_report(&snapshot.report);
        Ok(summary_time)
    }

    fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }
}

/// 9. A report across the reform: Q2 2025's official statistics of the wards that merged
///    into Phường Bắc Giang count under it in the province's report of Q3 2025.
async fn across_the_reform(store: &SqliteStore, now: DateTime<Utc>) -> Result<()> {
    let before: Vec<OfficialStatistics> = [("07201", 300, 1000), ("07207", 200, 500), ("07228", 100, 400)]
        .into_iter()
        .map(|(commune, online, total)| OfficialStatistics {
            commune_code: commune.into(),
            year: 2025,
            quarter: 2,
            dossiers_online: online,
            dossiers_total: total,
            services_publicized: 150,
            services_total: 200,
        })
        .collect();
    usecases::set_official_statistics(store, before).await?;
    let report = usecases::quarterly_report(store, PROVINCE, Quarter { year: 2025, quarter: 3 }, now).await?;
    let share = |code: &str| {
        report
            .row(code, "online_dossier_ratio")
            .and_then(|r| r.ytd_value)
            .map_or_else(|| "—".to_string(), |v| format!("{:.1} %", v * 100.0))
    };
    println!();
    println!(
        "9. across the reform: {} of Q3/2025 (units of {}) counts the Q2 statistics of Thọ Xương and Ngô Quyền under Phường Bắc Giang: online dossiers, year to date, {} (Phường Bắc Giang), {} (Phường Đa Mai)",
        report.org_name,
        report.as_of.format("%d/%m/%Y"),
        share("07210"),
        share("07228"),
    );
    Ok(())
}

fn target(metric: &str, value: f64, unit: Option<&str>, allocate: Option<AllocationInput>) -> TargetInput {
    TargetInput {
        metric: metric.into(),
        value,
        unit: unit.map(str::to_string),
        milestones: None,
        allocate,
    }
}

/// Attendance and outcomes of every session that took place (the citizens of its commune
/// came, and a walk-in at every third), in the numbers a commune officer would send.
async fn record_sessions(store: &SqliteStore, sessions: &[Session], actor: &Actor) -> Result<(usize, String)> {
    let mut held = 0;
    let mut door = String::new();
    for (i, s) in sessions.iter().enumerate() {
        if s.status != SessionStatus::Scheduled {
            continue;
        }
        let after = s.ends_at + Duration::hours(1);
        let filter = ContactFilter {
            commune: Some(s.commune_code.clone()),
            role: Some(ContactRole::Citizen),
        };
        let mut attendees: Vec<AttendeeInput> = store
            .list_contacts(&filter, &PageRequest::first(50))
            .await?
            .items
            .into_iter()
            .map(|c| AttendeeInput {
                contact_id: Some(c.id.into_string()),
                ..Default::default()
            })
            .collect();
        if i % 3 == 0 {
            attendees.push(AttendeeInput {
                phone: Some(format!("0977 {:06}", 100_000 + i)),
                name: Some(format!("Khách vãng lai {i}")),
                ..Default::default()
            });
        }
        if i == 0 {
            // The first session's attendance is taken at the door as people arrive, from 20
            // minutes before the start: each citizen checked in (the first scanned twice),
            // then the walk-in.
            let mut scans = 0;
            for (k, a) in attendees.iter().enumerate() {
                let who = match (&a.contact_id, &a.phone, &a.name) {
                    (Some(id), _, _) => usecases::CheckIn::Contact { contact_id: id.clone() },
                    (None, Some(phone), Some(name)) => usecases::CheckIn::WalkIn {
                        phone: phone.clone(),
                        name: name.clone(),
                    },
                    _ => continue,
                };
                let at = s.starts_at - Duration::minutes(20) + Duration::minutes(3 * k as i64);
                let times = if k == 0 { 2 } else { 1 };
                for _ in 0..times {
                    usecases::check_in(store, &s.id, who.clone(), at, actor).await?;
                    scans += 1;
                }
            }
            let record = store
                .get_session_record(&s.id)
                .await?
                .context("the check-ins kept no record")?;
            door = format!(
                "   at the door of {} {}: {scans} scans checked in {} people ({} walk-in), the first scanned twice and counted once",
                s.commune_code,
                short_local(s.starts_at),
                record.attendees.len(),
                record.attendees.iter().filter(|a| a.walk_in).count()
            );
        } else {
            usecases::record_attendance(store, &s.id, AttendanceInput { attendees }, after, actor).await?;
        }
        let n = i as u64;
        let metrics = BTreeMap::from([
            ("dossiers_supported".to_string(), 9 + n % 5),
            ("accounts_created".to_string(), 6 + n % 3),
            ("youth_trained".to_string(), 70 + n % 7),
            ("cadres_trained".to_string(), 2 + n % 2),
        ]);
        usecases::record_outcomes(store, &s.id, OutcomesInput { metrics }, after, actor).await?;
        held += 1;
    }
    Ok((held, door))
}

/// The report as a planner reads it: year to date against the quarter's milestone.
fn print_report(report: &QuarterlyReport) {
    println!();
    println!(
        "Báo cáo quý {}/{} — {} (as of {})",
        report.quarter,
        report.year,
        report.org_name,
        report.as_of.format("%d/%m/%Y")
    );
    println!(
        "{:<28} {:<26} {:>9} {:>10} {:>10} {:>7}  status",
        "unit", "metric", "quarter", "year", "milestone", "%"
    );
    let shown = [
        "dossiers_supported",
        "youth_trained",
        "attendees",
        "online_dossier_ratio",
    ];
    for row in report.rows.iter().filter(|r| shown.contains(&r.metric.as_str())) {
        let figure = |v: Option<f64>| match (row.kind, v) {
            (_, None) => "—".to_string(),
            (MetricKind::Count, Some(v)) => format!("{v:.0}"),
            (MetricKind::Ratio, Some(v)) => format!("{:.1} %", v * 100.0),
        };
        let indent = if row.level == Level::Commune { "  " } else { "" };
        println!(
            "{:<28} {:<26} {:>9} {:>10} {:>10} {:>7}  {}",
            format!("{indent}{} {}", row.code, row.name),
            row.metric,
            figure(row.quarter_value),
            figure(row.ytd_value),
            figure(row.milestone),
            row.percent_of_milestone.map_or("—".into(), |p| format!("{p:.0}")),
            row.status.map_or("", |s| s.as_str())
        );
    }
    // The answers beside the attendance, for the whole area.
    let root = report.rows.first().map(|r| r.code.as_str()).unwrap_or_default();
    let share = |metric: &str| {
        report.row(root, metric).map_or("—".to_string(), |r| {
            match (r.ytd_value, r.ytd_numerator, r.ytd_denominator) {
                (Some(v), Some(n), Some(d)) => format!("{:.1} % ({n}/{d})", v * 100.0),
                _ => "—".to_string(),
            }
        })
    };
    println!(
        "   answers and attendance, year to date: confirmed {} of those asked; no-show {} of the confirmed; walk-ins {} of the citizens present",
        share("confirmation_rate"),
        share("no_show_rate"),
        share("walk_in_share")
    );
}

/// What the dispatcher and sender did over a stretch of simulated time.
struct Reminders {
    /// Distinct instants the jobs ran at.
    runs: usize,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    /// Deliveries of the campaign by outcome: `sent`, `failed`, or a suppression reason.
    outcomes: BTreeMap<(Channel, String), usize>,
}

/// Run the dispatcher, then the sender, at every instant a pending reminder job falls due
/// in `[from, until)`: what a dispatcher running every minute would do, without the idle
/// minutes in between.
async fn simulate_reminders(
    app: &App,
    campaign: &CampaignId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Reminders> {
    let mut due: Vec<DateTime<Utc>> = app
        .store
        .due_jobs(from, until, 10_000)
        .await?
        .into_iter()
        .map(|job| job.due_at)
        .filter(|at| *at < until)
        .collect();
    due.sort();
    due.dedup();
    for now in &due {
        app.dispatch(*now).await?;
        app.send_pending(*now).await?;
    }
    Ok(Reminders {
        runs: due.len(),
        from,
        until,
        outcomes: delivery_outcomes(app.store.as_ref(), campaign).await?,
    })
}

/// The outcome of a ZNS reminder that SMS carried.
const FELL_BACK: &str = "sent instead of zns";

/// The campaign's delivery log, counted by channel and outcome.
async fn delivery_outcomes(store: &dyn Store, campaign: &CampaignId) -> Result<BTreeMap<(Channel, String), usize>> {
    let filter = DeliveryFilter {
        campaign: Some(campaign.clone()),
        ..DeliveryFilter::default()
    };
    let mut page = PageRequest::first(500);
    let mut counts = BTreeMap::new();
    loop {
        let p = store.list_deliveries(&filter, &page).await?;
        for d in p.items {
            let outcome = match d.status {
                DeliveryStatus::Suppressed => d.reason.unwrap_or_else(|| "suppressed".into()),
                DeliveryStatus::Sent if d.fell_back_to_sms() => FELL_BACK.to_string(),
                status => status.as_str().to_string(),
            };
            *counts.entry((d.channel, outcome)).or_insert(0) += 1;
        }
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(counts),
        }
    }
}

/// The replies of the citizens who got the question by SMS in the day before `at` (from
/// the delivery log), in the spellings people use, through the SMS webhook's handler.
async fn answer_by_sms(
    store: &SqliteStore,
    campaign: &CampaignId,
    at: DateTime<Utc>,
) -> Result<Vec<usecases::SmsReplyOutcome>> {
    let spellings = ["1", "Có, tôi sẽ đến", "2", "ko", "Đến"];
    let filter = DeliveryFilter {
        campaign: Some(campaign.clone()),
        status: Some(DeliveryStatus::Sent),
        ..DeliveryFilter::default()
    };
    let asked: Vec<_> = store
        .list_deliveries(&filter, &PageRequest::first(500))
        .await?
        .items
        .into_iter()
        .filter(|d| d.channel == Channel::Sms && d.rule_id == "day-before")
        .filter(|d| d.updated_at > at - Duration::days(1) && d.updated_at <= at)
        .collect();
    let mut out = Vec::new();
    for (i, d) in asked.iter().enumerate() {
        let Some(phone) = store.get_contact(&d.contact_id).await?.and_then(|c| c.phone) else {
            continue;
        };
        let text = spellings[i % spellings.len()];
        out.push(usecases::handle_sms_reply(store, &phone.e164, text, usecases::DEFAULT_ANSWER_WINDOW, at).await?);
    }
    Ok(out)
}

/// What the answers made of the next day's sessions.
async fn print_answers(store: &SqliteStore, answers: &[usecases::SmsReplyOutcome], at: DateTime<Utc>) -> Result<()> {
    let recorded: Vec<&usecases::AnswerOutcome> = answers
        .iter()
        .filter_map(|a| a.answer.as_ref())
        .filter(|a| a.result == "recorded")
        .collect();
    println!(
        "   answers by SMS on {}: {} replies to the question, {} recorded",
        short_local(at),
        answers.len(),
        recorded.len()
    );
    let mut sessions: Vec<SessionId> = recorded.iter().filter_map(|a| a.session_id.clone()).collect();
    sessions.sort();
    sessions.dedup();
    for id in sessions {
        let session = usecases::get_session(store, &id).await?;
        let h = usecases::session_headcount(store, &session).await?;
        println!(
            "     headcount of {} {}: asked {}, coming {}, not coming {}, no answer {} (capacity {}{})",
            session.commune_code,
            short_local(session.starts_at),
            h.citizens.asked,
            h.citizens.coming,
            h.citizens.not_coming,
            h.citizens.no_answer,
            h.capacity,
            if h.short_of_staff { ", short of staff" } else { "" }
        );
    }
    Ok(())
}

/// Reminder jobs of a session that were dropped (its cancellation cancels them).
async fn session_jobs_cancelled(app: &App, session_id: &SessionId) -> Result<usize> {
    let jobs = app.store.session_jobs(session_id).await?;
    Ok(jobs.iter().filter(|j| j.status == JobStatus::Cancelled).count())
}

/// `1234567` as `1.234.567`, as Vietnamese writes amounts.
fn format_vnd(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

fn print_estimate(e: &usecases::CampaignEstimate) {
    println!(
        "   ước tính chi phí (estimate, before activation): {} sessions, {} đ in all ({:?} SMS route)",
        e.sessions,
        format_vnd(e.total_cost_vnd),
        e.sms_route
    );
    for c in &e.channels {
        println!(
            "     {}: {} people, {} messages, {} segments (at most {} a message), {} đ",
            c.channel.as_str(),
            c.recipients,
            c.messages,
            c.segments,
            c.max_segments_per_message,
            format_vnd(c.cost_vnd)
        );
    }
    let per_commune: Vec<String> = e
        .communes
        .iter()
        .map(|c| format!("{} {}", c.name, c.sms_segments_per_message))
        .collect();
    println!("     SMS segments a message, by commune: {}", per_commune.join(", "));
}

fn print_reminders(r: &Reminders, dropped: usize, outbox: &Path) -> Result<()> {
    let sms = Outbox::read_sms(outbox)?;
    let email = Outbox::read_email(outbox)?;
    let zns = Outbox::read_zns(outbox)?;
    let count = |channel: Channel, outcome: &str| r.outcomes.get(&(channel, outcome.to_string())).copied().unwrap_or(0);
    println!(
        "7. reminders {} to {}: dispatcher and sender run at the {} instants reminder jobs fell due",
        short_local(r.from),
        short_local(r.until),
        r.runs
    );
    let fell_back = count(Channel::Sms, FELL_BACK);
    println!(
        "   channel mix: Zalo ZNS sent: {} ({} in the outbox); SMS sent: {} ({} in the outbox), {fell_back} of them for ZNS reminders ZNS could not carry; emails sent: {} ({} in the outbox)",
        count(Channel::Zns, "sent"),
        zns.len(),
        count(Channel::Sms, "sent") + fell_back,
        sms.len(),
        count(Channel::Email, "sent"),
        email.len()
    );
    let suppressed: Vec<String> = r
        .outcomes
        .iter()
        .filter(|((_, outcome), _)| !matches!(outcome.as_str(), "sent" | "failed" | "claimed" | "retrying" | FELL_BACK))
        .map(|((channel, reason), n)| format!("{reason} {n} ({})", channel.as_str()))
        .collect();
    println!(
        "   suppressed at send time: {}",
        if suppressed.is_empty() {
            "none".to_string()
        } else {
            suppressed.join(", ")
        }
    );
    let failed = count(Channel::Sms, "failed") + count(Channel::Email, "failed") + count(Channel::Zns, "failed");
    if failed > 0 {
        println!("   failed: {failed}");
    }
    println!("   dropped before dispatch: {dropped} reminder job(s) of the cancelled session");
    if let Some(first) = zns.first() {
        let data: Vec<String> = first.template_data.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "   e.g. the ZNS to {}: template {}, {}",
            mask_phone_digits(&first.to),
            first.template_id,
            data.join(", ")
        );
    }
    if let Some(first) = sms.first() {
        println!("   e.g. the SMS to {}, as sent:", mask_phone_digits(&first.to));
        println!("     {}", first.text);
    }
    if let Some(first) = email.first() {
        println!("   e.g. the email to {}: {}", mask_email(&first.to), first.subject);
    }
    Ok(())
}

async fn all_sessions(store: &SqliteStore, campaign: &CampaignId) -> Result<Vec<Session>> {
    let filter = SessionFilter {
        campaign: Some(campaign.clone()),
        ..SessionFilter::default()
    };
    let mut page = PageRequest::first(500);
    let mut out = Vec::new();
    loop {
        let p = store.list_sessions(&filter, &page).await?;
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

fn short_local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Ho_Chi_Minh).format("%d/%m %H:%M").to_string()
}
