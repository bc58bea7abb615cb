//! Quarterly reports with hand-computed numbers, built through the use cases over the
//! SQLite store: attendance and outcomes (one resubmitted), official statistics, targets
//! allocated down the tree, a quarter boundary in local time, and the 2025 reform.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use outreach_core::campaign::CampaignStatus;
use outreach_core::contact::{ContactInput, ContactRole};
use outreach_core::ids::ContactId;
use outreach_core::org::{FormerUnit, Level, MergeKind, OrgUnit};
use outreach_core::outcome::{MetricKind, OfficialStatistics};
use outreach_core::ports::{ContactStore, OrgUnitStore, OutcomeStore, SessionStore};
use outreach_core::quarter::Quarter;
use outreach_core::report::{QuarterlyReport, Status};
use outreach_core::session::Session;
use outreach_core::target::{AllocationInput, TargetInput};
use outreach_core::usecases::{
    self, Actor, AttendanceInput, AttendeeInput, OutcomesInput, quarterly_report, record_attendance, record_outcomes,
    set_official_statistics, set_targets,
};
use outreach_store::SqliteStore;

use outreach_testkit::t;

fn unit(code: &str, name: &str, level: Level, parent: Option<&str>) -> OrgUnit {
    OrgUnit {
        code: code.into(),
        name: name.into(),
        level,
        parent_code: parent.map(Into::into),
        kind: None,
        valid_from: None,
        valid_until: None,
        former_units: Vec::new(),
    }
}

fn campaign() -> outreach_core::campaign::Campaign {
    let input = outreach_core::campaign::CampaignInput {
        name: "Ngày thứ Bảy dịch vụ công".into(),
        capacity: 100,
        ..outreach_testkit::examples::saturdays("2026-01-01", "2026-12-31", &["07441"])
    };
    let mut c = input
        .into_campaign("cp_golden".into(), vec!["07441".into()], t("2026-01-01T00:00:00Z"))
        .unwrap();
    c.status = CampaignStatus::Active;
    c
}

fn metrics(pairs: &[(&str, u64)]) -> OutcomesInput {
    OutcomesInput {
        metrics: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn stats(commune: &str, quarter: u8, online: u64, total: u64) -> OfficialStatistics {
    OfficialStatistics {
        commune_code: commune.into(),
        year: 2026,
        quarter,
        dossiers_online: online,
        dossiers_total: total,
        services_publicized: 0,
        services_total: 0,
    }
}

fn count(report: &QuarterlyReport, code: &str, metric: &str) -> (f64, f64) {
    let row = report
        .row(code, metric)
        .unwrap_or_else(|| panic!("no row {code} {metric}"));
    (row.quarter_value.unwrap(), row.ytd_value.unwrap())
}

/// Three communes in two districts. By hand (Q2 2026, milestone 50 %):
///
/// | unit | dossiers Q2 | dossiers YTD | target | milestone | % | status |
/// |---|---|---|---|---|---|---|
/// | 07441 | 25 | 40 + 25 = 65 | 300 | 150 | 43.3 | behind |
/// | 07444 | 150 (170 corrected) | 150 | 300 | 150 | 100 | on track |
/// | 07501 | 160 | 160 | — | — | — | — |
/// | 213 | 175 | 215 | 600 | 300 | 71.7 | behind |
/// | 215 | 160 | 160 | 400 | 200 | 80 | at risk |
/// | 24 | 335 | 375 | 1000 | 500 | 75 | at risk |
///
/// Online dossier ratio (target 30 % for the province, inherited below):
/// Q2: 07441 10/100, 07444 90/100, 07501 30/300; the province 130/500 = 26 %, while the
/// communes' ratios average 36.7 %. Year to date (Q1: 07441 20/50): the province
/// 150/550 = 27.27 % → 90.9 % of 30 % → at risk; district 213 120/250 = 48 % → on track.
#[tokio::test]
async fn golden_quarterly_report_rolls_up_counts_and_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("golden.db")).unwrap();
    store
        .put_org_units(&[
            unit("24", "Tỉnh Bắc Giang", Level::Province, None),
            unit("213", "Huyện Yên Dũng", Level::District, Some("24")),
            unit("215", "Huyện Lạng Giang", Level::District, Some("24")),
            unit("07441", "Xã Tân Dĩnh", Level::Commune, Some("213")),
            unit("07444", "Xã Thái Đào", Level::Commune, Some("213")),
            unit("07501", "Xã Xuân Hương", Level::Commune, Some("215")),
        ])
        .await
        .unwrap();
    let c = campaign();
    let setup = t("2026-01-01T00:00:00Z");
    let session = |commune: &str, start: &str| Session::materialise(&c, commune, t(start), setup);
    // 23:30 on 31 March in Hà Nội is Q1; 00:30 on 1 April is Q2.
    let s1 = session("07441", "2026-03-31T16:30:00Z");
    let s2 = session("07441", "2026-03-31T17:30:00Z");
    let s3 = session("07444", "2026-05-09T01:00:00Z");
    let s4 = session("07501", "2026-06-20T01:00:00Z");
    store
        .insert_sessions_if_absent(&[s1.clone(), s2.clone(), s3.clone(), s4.clone()])
        .await
        .unwrap();
    let actor = Actor::default();
    let later = t("2026-07-01T03:00:00Z");
    record_outcomes(&store, &s1.id, metrics(&[("dossiers_supported", 40)]), later, &actor)
        .await
        .unwrap();
    record_outcomes(&store, &s2.id, metrics(&[("dossiers_supported", 25)]), later, &actor)
        .await
        .unwrap();
    record_outcomes(&store, &s3.id, metrics(&[("dossiers_supported", 170)]), later, &actor)
        .await
        .unwrap();
    // Resubmitted: corrected, not added.
    record_outcomes(&store, &s3.id, metrics(&[("dossiers_supported", 150)]), later, &actor)
        .await
        .unwrap();
    record_outcomes(&store, &s4.id, metrics(&[("dossiers_supported", 160)]), later, &actor)
        .await
        .unwrap();
    // Attendance at s3: three, then corrected to two (one a walk-in).
    let mut ids = Vec::new();
    for i in 0..3 {
        let c = usecases::register_contact(
            &store,
            ContactInput {
                role: ContactRole::Citizen,
                name: format!("Người {i}"),
                commune_code: "07444".into(),
                phone: format!("0912 111 {i:03}"),
                email: None,
                consents: vec![],
            },
            setup,
            &actor,
        )
        .await
        .unwrap();
        ids.push(c.id);
    }
    let by_id = |id: &ContactId| AttendeeInput {
        contact_id: Some(id.to_string()),
        ..Default::default()
    };
    record_attendance(
        &store,
        &s3.id,
        AttendanceInput {
            attendees: ids.iter().map(by_id).collect(),
        },
        later,
        &actor,
    )
    .await
    .unwrap();
    let walk_in = AttendeeInput {
        phone: Some("0987 654 321".into()),
        name: Some("Nguyễn Văn Khách".into()),
        ..Default::default()
    };
    let record = record_attendance(
        &store,
        &s3.id,
        AttendanceInput {
            attendees: vec![by_id(&ids[0]), walk_in],
        },
        later,
        &actor,
    )
    .await
    .unwrap();
    assert_eq!(
        record.version, 4,
        "two outcome writes and two attendance writes, on one record"
    );
    let walked_in = store.find_contact_by_phone("+84987654321").await.unwrap().unwrap();
    assert!(walked_in.consents.is_empty(), "a walk-in is registered without consent");
    assert_eq!(walked_in.commune_code, "07444");

    set_official_statistics(
        &store,
        vec![
            stats("07441", 1, 20, 50),
            stats("07441", 2, 10, 100),
            stats("07444", 2, 90, 100),
            stats("07501", 2, 30, 300),
        ],
    )
    .await
    .unwrap();

    let explicit = AllocationInput::Explicit {
        shares: BTreeMap::from([("213".into(), 600.0), ("215".into(), 400.0)]),
    };
    set_targets(
        &store,
        2026,
        "24",
        vec![
            TargetInput {
                metric: "dossiers_supported".into(),
                value: 1000.0,
                unit: None,
                milestones: None,
                allocate: Some(explicit),
            },
            TargetInput {
                metric: "online_dossier_ratio".into(),
                value: 30.0,
                unit: Some("percent".into()),
                milestones: None,
                allocate: None,
            },
        ],
        setup,
        &actor,
    )
    .await
    .unwrap();
    set_targets(
        &store,
        2026,
        "213",
        vec![TargetInput {
            metric: "dossiers_supported".into(),
            value: 600.0,
            unit: None,
            milestones: None,
            allocate: Some(AllocationInput::Equal),
        }],
        setup,
        &actor,
    )
    .await
    .unwrap();

    let report = quarterly_report(&store, "24", Quarter { year: 2026, quarter: 2 }, later)
        .await
        .unwrap();
    assert_eq!(count(&report, "07441", "dossiers_supported"), (25.0, 65.0));
    assert_eq!(count(&report, "07444", "dossiers_supported"), (150.0, 150.0));
    assert_eq!(count(&report, "07501", "dossiers_supported"), (160.0, 160.0));
    assert_eq!(count(&report, "213", "dossiers_supported"), (175.0, 215.0));
    assert_eq!(count(&report, "215", "dossiers_supported"), (160.0, 160.0));
    assert_eq!(count(&report, "24", "dossiers_supported"), (335.0, 375.0));
    assert_eq!(count(&report, "07444", "attendees"), (2.0, 2.0));

    let expect = |code: &str, target: Option<f64>, milestone: Option<f64>, status: Option<Status>| {
        let row = report.row(code, "dossiers_supported").unwrap();
        assert_eq!(
            (row.target, row.milestone, row.status),
            (target, milestone, status),
            "{code}"
        );
    };
    expect("07441", Some(300.0), Some(150.0), Some(Status::Behind));
    expect("07444", Some(300.0), Some(150.0), Some(Status::OnTrack));
    expect("07501", None, None, None);
    expect("213", Some(600.0), Some(300.0), Some(Status::Behind));
    expect("215", Some(400.0), Some(200.0), Some(Status::AtRisk));
    expect("24", Some(1000.0), Some(500.0), Some(Status::AtRisk));
    assert_eq!(
        report.row("24", "dossiers_supported").unwrap().percent_of_milestone,
        Some(75.0)
    );

    // The ratio rolls up by summing numerator and denominator.
    let province = report.row("24", "online_dossier_ratio").unwrap();
    assert_eq!(province.kind, MetricKind::Ratio);
    assert_eq!(
        (province.quarter_numerator, province.quarter_denominator),
        (Some(130), Some(500))
    );
    assert_eq!(province.quarter_value, Some(0.26));
    let communes: Vec<f64> = ["07441", "07444", "07501"]
        .iter()
        .map(|c| report.row(c, "online_dossier_ratio").unwrap().quarter_value.unwrap())
        .collect();
    let average = communes.iter().sum::<f64>() / 3.0;
    assert!((average - 0.3667).abs() < 1e-3, "{average}");
    assert!(
        (province.quarter_value.unwrap() - average).abs() > 0.1,
        "the roll-up is not the average"
    );
    assert_eq!(
        (province.ytd_numerator, province.ytd_denominator),
        (Some(150), Some(550))
    );
    assert!((province.percent_of_milestone.unwrap() - 150.0 / 550.0 / 0.30 * 100.0).abs() < 1e-9);
    assert_eq!(province.status, Some(Status::AtRisk));
    let district = report.row("213", "online_dossier_ratio").unwrap();
    assert_eq!(
        (district.ytd_numerator, district.ytd_denominator),
        (Some(120), Some(250))
    );
    assert_eq!((district.target, district.status), (Some(0.3), Some(Status::OnTrack)));
    let d2 = report.row("215", "online_dossier_ratio").unwrap();
    assert_eq!((d2.ytd_value, d2.status), (Some(0.1), Some(Status::Behind)));

    // The Q1 report sees only what happened by 31 March local time.
    let q1 = quarterly_report(&store, "24", Quarter { year: 2026, quarter: 1 }, later)
        .await
        .unwrap();
    assert_eq!(count(&q1, "24", "dossiers_supported"), (40.0, 40.0));
    assert_eq!(q1.row("24", "dossiers_supported").unwrap().milestone, Some(250.0));
    // Units come in tree order: the province, each district, then its communes.
    let order: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| r.metric == "dossiers_supported")
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(order, ["24", "213", "07441", "07444", "215", "07501"]);
    each_quarter_as_its_report(&store, &["24", "213", "07441"], 2026, 2, later).await;
}

/// A year across the 1 July 2025 reform: the Q3 report counts what old communes did in Q1
/// under the new communes that took them over (full merges whole; a partial merge split
/// in equal whole shares), while the Q1 report keeps the old units.
#[tokio::test]
async fn a_year_across_the_reform_maps_old_units_to_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("reform.db")).unwrap();
    let old = |code: &str, name: &str, level, parent: Option<&str>| OrgUnit {
        valid_until: Some("2025-06-30".parse().unwrap()),
        ..unit(code, name, level, parent)
    };
    let new = |code: &str, name: &str, level, parent: Option<&str>, former: &[(&str, MergeKind)]| OrgUnit {
        valid_from: Some("2025-07-01".parse().unwrap()),
        former_units: former
            .iter()
            .map(|(c, m)| FormerUnit {
                code: (*c).into(),
                name: None,
                merge: *m,
            })
            .collect(),
        ..unit(code, name, level, parent)
    };
    store
        .put_org_units(&[
            old("24", "Tỉnh Bắc Giang", Level::Province, None),
            old("213", "Thành phố Bắc Giang", Level::District, Some("24")),
            old("07201", "Phường Thọ Xương", Level::Commune, Some("213")),
            old("07210", "Phường Hoàng Văn Thụ", Level::Commune, Some("213")),
            old("07300", "Xã Đồng Sơn", Level::Commune, Some("213")),
            new("24", "Tỉnh Bắc Ninh", Level::Province, None, &[]),
            new(
                "07210",
                "Phường Bắc Giang",
                Level::Commune,
                Some("24"),
                &[
                    ("07201", MergeKind::Full),
                    ("07210", MergeKind::Full),
                    ("07300", MergeKind::Partial),
                ],
            ),
            new(
                "07228",
                "Phường Đa Mai",
                Level::Commune,
                Some("24"),
                &[("07300", MergeKind::Partial)],
            ),
        ])
        .await
        .unwrap();
    let mut c = campaign();
    c.period =
        outreach_core::schedule::Period::new("2025-01-01".parse().unwrap(), "2025-12-31".parse().unwrap()).unwrap();
    let setup = t("2025-01-01T00:00:00Z");
    let q1 = |commune: &str| Session::materialise(&c, commune, t("2025-03-08T01:00:00Z"), setup);
    let q3 = Session::materialise(&c, "07210", t("2025-08-09T01:00:00Z"), setup);
    let sessions = [q1("07201"), q1("07210"), q1("07300"), q3.clone()];
    store.insert_sessions_if_absent(&sessions).await.unwrap();
    let actor = Actor::default();
    let now = t("2025-10-01T03:00:00Z");
    for (s, n) in sessions.iter().zip([10, 5, 7, 2]) {
        record_outcomes(&store, &s.id, metrics(&[("dossiers_supported", n)]), now, &actor)
            .await
            .unwrap();
    }

    let report = quarterly_report(&store, "24", Quarter { year: 2025, quarter: 3 }, now)
        .await
        .unwrap();
    assert_eq!(report.org_name, "Tỉnh Bắc Ninh");
    // 07210: 10 + 5 + 4 (of 07300's 7) in Q1, then 2 in Q3; 07228: the other 3.
    assert_eq!(count(&report, "07210", "dossiers_supported"), (2.0, 21.0));
    assert_eq!(count(&report, "07228", "dossiers_supported"), (0.0, 3.0));
    assert_eq!(count(&report, "24", "dossiers_supported"), (2.0, 24.0));
    assert!(report.unattributed.is_empty());
    assert!(
        report.row("213", "dossiers_supported").is_none(),
        "no districts after the reform"
    );

    let before = quarterly_report(&store, "24", Quarter { year: 2025, quarter: 1 }, now)
        .await
        .unwrap();
    assert_eq!(before.org_name, "Tỉnh Bắc Giang");
    assert_eq!(count(&before, "213", "dossiers_supported"), (22.0, 22.0));
    assert_eq!(count(&before, "07300", "dossiers_supported"), (7.0, 7.0));
    assert_eq!(count(&before, "07210", "dossiers_supported"), (5.0, 5.0));
    each_quarter_as_its_report(&store, &["24", "07210"], 2025, 3, now).await;
}

/// The figures of each quarter of the year (the report page's chart), counted without the
/// earlier quarters' reports, are those reports' own; the last report is the quarter's.
async fn each_quarter_as_its_report(store: &SqliteStore, orgs: &[&str], year: i32, through: u8, now: DateTime<Utc>) {
    for org in orgs {
        for metric in outreach_core::outcome::REPORT_METRICS.iter().map(|m| m.key) {
            let (last, values) = usecases::quarterly_report_and_quarter_values(
                store,
                org,
                Quarter { year, quarter: through },
                metric,
                now,
            )
            .await
            .unwrap();
            assert_eq!(
                last,
                quarterly_report(store, org, Quarter { year, quarter: through }, now)
                    .await
                    .unwrap()
            );
            assert_eq!(values.len(), usize::from(through));
            for (quarter, value) in (1..=through).zip(values) {
                let report = quarterly_report(store, org, Quarter { year, quarter }, now)
                    .await
                    .unwrap();
                let expected = report.row(org, metric).and_then(|r| r.quarter_value);
                assert_eq!(value, expected, "{org} {metric} Q{quarter}");
            }
        }
    }
}

/// The year's tallies as read after each write: this store's own writes, and another
/// connection's (the kept tallies of a year are dropped on either).
#[tokio::test]
async fn year_tallies_follow_writes_from_this_store_and_from_another_connection() {
    use outreach_core::outcome::{Tally, TallyKey};
    use outreach_core::quarter::Quarter;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tallies.db");
    let store = SqliteStore::open(&path).unwrap();
    let tally = |quarter: u8, unit: &str, value: i64| Tally {
        key: TallyKey {
            unit_code: unit.into(),
            quarter: Quarter { year: 2026, quarter },
            metric: "dossiers_supported".into(),
        },
        value,
    };
    assert!(
        store
            .year_tallies(Quarter { year: 2026, quarter: 4 })
            .await
            .unwrap()
            .is_empty()
    );
    store
        .set_tallies(&[tally(2, "07441", 5), tally(1, "07441", 3)])
        .await
        .unwrap();
    assert_eq!(
        store.year_tallies(Quarter { year: 2026, quarter: 4 }).await.unwrap(),
        [tally(1, "07441", 3), tally(2, "07441", 5)]
    );
    assert_eq!(
        store.year_tallies(Quarter { year: 2026, quarter: 1 }).await.unwrap(),
        [tally(1, "07441", 3)]
    );
    assert!(
        store
            .year_tallies(Quarter { year: 2025, quarter: 4 })
            .await
            .unwrap()
            .is_empty()
    );
    // Read again (kept), then changed by another connection to the same file.
    assert_eq!(
        store
            .year_tallies(Quarter { year: 2026, quarter: 2 })
            .await
            .unwrap()
            .len(),
        2
    );
    let other = SqliteStore::open(&path).unwrap();
    other
        .set_tallies(&[tally(2, "07441", 8), tally(3, "07444", 1)])
        .await
        .unwrap();
    assert_eq!(
        store.year_tallies(Quarter { year: 2026, quarter: 4 }).await.unwrap(),
        [tally(1, "07441", 3), tally(2, "07441", 8), tally(3, "07444", 1)]
    );
    assert_eq!(
        store
            .year_tallies(Quarter { year: 2026, quarter: 2 })
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Attendance waits for the session to start, and needs a session that exists.
#[tokio::test]
async fn attendance_is_refused_before_the_session_starts_and_for_unknown_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("early.db")).unwrap();
    store
        .put_org_units(&[
            unit("24", "Tỉnh Bắc Giang", Level::Province, None),
            unit("07441", "Xã Tân Dĩnh", Level::Commune, Some("24")),
        ])
        .await
        .unwrap();
    let c = campaign();
    let s = Session::materialise(&c, "07441", t("2026-05-09T01:00:00Z"), t("2026-01-01T00:00:00Z"));
    store.insert_sessions_if_absent(std::slice::from_ref(&s)).await.unwrap();
    let actor = Actor::default();
    let e = record_outcomes(
        &store,
        &s.id,
        metrics(&[("dossiers_supported", 1)]),
        s.starts_at - Duration::minutes(1),
        &actor,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("once it has started"), "{e}");
    let e = record_outcomes(
        &store,
        &"nope".into(),
        metrics(&[("dossiers_supported", 1)]),
        s.starts_at,
        &actor,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, outreach_core::CoreError::NotFound { .. }), "{e:?}");
    // A bad attendee refuses the whole list and registers nobody.
    let e = record_attendance(
        &store,
        &s.id,
        AttendanceInput {
            attendees: vec![
                AttendeeInput {
                    phone: Some("0987 000 111".into()),
                    name: Some("Khách".into()),
                    ..Default::default()
                },
                AttendeeInput {
                    phone: Some("0123 456 789".into()),
                    name: Some("Số cũ".into()),
                    ..Default::default()
                },
            ],
        },
        s.starts_at + Duration::hours(1),
        &actor,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().starts_with("attendees[1].phone"), "{e}");
    assert!(store.find_contact_by_phone("+84987000111").await.unwrap().is_none());
    assert!(store.get_session_record(&s.id).await.unwrap().is_none());
}
