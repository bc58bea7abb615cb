//! What the main writes cost in DynamoDB request units, computed from the real items'
//! sizes the way DynamoDB bills them (1 KB a write unit; every index the item appears in
//! is written too; a transaction costs double). moto reports placeholders, so this is the
//! figure to trust.
//!
//! `cargo bench -p outreach-store --features dynamodb --bench capacity`

use chrono::Duration;
use outreach_core::campaign::{Audience, CampaignInput, ReminderRuleInput, ScheduleSpec};
use outreach_core::contact::{Channel, ConsentInput, ContactInput, ContactRole};
use outreach_core::schedule::{DEFAULT_TIME_ZONE, Period};
use outreach_core::session::Session;
use outreach_store::dynamodb::items;
use outreach_store::dynamodb::size::{item_size, put_cost, read_units};

use outreach_testkit::t;

fn main() {
    let now = t("2026-09-15T02:00:00Z");
    let communes: Vec<String> = (0..31).map(|i| format!("{:05}", 7201 + 3 * i)).collect();
    let rule = |id: &str, minutes, audience, channels: Vec<Channel>| ReminderRuleInput {
        id: Some(id.into()),
        offset_minutes: minutes,
        audience,
        channels,
        sms_template: None,
        email_subject: None,
        email_template: None,
        zns_template_id: None,
        zns_params: Default::default(),
        asks_answer: false,
    };
    let input = CampaignInput {
        name: "Thứ Bảy dịch vụ công trực tuyến".into(),
        description: Some("Hỗ trợ người dân tạo tài khoản và nộp hồ sơ trực tuyến mức độ 3, 4".into()),
        period: Period::new("2026-10-01".parse().unwrap(), "2026-12-31".parse().unwrap()).unwrap(),
        target_units: vec!["213".into()],
        schedule: ScheduleSpec {
            cron: "0 8 * * 6".into(),
            time_zone: DEFAULT_TIME_ZONE,
        },
        session_minutes: 180,
        venues: communes
            .iter()
            .map(|c| (c.clone(), format!("Nhà văn hoá {c}")))
            .collect(),
        default_venue: Some("Trụ sở UBND".into()),
        capacity: 40,
        min_staff: 2,
        reminder_rules: vec![
            rule(
                "day-before",
                1440,
                Audience::Citizens,
                vec![Channel::Sms, Channel::Email],
            ),
            rule("staff-2h", 120, Audience::Volunteers, vec![Channel::Sms]),
        ],
        sms_unicode: false,
        max_sms_segments: 2,
    };
    let campaign = input
        .into_campaign(
            "cmp_0193a1b2c3d4e5f60718293a4b5c6d7e".into(),
            communes.iter().map(Into::into).collect(),
            now,
        )
        .unwrap();
    let campaign_item = items::encode(&items::campaign(&campaign)).unwrap();
    let create_campaign = put_cost(&campaign_item);

    let mut session_bytes = 0;
    let mut sessions_wcu = 0;
    let mut start = t("2026-10-03T01:00:00Z");
    let mut made = 0;
    while made < 100 {
        for commune in &communes {
            if made == 100 {
                break;
            }
            let s = Session::materialise(&campaign, commune, start, now);
            let raw = items::encode(&items::session(&s)).unwrap();
            session_bytes += item_size(&raw);
            sessions_wcu += put_cost(&raw);
            made += 1;
        }
        start += Duration::weeks(1);
    }
    // The planner also moves the campaign's watermark once.
    let materialise = sessions_wcu + create_campaign;

    let mut contact_bytes = 0;
    let mut contacts_wcu = 0;
    for i in 0..1000 {
        let contact = ContactInput {
            role: if i % 10 == 0 {
                ContactRole::Volunteer
            } else {
                ContactRole::Citizen
            },
            name: "Nguyễn Thị Thanh Hương".into(),
            commune_code: communes[i % communes.len()].clone(),
            phone: format!("09{:08}", 12_000_000 + i),
            email: (i % 3 == 0).then(|| format!("nguoidan{i}@example.vn")),
            consents: vec![ConsentInput {
                channel: Channel::Sms,
                method: "paper_form".into(),
                wording_version: "2026-09".into(),
                granted_at: Some(now),
            }],
        }
        .into_contact(
            format!("ct_0193a1b2c3d4e5f6{i:016}").into(),
            now,
            Some("planner-bg".into()),
        )
        .unwrap();
        let record = items::encode(&items::contact(&contact)).unwrap();
        let lock = items::encode(&items::phone_lock(&contact).unwrap()).unwrap();
        contact_bytes += item_size(&record);
        // A transaction (contact + phone reservation) costs twice the plain writes.
        contacts_wcu += 2 * (put_cost(&record) + put_cost(&lock));
    }

    println!("DynamoDB request units, computed from item sizes (on-demand billing)");
    println!();
    println!("{:<44} {:>10} {:>12}", "operation", "item bytes", "write units");
    println!(
        "{:<44} {:>10} {:>12}",
        "create a campaign (31 communes, 2 rules)",
        item_size(&campaign_item),
        create_campaign
    );
    println!(
        "{:<44} {:>10} {:>12}",
        "materialise 100 sessions (+ watermark)",
        session_bytes / 100,
        materialise
    );
    println!(
        "{:<44} {:>10} {:>12}",
        "register 1,000 contacts (transactions)",
        contact_bytes / 1000,
        contacts_wcu
    );
    println!();
    println!(
        "per session: {:.1} WU; per contact: {:.1} WU; reading a session: {} RU (strongly consistent)",
        sessions_wcu as f64 / 100.0,
        contacts_wcu as f64 / 1000.0,
        read_units(session_bytes / 100)
    );
    println!("writes count the table and each index the item is in (sessions: 3 indexes, contacts: 3, campaigns: 2)");
}
