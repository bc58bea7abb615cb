//! The dashboard over the real router on a socket: signing in, every page as every role,
//! forged cross-site posts, Vietnamese errors beside their fields, attendance with a
//! walk-in, an import's refused rows, and the assets' caching.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::{StepClock, t};
use outreach_api::auth::LOCAL_ISSUER;
use outreach_api::{AuthConfig, Role};
use outreach_core::ids::{CampaignId, ContactId, SessionId};
use outreach_core::ports::{CampaignStore, Clock, OutcomeStore, SessionStore, TeamStore};
use outreach_core::quarter::Quarter;
use outreach_core::session::Session;
use outreach_store::SqliteStore;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

const SECRET: &[u8] = b"a-dashboard-test-secret-of-32-bytes-or-more";

struct Ui {
    base: String,
    http: reqwest::Client,
    auth: AuthConfig,
    store: Arc<SqliteStore>,
    clock: Arc<StepClock>,
    /// A session of commune 07201 that has started, one of 07202 to come, and one of
    /// 07201 to come.
    past: SessionId,
    other_commune: SessionId,
    next: SessionId,
    citizen: String,
    _dir: tempfile::TempDir,
}

/// Province 24 (district 213: communes 07201, 07202) with a campaign, a team, a citizen
/// and sessions; province 99 beside it.
async fn ui() -> Ui {
    let auth = AuthConfig::hs256(SECRET, LOCAL_ISSUER).unwrap();
    let clock = StepClock::at("2026-09-01T03:00:00Z");
    let served = common::serve(auth.clone(), clock.clone(), None).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let admin = auth.mint("admin", Role::Admin, "24", Utc::now(), Duration::hours(1));
    let api = |method: reqwest::Method, path: &str, body: Value| {
        let request = http
            .request(method, format!("{}{path}", served.base))
            .bearer_auth(&admin)
            .json(&body);
        let path = path.to_string();
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{path}: {status} {body}");
            body
        }
    };
    api(
        reqwest::Method::POST,
        "/v1/org-units:import",
        json!([
            {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": null},
            {"code": "213", "name": "Thành phố Bắc Giang", "level": "district", "parent_code": "24"},
            {"code": "07201", "name": "Phường Thọ Xương", "level": "commune", "parent_code": "213"},
            {"code": "07202", "name": "Phường Trần Nguyên Hãn", "level": "commune", "parent_code": "213"}
        ]),
    )
    .await;
    let consent = json!([{"channel": "sms", "method": "paper_form", "wording_version": "v1"}]);
    let citizen = api(
        reqwest::Method::POST,
        "/v1/contacts",
        json!({"role": "citizen", "name": "Nguyễn Văn An", "commune_code": "07201", "phone": "0981000001", "consents": consent}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    api(
        reqwest::Method::POST,
        "/v1/contacts",
        json!({"role": "citizen", "name": "Lê Thị Bích", "commune_code": "07202", "phone": "0981000003", "consents": consent}),
    )
    .await;
    let volunteer = api(
        reqwest::Method::POST,
        "/v1/contacts",
        json!({"role": "volunteer", "name": "Trần Minh Đức", "commune_code": "07201", "phone": "0981000002", "consents": consent}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    api(
        reqwest::Method::PUT,
        "/v1/teams/07201",
        json!({"name": "Đội TN Thọ Xương", "member_ids": [volunteer]}),
    )
    .await;
    let campaign = api(
        reqwest::Method::POST,
        "/v1/campaigns",
        json!({"name": "Hỗ trợ dịch vụ công Q4", "period": {"start": "2026-09-01", "end": "2026-12-31"},
               "target_units": ["213"], "schedule": {"cron": "0 8 * * 6"}, "capacity": 40, "min_staff": 1,
               "default_venue": "Nhà văn hóa tổ 5"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .into();
    let stored = served.store.get_campaign(&campaign).await.unwrap().unwrap();
    let now = clock.now();
    let past = Session::materialise(&stored, "07201", t("2026-09-05T01:00:00Z"), now);
    let other = Session::materialise(&stored, "07202", t("2026-09-12T01:00:00Z"), now);
    let next = Session::materialise(&stored, "07201", t("2026-09-12T01:00:00Z"), now);
    served
        .store
        .insert_sessions_if_absent(&[past.clone(), other.clone(), next.clone()])
        .await
        .unwrap();
    assert!(served.store.get_team("07201").await.unwrap().is_some());
    clock.set("2026-09-06T03:00:00Z");
    Ui {
        base: served.base,
        http,
        auth,
        store: served.store,
        clock,
        past: past.id,
        other_commune: other.id,
        next: next.id,
        citizen,
        _dir: served.dir,
    }
}

/// A signed-in browser: its cookie and the form token of its pages.
struct Browser<'a> {
    ui: &'a Ui,
    cookie: String,
}

impl Ui {
    /// Call the API as the province's admin; the call must succeed.
    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token(Role::Admin, "24"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    fn token(&self, role: Role, org: &str) -> String {
        self.auth.mint("nguoi-dung", role, org, Utc::now(), Duration::hours(1))
    }

    async fn sign_in(&self, role: Role, org: &str) -> Browser<'_> {
        let response = self
            .http
            .post(format!("{}/ui/dang-nhap", self.base))
            .header(ORIGIN, &self.base)
            .form(&[("token", self.token(role, org))])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
        Browser {
            ui: self,
            cookie: cookie.split(';').next().unwrap().to_string(),
        }
    }
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .ui
            .http
            .get(format!("{}{path}", self.ui.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// The form token on a page.
    async fn csrf(&self) -> String {
        let (_, page) = self.get("/ui/tong-quan").await;
        let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
        page[at..at + 32].to_string()
    }

    /// Post a form as this browser from `origin`: the status, the page and where it leads.
    async fn post(&self, path: &str, origin: &str, fields: &[(&str, &str)]) -> (StatusCode, String, Option<String>) {
        self.send(path, origin, |request| request.form(fields)).await
    }

    /// Post `body` (a multipart form) as this browser from this site.
    async fn post_multipart(&self, path: &str, boundary: &str, body: String) -> (StatusCode, String, Option<String>) {
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.send(path, &self.ui.base, |request| {
            request.header("content-type", content_type).body(body)
        })
        .await
    }

    async fn send(
        &self,
        path: &str,
        origin: &str,
        body: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> (StatusCode, String, Option<String>) {
        let request = self
            .ui
            .http
            .post(format!("{}{path}", self.ui.base))
            .header(COOKIE, &self.cookie)
            .header(ORIGIN, origin);
        let response = body(request).send().await.unwrap();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_string());
        (response.status(), response.text().await.unwrap(), location)
    }
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_that_every_page_needs() {
    let ui = ui().await;
    let anonymous = ui.http.get(format!("{}/ui/tong-quan", ui.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/ui/dang-nhap");
    let page = ui.http.get(format!("{}/ui/dang-nhap", ui.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("<html lang=\"vi\">") && text.contains("Mã đăng nhập"),
        "{text}"
    );

    let response = ui
        .http
        .post(format!("{}/ui/dang-nhap", ui.base))
        .header(ORIGIN, &ui.base)
        .form(&[("token", ui.token(Role::Planner, "213"))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    for part in ["outreach_phien=", "HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP on a laptop: {cookie}");

    let forged = ui
        .http
        .post(format!("{}/ui/dang-nhap", ui.base))
        .form(&[("token", "not-a-token")])
        .header(ORIGIN, &ui.base)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("Mã đăng nhập không hợp lệ hoặc đã hết hạn.")
    );
    let cross_site = ui
        .http
        .post(format!("{}/ui/dang-nhap", ui.base))
        .header(ORIGIN, "https://evil.example")
        .form(&[("token", ui.token(Role::Admin, "24"))])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);

    // Behind HTTPS the cookie is Secure.
    let https = ui
        .http
        .post(format!("{}/ui/dang-nhap", ui.base))
        .header(ORIGIN, &ui.base)
        .header("x-forwarded-proto", "https")
        .form(&[("token", ui.token(Role::Planner, "213"))])
        .send()
        .await
        .unwrap();
    assert!(https.headers()[SET_COOKIE].to_str().unwrap().contains("; Secure"));
}

#[tokio::test]
async fn a_one_time_sign_in_link_signs_in_once() {
    let ui = ui().await;
    let link = ui
        .auth
        .mint_sign_in("can-bo", Role::CommuneOfficer, "07201", "jti-1", Utc::now());
    let page = ui
        .http
        .get(format!("{}/ui/dang-nhap/lien-ket?token={link}", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Cán bộ xã · 07201"));
    let post = || {
        ui.http
            .post(format!("{}/ui/dang-nhap/lien-ket", ui.base))
            .header(ORIGIN, &ui.base)
            .form(&[("token", link.as_str())])
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert!(first.headers()[SET_COOKIE].to_str().unwrap().contains("HttpOnly"));
    let again = post().await.unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again.text().await.unwrap().contains("Liên kết này đã được dùng"));
    // An API token is no sign-in link.
    let api_token = ui.token(Role::Admin, "24");
    let wrong = ui
        .http
        .get(format!("{}/ui/dang-nhap/lien-ket?token={api_token}", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_page_answers_each_role_in_vietnamese_and_offers_only_what_it_may_do() {
    let ui = ui().await;
    let pages = [
        "/ui/tong-quan",
        "/ui/buoi",
        "/ui/buoi/lich?view=thang",
        "/ui/buoi/PAST",
        "/ui/chien-dich",
        "/ui/chien-dich/moi",
        "/ui/nguoi",
        "/ui/bao-cao",
    ];
    // What each role gets on each page, in the order above.
    let expected = [
        (Role::Admin, "24", [200, 200, 200, 200, 200, 200, 200, 200]),
        (Role::Planner, "213", [200, 200, 200, 200, 200, 200, 200, 200]),
        (Role::CommuneOfficer, "07201", [200, 200, 200, 200, 403, 403, 200, 200]),
        (Role::Viewer, "213", [200, 403, 403, 403, 403, 403, 403, 200]),
    ];
    for (role, org, statuses) in expected {
        let browser = ui.sign_in(role, org).await;
        for (page, status) in pages.iter().zip(statuses) {
            let path = page.replace("PAST", ui.past.as_str());
            let (got, body) = browser.get(&path).await;
            assert_eq!(got.as_u16(), status, "{role:?} {path}: {body}");
            assert!(body.contains("lang=\"vi\""), "{role:?} {path}");
            if got == StatusCode::OK {
                assert!(body.contains("Đăng xuất"), "{role:?} {path}");
            }
        }
        let (_, overview) = browser.get("/ui/tong-quan").await;
        assert_eq!(
            overview.contains("href=\"/ui/chien-dich\""),
            matches!(role, Role::Admin | Role::Planner),
            "{role:?}: the campaigns menu only for those who may use it"
        );
        assert_eq!(
            overview.contains("Tin nhắn 7 ngày qua"),
            matches!(role, Role::Admin | Role::Planner),
            "{role:?}: the delivery log's figures only for those who read it"
        );
        let (_, session) = browser.get(&format!("/ui/buoi/{}", ui.past)).await;
        assert_eq!(
            session.contains("Tin nhắn của buổi"),
            matches!(role, Role::Admin | Role::Planner),
            "{role:?}: a session's message timeline only for those who read the delivery log"
        );
        assert_eq!(
            session.contains("action=\"/ui/buoi/") && session.contains("/diem-danh\""),
            role != Role::Viewer,
            "{role:?}: attendance is offered to those who may record it"
        );
    }
}

#[tokio::test]
async fn a_commune_officer_sees_only_their_commune() {
    let ui = ui().await;
    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let (status, _) = officer.get(&format!("/ui/buoi/{}", ui.other_commune)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, people) = officer.get("/ui/nguoi").await;
    assert!(people.contains("Nguyễn Văn An"), "{people}");
    assert!(!people.contains("Lê Thị Bích"), "a citizen of 07202 on 07201's page");
    let (_, sessions) = officer.get("/ui/buoi?from=2026-09-01&to=2026-09-30").await;
    assert!(
        sessions.contains(ui.next.as_str()) && !sessions.contains(ui.other_commune.as_str()),
        "{sessions}"
    );
    let foreign = ui.sign_in(Role::Planner, "99").await;
    let (status, _) = foreign.get(&format!("/ui/buoi/{}", ui.past)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_calendar_shows_a_week_or_a_month_of_sessions_with_the_lists_filters() {
    let ui = ui().await;
    let planner = ui.sign_in(Role::Planner, "213").await;
    let link = |id: &SessionId| format!("href=\"/ui/buoi/{id}\"");
    let (status, week) = planner.get("/ui/buoi/lich?view=tuan&from=2026-09-10").await;
    assert_eq!(status, StatusCode::OK, "{week}");
    assert!(week.contains("Tuần 07/09/2026 – 13/09/2026"), "{week}");
    assert!(
        week.contains(&link(&ui.next)) && week.contains(&link(&ui.other_commune)) && !week.contains(&link(&ui.past)),
        "the week's sessions only: {week}"
    );
    assert!(week.contains("aria-label=\"Thứ Bảy 12/09/2026\""), "{week}");
    assert!(week.contains("TNV 0/1 — thiếu"), "staffing x/y: {week}");
    assert!(
        week.contains("href=\"/ui/buoi/lich?view=tuan&#38;from=2026-08-31\""),
        "the week before: {week}"
    );
    let (_, month) = planner.get("/ui/buoi/lich?view=thang&from=2026-09-20").await;
    assert!(month.contains("Tháng 9/2026") && month.contains("3 buổi"), "{month}");
    for id in [&ui.past, &ui.next, &ui.other_commune] {
        assert!(month.contains(&link(id)), "{id} in the month: {month}");
    }
    assert!(
        month.contains("href=\"/ui/buoi/lich?view=thang&#38;from=2026-10-01\""),
        "the month after"
    );
    // The list's filters: commune, campaign, status; carried by every link of the page.
    let (_, one) = planner
        .get("/ui/buoi/lich?view=thang&from=2026-09-01&commune=07202")
        .await;
    assert!(
        one.contains(&link(&ui.other_commune)) && !one.contains(&link(&ui.next)),
        "{one}"
    );
    assert!(one.contains("view=tuan&#38;from=2026-09-01&#38;commune=07202"), "{one}");
    let campaign = ui.store.get_session(&ui.past).await.unwrap().unwrap().campaign_id;
    let (_, by_campaign) = planner
        .get(&format!("/ui/buoi/lich?view=thang&from=2026-09-01&campaign={campaign}"))
        .await;
    assert!(by_campaign.contains(&format!("<option value=\"{campaign}\" selected>")));
    assert!(by_campaign.contains("3 buổi"), "{by_campaign}");
    let (_, cancelled) = planner
        .get("/ui/buoi/lich?view=thang&from=2026-09-01&status=cancelled")
        .await;
    assert!(cancelled.contains("0 buổi") && !cancelled.contains(&link(&ui.next)));
    // The list links to the calendar of the same filters.
    let (_, list) = planner
        .get("/ui/buoi?from=2026-09-01&commune=07201&status=scheduled")
        .await;
    assert!(
        list.contains("href=\"/ui/buoi/lich?view=tuan&#38;from=2026-09-01&#38;commune=07201&#38;status=scheduled\""),
        "{list}"
    );
    // An officer's calendar is their commune's, whatever the query says.
    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let (status, month) = officer
        .get("/ui/buoi/lich?view=thang&from=2026-09-01&commune=07202")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        month.contains(&link(&ui.past)) && month.contains(&link(&ui.next)) && !month.contains(&link(&ui.other_commune)),
        "{month}"
    );
    let viewer = ui.sign_in(Role::Viewer, "213").await;
    let (status, _) = viewer.get("/ui/buoi/lich?view=tuan").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_forged_cross_site_post_is_refused_and_changes_nothing() {
    let ui = ui().await;
    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let csrf = officer.csrf().await;
    let path = format!("/ui/buoi/{}/diem-danh", ui.past);
    let fields = [("csrf", csrf.as_str()), ("present", ui.citizen.as_str())];
    let (status, body, _) = officer.post(&path, "https://evil.example", &fields).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("không xuất phát từ trang này"));
    let wrong_token = [
        ("csrf", "0123456789abcdef0123456789abcdef"),
        ("present", ui.citizen.as_str()),
    ];
    let (status, _, _) = officer.post(&path, &ui.base, &wrong_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        ui.store.get_session_record(&ui.past).await.unwrap().is_none(),
        "nothing recorded"
    );
    // A viewer's own form post is refused as the API refuses it.
    let viewer = ui.sign_in(Role::Viewer, "213").await;
    let csrf = viewer.csrf().await;
    let (status, _, _) = viewer
        .post(
            &path,
            &ui.base,
            &[("csrf", csrf.as_str()), ("present", ui.citizen.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(ui.store.get_session_record(&ui.past).await.unwrap().is_none());
}

#[tokio::test]
async fn attendance_with_a_walk_in_and_outcomes_are_recorded_through_the_page() {
    let ui = ui().await;
    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let csrf = officer.csrf().await;
    let path = format!("/ui/buoi/{}/diem-danh", ui.past);
    // A walk-in with a bad number: the error is beside its row, in Vietnamese, and nothing is kept.
    let (status, page, _) = officer
        .post(
            &path,
            &ui.base,
            &[
                ("csrf", &csrf),
                ("present", &ui.citizen),
                ("walkin_phone_0", "01662345678"),
                ("walkin_name_0", "Phạm Văn Em"),
                ("walkin_phone_1", ""),
                ("walkin_name_1", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"walkin_error_0\""), "{page}");
    assert!(page.contains("hãy viết 0362345678"), "{page}");
    assert!(page.contains("value=\"01662345678\""), "the row keeps what was typed");
    assert!(ui.store.get_session_record(&ui.past).await.unwrap().is_none());

    let (status, _, location) = officer
        .post(
            &path,
            &ui.base,
            &[
                ("csrf", &csrf),
                ("present", &ui.citizen),
                ("walkin_phone_0", "0362345678"),
                ("walkin_name_0", "Phạm Văn Em"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.unwrap(), format!("/ui/buoi/{}?ok=diem-danh#tham-du", ui.past));
    let record = ui.store.get_session_record(&ui.past).await.unwrap().unwrap();
    assert_eq!(record.attendees.len(), 2);
    assert_eq!(record.attendees.iter().filter(|a| a.walk_in).count(), 1);
    let (_, page) = officer.get(&format!("/ui/buoi/{}?ok=diem-danh", ui.past)).await;
    assert!(page.contains("Đã lưu danh sách tham dự."));
    assert!(
        page.contains("2 người tham dự, trong đó 1 người đến trực tiếp"),
        "{page}"
    );

    let (status, _, _) = officer
        .post(
            &format!("/ui/buoi/{}/ket-qua", ui.past),
            &ui.base,
            &[("csrf", &csrf), ("dossiers_supported", "7"), ("accounts_created", "3")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let record = ui.store.get_session_record(&ui.past).await.unwrap().unwrap();
    assert_eq!(record.outcomes.get("dossiers_supported"), Some(&7));
}

#[tokio::test]
async fn a_refused_outcome_form_keeps_every_figure_typed_with_the_error_beside_the_bad_one() {
    let ui = ui().await;
    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let csrf = officer.csrf().await;
    let path = format!("/ui/buoi/{}/ket-qua", ui.past);
    let (status, page, _) = officer
        .post(
            &path,
            &ui.base,
            &[("csrf", &csrf), ("dossiers_supported", "7"), ("accounts_created", "ba")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let error_at = page
        .find("id=\"err-m_accounts_created\"")
        .expect("the error beside its field");
    assert!(page[error_at..].starts_with("id=\"err-m_accounts_created\">Hãy nhập một số nguyên không âm."));
    assert!(
        page.contains("name=\"dossiers_supported\" value=\"7\""),
        "the good figure is kept: {page}"
    );
    assert!(
        page.contains("name=\"accounts_created\" value=\"ba\""),
        "the bad one as typed"
    );
    assert!(ui.store.get_session_record(&ui.past).await.unwrap().is_none());
    // A figure the use case refuses is named beside its field too.
    let (status, page, _) = officer
        .post(
            &path,
            &ui.base,
            &[
                ("csrf", &csrf),
                ("dossiers_supported", "2000000"),
                ("accounts_created", "3"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("id=\"err-m_dossiers_supported\">Quá lớn cho một buổi (tối đa 1.000.000).</p>"),
        "{page}"
    );
    assert!(page.contains("name=\"accounts_created\" value=\"3\""), "{page}");
    assert!(ui.store.get_session_record(&ui.past).await.unwrap().is_none());
}

#[tokio::test]
async fn a_session_to_come_is_moved_with_its_reminders_and_can_be_cancelled() {
    let ui = ui().await;
    let planner = ui.sign_in(Role::Planner, "213").await;
    let (_, page) = planner.get(&format!("/ui/buoi/{}", ui.next)).await;
    assert!(page.contains("lời nhắc chưa gửi sẽ được dời theo giờ mới"), "{page}");
    let csrf = planner.csrf().await;
    let path = format!("/ui/buoi/{}/doi-lich", ui.next);
    let (status, page, _) = planner
        .post(
            &path,
            &ui.base,
            &[("csrf", &csrf), ("date", "2026-09-13"), ("time", "8 giờ")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Hãy chọn ngày và giờ mới"), "{page}");
    assert!(
        page.contains("id=\"err-move\"") && page.contains("value=\"8 giờ\"") && page.contains("value=\"2026-09-13\""),
        "the move form keeps what was typed: {page}"
    );
    // A person who is not in the commune's team: the reason beside the staff form.
    let (status, page, _) = planner
        .post(
            &format!("/ui/buoi/{}/nhan-su", ui.next),
            &ui.base,
            &[("csrf", &csrf), ("volunteer", &ui.citizen)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("id=\"err-staff\"") && page.contains("Người này không thuộc đội tình nguyện của xã."),
        "{page}"
    );
    let (status, _, location) = planner
        .post(
            &path,
            &ui.base,
            &[("csrf", &csrf), ("date", "2026-09-13"), ("time", "14:00")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location:?}");
    let moved = ui.store.get_session(&ui.next).await.unwrap().unwrap();
    assert_eq!(moved.starts_at, t("2026-09-13T07:00:00Z"), "14:00 in Hà Nội");
    let (status, _, _) = planner
        .post(
            &format!("/ui/buoi/{}/huy", ui.next),
            &ui.base,
            &[("csrf", &csrf), ("reason", "Mưa bão")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cancelled = ui.store.get_session(&ui.next).await.unwrap().unwrap();
    assert_eq!(cancelled.status, outreach_core::session::SessionStatus::Cancelled);
    let (_, page) = planner.get(&format!("/ui/buoi/{}?ok=huy", ui.next)).await;
    assert!(page.contains("Đã hủy buổi") && !page.contains("/doi-lich\""), "{page}");
}

#[tokio::test]
async fn a_refused_registration_shows_the_vietnamese_error_beside_its_field() {
    let ui = ui().await;
    let planner = ui.sign_in(Role::Planner, "213").await;
    let csrf = planner.csrf().await;
    let (status, page, _) = planner
        .post(
            "/ui/nguoi",
            &ui.base,
            &[
                ("csrf", &csrf),
                ("name", "Hoàng Thị Phương"),
                ("phone", "0981000001"),
                ("commune", "07201"),
                ("role", "citizen"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"err-phone\""), "{page}");
    assert!(page.contains("Số điện thoại này đã được đăng ký."));
    assert!(
        page.contains("value=\"Hoàng Thị Phương\""),
        "the form keeps what was typed"
    );
    let (status, page, _) = planner
        .post(
            "/ui/nguoi",
            &ui.base,
            &[
                ("csrf", &csrf),
                ("name", ""),
                ("phone", "0981000009"),
                ("commune", "07201"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("id=\"err-name\"") && page.contains("Chưa nhập họ và tên."),
        "{page}"
    );
    let (status, _, location) = planner
        .post(
            "/ui/nguoi",
            &ui.base,
            &[
                ("csrf", &csrf),
                ("name", "Hoàng Thị Phương"),
                ("phone", "0981000009"),
                ("commune", "07201"),
                ("consent_sms", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/ui/nguoi?ok=dang-ky"));
}

#[tokio::test]
async fn the_people_list_filters_by_role_consent_and_name_or_number_as_links() {
    let ui = ui().await;
    let planner = ui.sign_in(Role::Planner, "213").await;
    let csrf = planner.csrf().await;
    // One who agreed to nothing, and one who opted out of SMS.
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "Hoàng Thị Phương"),
        ("phone", "0981000009"),
        ("commune", "07202"),
        ("role", "citizen"),
    ];
    let (status, _, _) = planner.post("/ui/nguoi", &ui.base, &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    outreach_core::usecases::opt_out(
        ui.store.as_ref(),
        &ContactId::from(&ui.citizen),
        Some(outreach_core::contact::Channel::Sms),
        "planner",
        ui.clock.now(),
    )
    .await
    .unwrap();
    let names = ["Nguyễn Văn An", "Lê Thị Bích", "Trần Minh Đức", "Hoàng Thị Phương"];
    let cases: [(&str, [bool; 4]); 8] = [
        ("", [true, true, true, true]),
        ("?role=volunteer", [false, false, true, false]),
        ("?role=citizen&commune=07202", [false, true, false, true]),
        ("?consent=sms", [false, true, true, false]),
        ("?consent=tu-choi", [true, false, false, false]),
        ("?consent=chua-dong-y", [false, false, false, true]),
        ("?q=tran+minh", [false, false, true, false]),
        ("?q=%2B84981000003", [false, true, false, false]),
    ];
    for (query, shown) in cases {
        let (status, page) = planner.get(&format!("/ui/nguoi{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        let list = &page[page.find("id=\"h-list\"").unwrap()..];
        for (name, expected) in names.iter().zip(shown) {
            assert_eq!(list.contains(name), expected, "{name} for {query}: {list}");
        }
    }
    let (_, page) = planner
        .get("/ui/nguoi?role=volunteer&consent=tu-choi&q=0981000002")
        .await;
    assert!(page.contains("Không có ai khớp bộ lọc."), "{page}");
    assert!(
        page.contains("<option value=\"volunteer\" selected>") && page.contains("value=\"0981000002\""),
        "the filters show what is chosen"
    );
    let (_, page) = planner.get("/ui/nguoi?q=0981000001").await;
    assert!(page.contains("Đã từ chối"), "the list shows the opt-out: {page}");
    // An officer filters within their commune only.
    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let (_, page) = officer.get("/ui/nguoi?role=citizen&commune=07202").await;
    let list = &page[page.find("id=\"h-list\"").unwrap()..];
    assert!(
        list.contains("Nguyễn Văn An") && !list.contains("Lê Thị Bích") && !list.contains("Trần Minh Đức"),
        "{list}"
    );
}

#[tokio::test]
async fn an_import_lists_each_refused_row_by_its_line_and_offers_them_back() {
    let ui = ui().await;
    let planner = ui.sign_in(Role::Planner, "213").await;
    let csrf = planner.csrf().await;
    let csv = "\u{feff}name,phone,role,commune_code\r\nVõ Thị Giang,0981000011,citizen,07201\r\nĐặng Văn Hùng,12345,citizen,07201\r\nBùi Thị Lan,0981000012,citizen,07202\r\n";
    let boundary = "----outreach-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"danh-sach.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    let (status, page, _) = planner.post_multipart("/ui/nguoi/nhap", boundary, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Đã nhập 2 người."), "{page}");
    assert!(
        page.contains("<td class=\"num\">3</td>"),
        "line 3 as an editor shows it: {page}"
    );
    assert!(page.contains("Số điện thoại không hợp lệ."), "{page}");
    assert!(page.contains("download=\"dong-bi-tu-choi.csv\""));
    assert!(page.contains("12345"), "the refused row comes back as written");
}

#[tokio::test]
async fn a_planner_sets_the_years_targets_allocated_to_the_communes_and_sees_them_on_the_overview() {
    let ui = ui().await;
    let planner = ui.sign_in(Role::Planner, "213").await;
    let csrf = planner.csrf().await;
    let (status, page, _) = planner
        .post(
            "/ui/bao-cao/chi-tieu",
            &ui.base,
            &[
                ("csrf", &csrf),
                ("org", "213"),
                ("year", "2026"),
                ("quarter", "3"),
                ("dossiers_supported", "abc"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("hãy nhập một số không âm"), "{page}");
    let (status, _, location) = planner
        .post(
            "/ui/bao-cao/chi-tieu",
            &ui.base,
            &[
                ("csrf", &csrf),
                ("org", "213"),
                ("year", "2026"),
                ("quarter", "3"),
                ("dossiers_supported", "1000"),
                ("online_dossier_ratio", "40"),
                ("allocate", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/ui/bao-cao?org=213&year=2026&quarter=3&ok=chi-tieu")
    );
    let (_, report) = planner.get("/ui/bao-cao?org=213&year=2026&quarter=3&ok=chi-tieu").await;
    assert!(report.contains("Đã lưu chỉ tiêu năm."), "{report}");
    assert!(
        report.contains("value=\"1000\"") && report.contains("value=\"40\""),
        "the form shows the targets set"
    );
    // Each commune got half of the district's dossiers.
    let (_, overview) = planner.get("/ui/tong-quan?org=07201&year=2026&quarter=3").await;
    assert!(overview.contains("Chỉ tiêu năm</dt><dd>500</dd>"), "{overview}");
    // An officer is not offered the form, and a forged post of theirs is refused.
    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let (_, page) = officer.get("/ui/bao-cao").await;
    assert!(!page.contains("/ui/bao-cao/chi-tieu"));
    let csrf = officer.csrf().await;
    let (status, _, _) = officer
        .post(
            "/ui/bao-cao/chi-tieu",
            &ui.base,
            &[
                ("csrf", &csrf),
                ("org", "07201"),
                ("year", "2026"),
                ("dossiers_supported", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn assets_are_fingerprinted_cached_a_year_and_served_from_the_binary() {
    let ui = ui().await;
    let (_, page) = ui.sign_in(Role::Planner, "213").await.get("/ui/tong-quan").await;
    let at = page.find("/ui/tai-nguyen/app-").unwrap();
    let href: String = page[at..].chars().take_while(|c| *c != '"').collect();
    assert!(href.ends_with(".css"), "{href}");
    let css = ui.http.get(format!("{}{href}", ui.base)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    let stale = ui
        .http
        .get(format!("{}/ui/tai-nguyen/app-000000000000.css", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from another host"
    );
    let _ = ui.clock.now();
}

#[tokio::test]
async fn the_overview_projects_the_year_end_from_the_sessions_that_reported_and_the_schedule_ahead() {
    let ui = ui().await;
    let admin = ui.token(Role::Admin, "24");
    let call = |method: reqwest::Method, path: String, body: Value| {
        let ui = &ui;
        async move { ui.admin(method, &path, body).await }
    };
    let campaigns = ui
        .store
        .list_campaigns(None, &outreach_core::ports::PageRequest::first(10))
        .await
        .unwrap();
    let campaign = &campaigns.items[0].id;
    call(
        reqwest::Method::POST,
        format!("/v1/campaigns/{campaign}:activate"),
        json!({}),
    )
    .await;
    call(
        reqwest::Method::PUT,
        "/v1/targets/2026/213".into(),
        json!({"targets": [{"metric": "dossiers_supported", "value": 1000, "allocate": {"method": "equal"}}]}),
    )
    .await;
    call(
        reqwest::Method::PUT,
        format!("/v1/sessions/{}/outcomes", ui.past),
        json!({"metrics": {"dossiers_supported": 10}}),
    )
    .await;
    // 10 dossiers at the one session that reported; the campaign still has 16 Saturdays in
    // 2026 after 6 September, in each of its two communes.
    let planner = ui.sign_in(Role::Planner, "213").await;
    let (_, commune) = planner.get("/ui/tong-quan?org=07201&year=2026&quarter=3").await;
    assert!(
        commune.contains("Theo nhịp này: 170 / 500 vào cuối năm"),
        "10 + 10 × 16: {commune}"
    );
    let (_, district) = planner.get("/ui/tong-quan?org=213&year=2026&quarter=3").await;
    assert!(
        district.contains("Theo nhịp này: 330 / 1.000 vào cuối năm"),
        "10 + 10 × 32: {district}"
    );
    // The tally behind the average is not a metric of the report, nor one a session records.
    let (_, report) = planner.get("/ui/bao-cao?org=213&year=2026&quarter=3").await;
    assert!(!report.contains("sessions_reported"), "{report}");
    // The district's own figures metric by metric; its communes as a grid, a row each,
    // linked to their own report.
    assert!(report.contains("<h2>Cấp huyện</h2>") && report.contains("<h2>Cấp xã</h2>"));
    let communes = &report[report.find("<h2>Cấp xã</h2>").unwrap()..];
    let row = &communes[communes
        .find("org=07201&amp;year=2026&amp;quarter=3")
        .expect("a link to Thọ Xương's report")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains(">10<small>"), "Thọ Xương's 10 dossiers: {row}");
    let refused = ui
        .http
        .put(format!("{}/v1/sessions/{}/outcomes", ui.base, ui.past))
        .bearer_auth(&admin)
        .json(&json!({"metrics": {"sessions_reported": 5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A paused campaign schedules nothing ahead: the projection is the year to date.
    call(
        reqwest::Method::POST,
        format!("/v1/campaigns/{campaign}:pause"),
        json!({}),
    )
    .await;
    let (_, paused) = planner.get("/ui/tong-quan?org=213&year=2026&quarter=3").await;
    assert!(paused.contains("Theo nhịp này: 10 / 1.000 vào cuối năm"), "{paused}");
}

#[tokio::test]
async fn the_overview_counts_the_confirmed_headcount_of_the_coming_week_into_its_projection() {
    use outreach_core::answer::{Answer, SessionAnswer};
    use outreach_core::contact::Channel;
    use outreach_core::ports::AnswerStore;
    let ui = ui().await;
    let mut campaign = ui
        .store
        .list_campaigns(None, &outreach_core::ports::PageRequest::first(10))
        .await
        .unwrap()
        .items
        .remove(0);
    // A reminder to its citizens the day before asks whether they will come.
    campaign.reminder_rules = vec![
        serde_json::from_value(json!({
            "id": "day-before", "offset_minutes": 1440, "audience": "citizens",
            "channels": ["sms"], "sms_template": "Moi {name} den buoi {date}.", "asks_answer": true
        }))
        .unwrap(),
    ];
    campaign.version += 1;
    ui.store.update_campaign(&campaign).await.unwrap();
    let post = reqwest::Method::POST;
    let put = reqwest::Method::PUT;
    ui.admin(post, &format!("/v1/campaigns/{}:activate", campaign.id), json!({}))
        .await;
    ui.admin(
        put.clone(),
        "/v1/targets/2026/213",
        json!({"targets": [{"metric": "dossiers_supported", "value": 1000, "allocate": {"method": "equal"}}]}),
    )
    .await;
    // The session held: a registered citizen and a walk-in, 10 dossiers.
    ui.admin(
        put.clone(),
        &format!("/v1/sessions/{}/attendance", ui.past),
        json!({"attendees": [{"contact_id": ui.citizen}, {"phone": "0362345678", "name": "Phan Văn Khải"}]}),
    )
    .await;
    ui.admin(
        put,
        &format!("/v1/sessions/{}/outcomes", ui.past),
        json!({"metrics": {"dossiers_supported": 10}}),
    )
    .await;
    // Next Saturday's: twelve citizens said they will come.
    for i in 0..12 {
        ui.store
            .put_answer(&SessionAnswer {
                session_id: ui.next.clone(),
                contact_id: format!("ct_coming_{i}").into(),
                volunteer: false,
                answer: Answer::Coming,
                channel: Channel::Sms,
                delivery_id: format!("dl_{i}"),
                answered_at: t("2026-09-05T10:00:00Z"),
            })
            .await
            .unwrap();
    }

    let planner = ui.sign_in(Role::Planner, "213").await;
    let (_, commune) = planner.get("/ui/tong-quan?org=07201&year=2026&quarter=3").await;
    // 10 a session, 16 Saturdays ahead; next Saturday brings 12 confirmed where a session
    // has had 2 citizens: 10 + 10 × 16 + 10 × (12 / 2 - 1).
    assert!(
        commune.contains(
            "Theo nhịp này: 220 / 500 vào cuối năm (1 buổi 7 ngày tới tính theo 12 người dân đã xác nhận sẽ đến)"
        ),
        "{commune}"
    );
    let (_, district) = planner.get("/ui/tong-quan?org=213&year=2026&quarter=3").await;
    assert!(
        district.contains("Theo nhịp này: 380 / 1.000 vào cuối năm"),
        "10 + 320 + 50: {district}"
    );
    // The coming session with nobody assigned shows its confirmed citizens over its seats.
    let short = &district[district.find("id=\"h-short\"").unwrap()..];
    let row = &short[short
        .find(&format!("/ui/buoi/{}", ui.next))
        .expect("next Saturday is listed")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains(">12/40<"), "{row}");
    // The quarter's walk-in share: one of the two citizens present.
    let figures = &district[district.find("id=\"h-answers\"").expect("the answers' figures")..];
    let walk_ins = &figures[figures.find("Tỷ lệ người dân đến không đăng ký trước").unwrap()..];
    assert!(
        walk_ins[..walk_ins.find("</tr>").unwrap()].contains("50,0 %"),
        "{figures}"
    );

    // The session pages: the rate of the confirmed before, the walk-in share after.
    let (_, next) = planner.get(&format!("/ui/buoi/{}", ui.next)).await;
    assert!(
        next.contains("Tỷ lệ xác nhận sẽ đến") && next.contains("(12/12 người dân được hỏi)"),
        "{next}"
    );
    let (_, past) = planner.get(&format!("/ui/buoi/{}", ui.past)).await;
    assert!(
        past.contains("Đến không đăng ký trước") && past.contains("50,0 %") && past.contains("(1/2 người dân có mặt)"),
        "{past}"
    );
}

#[tokio::test]
async fn a_snapshot_revision_downloads_as_it_was_frozen() {
    let ui = ui().await;
    let admin = ui.token(Role::Admin, "24");
    let record = |dossiers: u64| {
        let request = ui
            .http
            .put(format!("{}/v1/sessions/{}/outcomes", ui.base, ui.past))
            .bearer_auth(&admin)
            .json(&json!({"metrics": {"dossiers_supported": dossiers}}));
        async move { assert!(request.send().await.unwrap().status().is_success()) }
    };
    record(7).await;
    outreach_core::usecases::take_snapshot(
        &*ui.store,
        "213",
        Quarter { year: 2026, quarter: 3 },
        "manual",
        ui.clock.now(),
    )
    .await
    .unwrap();
    record(12).await;
    let planner = ui.sign_in(Role::Planner, "213").await;
    let (_, page) = planner.get("/ui/bao-cao?org=213&year=2026&quarter=3").await;
    assert!(
        page.contains("revision=1&amp;format=xlsx") && page.contains("revision=1&amp;format=csv"),
        "{page}"
    );
    let dossiers = |csv: &str| {
        csv.lines()
            .find(|l| l.contains("07201") && l.contains("dossiers_supported"))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no dossiers row of 07201 in {csv}"))
    };
    let (status, frozen) = planner
        .get("/ui/bao-cao?org=213&year=2026&quarter=3&revision=1&format=csv")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, live) = planner.get("/ui/bao-cao?org=213&year=2026&quarter=3&format=csv").await;
    assert!(dossiers(&frozen).contains(",7,"), "{}", dossiers(&frozen));
    assert!(dossiers(&live).contains(",12,"), "{}", dossiers(&live));
    let (status, _) = planner
        .get("/ui/bao-cao?org=213&year=2026&quarter=3&revision=9&format=csv")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The campaign of the fixture (a draft over district 213, no reminder rule).
async fn fixture_campaign(ui: &Ui) -> CampaignId {
    ui.store.get_session(&ui.past).await.unwrap().unwrap().campaign_id
}

/// The edit form's fields as a browser posts them: the campaign's, with `rules` (audience,
/// offset in hours, SMS, email, template) and `intent`.
fn edit_fields(
    csrf: &str,
    version: &str,
    end: &str,
    rules: &[(&str, &str, &str, bool, bool, &str)],
    intent: &str,
) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = [
        ("csrf", csrf),
        ("version", version),
        ("name", "Hỗ trợ dịch vụ công Q4"),
        ("target", "213"),
        ("start", "2026-09-01"),
        ("end", end),
        ("weekday", "6"),
        ("time", "08:00"),
        ("minutes", "120"),
        ("venue", "Nhà văn hóa tổ 5"),
        ("capacity", "40"),
        ("min_staff", "1"),
        ("intent", intent),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    fields.push(("rules".into(), rules.len().to_string()));
    for (i, (id, audience, hours, sms, email, template)) in rules.iter().enumerate() {
        fields.push((format!("rule_id_{i}"), id.to_string()));
        fields.push((format!("audience_{i}"), audience.to_string()));
        fields.push((format!("offset_hours_{i}"), hours.to_string()));
        if *sms {
            fields.push((format!("sms_{i}"), "on".into()));
        }
        if *email {
            fields.push((format!("email_{i}"), "on".into()));
        }
        fields.push((format!("sms_template_{i}"), template.to_string()));
    }
    fields
}

impl Browser<'_> {
    async fn post_fields(
        &self,
        path: &str,
        origin: &str,
        fields: &[(String, String)],
    ) -> (StatusCode, String, Option<String>) {
        self.send(path, origin, |request| request.form(fields)).await
    }
}

/// The text of a rule's fieldset on the form.
fn rule_section(page: &str, i: usize) -> &str {
    let at = page
        .find(&format!("id=\"quy-tac-{i}\""))
        .unwrap_or_else(|| panic!("no rule {i}: {page}"));
    let end = page[at..].find("</fieldset>").unwrap() + at;
    &page[at..end]
}

#[tokio::test]
async fn the_campaign_edit_page_is_for_those_who_may_edit_and_its_link_only_for_them() {
    let ui = ui().await;
    let campaign = fixture_campaign(&ui).await;
    let edit = format!("/ui/chien-dich/{campaign}/sua");
    for (role, org, status, link) in [
        (Role::Admin, "24", 200, true),
        (Role::Planner, "213", 200, true),
        // A commune's planner: the campaign reaches beyond it.
        (Role::Planner, "07201", 403, false),
        (Role::CommuneOfficer, "07201", 403, false),
        (Role::Viewer, "213", 403, false),
        (Role::Admin, "99", 404, false),
    ] {
        let browser = ui.sign_in(role, org).await;
        let (got, body) = browser.get(&edit).await;
        assert_eq!(got.as_u16(), status, "{role:?} {org}: {body}");
        if got == StatusCode::OK {
            assert!(
                body.contains("Sửa chiến dịch") && body.contains("Lưu thay đổi"),
                "{body}"
            );
        }
        let (got, page) = browser.get(&format!("/ui/chien-dich/{campaign}")).await;
        if got == StatusCode::OK {
            assert_eq!(
                page.contains(&format!("href=\"{edit}\"")),
                link,
                "{role:?} {org}: {page}"
            );
        }
    }
}

#[tokio::test]
async fn a_draft_is_edited_with_several_reminder_rules_each_error_beside_its_rule() {
    let ui = ui().await;
    let campaign = fixture_campaign(&ui).await;
    let path = format!("/ui/chien-dich/{campaign}/sua");
    let planner = ui.sign_in(Role::Planner, "213").await;
    let csrf = planner.csrf().await;
    let citizens = (
        "",
        "citizens",
        "24",
        true,
        false,
        "Moi {name} den {venue} luc {time} ngay {date}.",
    );
    // Add a volunteers' rule: the form comes back with it, nothing saved.
    let (status, page, _) = planner
        .post_fields(
            &path,
            &ui.base,
            &edit_fields(&csrf, "1", "2026-12-31", &[citizens], "add_volunteers"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        rule_section(&page, 1).contains("<option value=\"volunteers\" selected>"),
        "{page}"
    );
    assert_eq!(ui.store.get_campaign(&campaign).await.unwrap().unwrap().version, 1);
    // A rule without a channel, and one whose SMS takes too many segments: each refused beside itself.
    let no_channel = ("", "volunteers", "2", false, false, "");
    let (status, page, _) = planner
        .post_fields(
            &path,
            &ui.base,
            &edit_fields(&csrf, "1", "2026-12-31", &[citizens, no_channel], "save"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        rule_section(&page, 1).contains("Hãy chọn ít nhất một kênh nhắc lịch."),
        "{page}"
    );
    assert!(!rule_section(&page, 0).contains("field-error"), "{page}");
    let long = "Thông báo về buổi hỗ trợ dịch vụ công trực tuyến. ".repeat(10);
    let too_long = ("", "volunteers", "2", true, false, long.as_str());
    let (status, page, _) = planner
        .post_fields(
            &path,
            &ui.base,
            &edit_fields(&csrf, "1", "2026-12-31", &[citizens, too_long], "save"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let rule = rule_section(&page, 1);
    assert!(
        rule.contains("aria-invalid=\"true\"") && rule.contains("err-sms-1"),
        "{rule}"
    );
    // The preview: each rule's SMS cost, the accents warned of where they are.
    let accented = (
        "",
        "volunteers",
        "2",
        true,
        false,
        "Nhắc {name}: buổi ở {venue} lúc {time}.",
    );
    // Sent unaccented: each rule has its cost, and no warning.
    let fields = edit_fields(&csrf, "1", "2026-12-31", &[citizens, accented], "preview");
    let (status, page, _) = planner.post_fields(&path, &ui.base, &fields).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"xem-truoc\""), "{page}");
    for i in [0, 1] {
        let rule = rule_section(&page, i);
        assert!(
            rule.contains("segment-count") && !rule.contains("dạng Unicode"),
            "{rule}"
        );
    }
    // Sent with accents: the warning beside the rule whose text is Unicode.
    let mut fields = fields;
    fields.push(("unicode".into(), "on".into()));
    let (status, page, _) = planner.post_fields(&path, &ui.base, &fields).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(rule_section(&page, 1).contains("dạng Unicode"), "{page}");
    let volunteers = (
        "",
        "volunteers",
        "2",
        true,
        false,
        "Nhac {name}: buoi o {venue} luc {time}.",
    );
    let (status, _, location) = planner
        .post_fields(
            &path,
            &ui.base,
            &edit_fields(&csrf, "1", "2026-12-31", &[citizens, volunteers], "save"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, Some(format!("/ui/chien-dich/{campaign}?ok=sua")));
    let saved = ui.store.get_campaign(&campaign).await.unwrap().unwrap();
    let rules: Vec<(&str, outreach_core::campaign::Audience, u32)> = saved
        .reminder_rules
        .iter()
        .map(|r| (r.id.as_str(), r.audience, r.offset_minutes))
        .collect();
    use outreach_core::campaign::Audience::{Citizens, Volunteers};
    assert_eq!(rules, [("r1", Citizens, 1440), ("r2", Volunteers, 120)]);
    // The same form again: read at version 1, now 2.
    let (status, page, _) = planner
        .post_fields(
            &path,
            &ui.base,
            &edit_fields(&csrf, "1", "2026-12-31", &[citizens], "save"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("vừa được người khác thay đổi"), "{page}");
    assert_eq!(
        ui.store
            .get_campaign(&campaign)
            .await
            .unwrap()
            .unwrap()
            .reminder_rules
            .len(),
        2
    );
}

#[tokio::test]
async fn a_running_campaign_shows_what_cannot_change_and_refuses_an_end_before_its_last_session() {
    let ui = ui().await;
    let campaign = fixture_campaign(&ui).await;
    let admin = ui.token(Role::Admin, "24");
    let response = ui
        .http
        .post(format!("{}/v1/campaigns/{campaign}:activate", ui.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let path = format!("/ui/chien-dich/{campaign}/sua");
    let planner = ui.sign_in(Role::Planner, "213").await;
    let (status, page) = planner.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Không đổi được") && page.contains("Thứ Bảy hằng tuần, 08:00"),
        "{page}"
    );
    assert!(
        !page.contains("id=\"target\"") && !page.contains("id=\"weekday\""),
        "{page}"
    );
    let csrf = planner.csrf().await;
    // The session of 5 September was held.
    let (status, page, _) = planner
        .post_fields(&path, &ui.base, &edit_fields(&csrf, "2", "2026-09-04", &[], "save"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("aria-invalid=\"true\"")
            && page.contains("Không thể kết thúc trước buổi cuối cùng đã diễn ra (05/09/2026)."),
        "{page}"
    );
    // A tampered schedule is the campaign's own: only what may change is saved.
    let mut fields = edit_fields(&csrf, "2", "2026-11-30", &[], "save");
    fields.iter_mut().find(|(k, _)| k == "time").unwrap().1 = "09:00".into();
    let (status, _, _) = planner.post_fields(&path, &ui.base, &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let saved = ui.store.get_campaign(&campaign).await.unwrap().unwrap();
    assert_eq!(
        (saved.schedule.cron.as_str(), saved.period.end.to_string()),
        ("0 8 * * 6", "2026-11-30".into())
    );
}

#[tokio::test]
async fn a_forged_campaign_edit_is_refused_and_changes_nothing() {
    let ui = ui().await;
    let campaign = fixture_campaign(&ui).await;
    let path = format!("/ui/chien-dich/{campaign}/sua");
    let planner = ui.sign_in(Role::Planner, "213").await;
    let csrf = planner.csrf().await;
    let fields = edit_fields(&csrf, "1", "2026-10-31", &[], "save");
    let (status, body, _) = planner.post_fields(&path, "https://evil.example", &fields).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let forged = edit_fields("0123456789abcdef0123456789abcdef", "1", "2026-10-31", &[], "save");
    let (status, _, _) = planner.post_fields(&path, &ui.base, &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let viewer = ui.sign_in(Role::Viewer, "213").await;
    let csrf = viewer.csrf().await;
    let (status, _, _) = viewer
        .post_fields(&path, &ui.base, &edit_fields(&csrf, "1", "2026-10-31", &[], "save"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(ui.store.get_campaign(&campaign).await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn a_planner_registers_zns_consent_and_creates_a_zns_then_sms_campaign_with_the_form() {
    use outreach_core::contact::Channel;
    use outreach_core::ports::{CampaignStore, ContactStore};
    let ui = ui().await;
    let planner = ui.sign_in(Role::Planner, "213").await;
    let csrf = planner.csrf().await;
    let (status, _, _) = planner
        .post(
            "/ui/nguoi",
            &ui.base,
            &[
                ("csrf", &csrf),
                ("name", "Hoàng Thị Phương"),
                ("phone", "0981000009"),
                ("commune", "07201"),
                ("consent_zns", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let contact = ui.store.find_contact_by_phone("+84981000009").await.unwrap().unwrap();
    assert!(contact.has_consent(Channel::Zns) && !contact.has_consent(Channel::Sms));

    let (_, form) = planner.get("/ui/chien-dich/moi").await;
    assert!(
        form.contains("Zalo ZNS rồi SMS") && form.contains("name=\"zns_template_id_0\""),
        "{form}"
    );
    let fields = |params: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "Nhắc qua Zalo".to_string()),
            ("target", "07201".to_string()),
            ("start", "2026-09-07".to_string()),
            ("end", "2026-10-31".to_string()),
            ("weekday", "6".to_string()),
            ("time", "08:00".to_string()),
            ("minutes", "120".to_string()),
            ("venue", "Nhà văn hóa".to_string()),
            ("capacity", "50".to_string()),
            ("min_staff", "1".to_string()),
            ("rules", "1".to_string()),
            ("rule_id_0", String::new()),
            ("audience_0", "citizens".to_string()),
            ("offset_hours_0", "24".to_string()),
            ("zns_0", "on".to_string()),
            ("zns_template_id_0", "246810".to_string()),
            ("zns_params_0", params.to_string()),
            (
                "sms_template_0",
                "Doan TN {commune}: {date} {time} tai {venue}. Tu choi: TC".to_string(),
            ),
            ("intent", "create".to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let planner = &planner;
        let base = ui.base.clone();
        async move {
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            planner.post("/ui/chien-dich/moi", &base, &refs).await
        }
    };
    // A line that is not parameter=field, and a field no session has: each named.
    let (status, page, _) = post(fields("ten=name\nngay")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("«ngay»") && page.contains("aria-invalid"), "{page}");
    assert!(page.contains("ten=name\nngay"), "what was typed stays: {page}");
    let (status, page, _) = post(fields("ten=name\nngay=birthday")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        rule_section(&page, 0).contains("id=\"zns_params_0\" name=\"zns_params_0\" rows=\"3\" aria-invalid"),
        "{page}"
    );

    let (status, _, location) = post(fields("ten=name\r\nngay=date\r\ngio: time\r\ndia_diem=venue")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap_or_default().starts_with("/ui/chien-dich/"));
    let campaigns = ui
        .store
        .list_campaigns(None, &outreach_core::ports::PageRequest::first(50))
        .await
        .unwrap()
        .items;
    let campaign = campaigns.iter().find(|c| c.name == "Nhắc qua Zalo").unwrap();
    let rule = &campaign.reminder_rules[0];
    // One rule naming ZNS and SMS: ZNS first, SMS when it cannot (the order is the store's).
    let mut channels = rule.channels.clone();
    channels.sort();
    assert_eq!(channels, [Channel::Sms, Channel::Zns]);
    assert_eq!(rule.zns_template_id.as_deref(), Some("246810"));
    assert_eq!(rule.zns_params["gio"], "time");
    assert_eq!(rule.zns_params.len(), 4);
    assert!(rule.sms_template.is_some(), "SMS carries what ZNS cannot");
    // The edit form shows the rule as saved: ZNS ticked, its template and parameters.
    let (status, edit) = planner.get(&format!("/ui/chien-dich/{}/sua", campaign.id)).await;
    assert_eq!(status, StatusCode::OK, "{edit}");
    let section = rule_section(&edit, 0);
    assert!(
        section.contains("name=\"zns_0\" checked")
            && section.contains("value=\"246810\"")
            && section.contains("gio=time"),
        "{section}"
    );
}

#[tokio::test]
async fn the_door_page_finds_a_citizen_by_name_or_last_digits_and_checks_them_in_once() {
    let ui = ui().await;
    let door = format!("/ui/buoi/{}/den", ui.past);
    // A viewer reads sessions but checks nobody in; another commune's officer finds no session.
    let viewer = ui.sign_in(Role::Viewer, "213").await;
    assert_eq!(viewer.get(&door).await.0, StatusCode::FORBIDDEN);
    let elsewhere = ui.sign_in(Role::CommuneOfficer, "07202").await;
    assert_eq!(elsewhere.get(&door).await.0, StatusCode::NOT_FOUND);

    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let (status, page) = officer.get(&format!("/ui/buoi/{}", ui.past)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("href=\"{door}\"")),
        "the session links its door: {page}"
    );
    // By name without accents, and by the last digits; another commune's citizen is not found.
    let (_, found) = officer.get(&format!("{door}?q=nguyen+van")).await;
    assert!(
        found.contains("Nguyễn Văn An") && found.contains("Điểm danh Nguyễn Văn An"),
        "{found}"
    );
    assert!(!found.contains("0981000001"), "the number is masked: {found}");
    let (_, found) = officer.get(&format!("{door}?q=0001")).await;
    assert!(found.contains("Nguyễn Văn An"), "{found}");
    // Their six-digit check-in code from an SMS finds them too; another code does not.
    let code = ui.auth.check_in_short_code(&ui.past, &ui.citizen.as_str().into());
    let (_, found) = officer.get(&format!("{door}?q={code}")).await;
    assert!(found.contains("Điểm danh Nguyễn Văn An"), "{code}: {found}");
    let other = format!("{:06}", (code.parse::<u32>().unwrap() + 500_000) % 1_000_000);
    let (_, found) = officer.get(&format!("{door}?q={other}")).await;
    assert!(!found.contains("Điểm danh Nguyễn Văn An"), "{other}: {found}");
    let (_, found) = officer.get(&format!("{door}?q=0003")).await;
    assert!(
        !found.contains("Lê Thị Bích") && found.contains("Không tìm thấy"),
        "{found}"
    );

    let csrf = officer.csrf().await;
    let tap = [
        ("csrf", csrf.as_str()),
        ("contact_id", ui.citizen.as_str()),
        ("q", "an"),
    ];
    let (status, _, location) = officer.post(&door, &ui.base, &tap).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let back = location.unwrap();
    let (_, page) = officer.get(&back).await;
    assert!(
        page.contains("Đã điểm danh: Nguyễn Văn An.") && page.contains("<strong id=\"so-da-den\">1</strong>"),
        "{page}"
    );
    // Tapped twice: still one.
    officer.post(&door, &ui.base, &tap).await;
    let (_, found) = officer.get(&format!("{door}?q=an")).await;
    assert!(
        found.contains("✓ Đã đến") && found.contains("<strong id=\"so-da-den\">1</strong>"),
        "{found}"
    );
    // A walk-in with a bad number is refused beside the form, what was typed kept.
    let walk = [
        ("csrf", csrf.as_str()),
        ("phone", "01662345678"),
        ("name", "Phan Văn Khải"),
    ];
    let (status, page, _) = officer.post(&door, &ui.base, &walk).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("036") && page.contains("value=\"Phan Văn Khải\""),
        "{page}"
    );
    let walk = [
        ("csrf", csrf.as_str()),
        ("phone", "0362345678"),
        ("name", "Phan Văn Khải"),
    ];
    let (status, _, _) = officer.post(&door, &ui.base, &walk).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let record = ui.store.get_session_record(&ui.past).await.unwrap().unwrap();
    assert_eq!(record.attendees.len(), 2);
    assert_eq!(record.attendees.iter().filter(|a| a.walk_in).count(), 1);
    // A post from another site is refused and adds nobody.
    let (status, _, _) = officer.post(&door, "https://evil.example", &walk).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_citizens_check_in_code_checks_them_in_only_for_an_officer_of_that_commune() {
    let ui = ui().await;
    let token = ui.auth.mint_check_in(&ui.past, &ui.citizen.as_str().into(), Utc::now());
    // The citizen's page: no sign-in, their name and the code as an SVG drawn by the server.
    let response = ui
        .http
        .get(format!("{}/ui/den/ma?token={token}", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Mã điểm danh") && page.contains("Nguyễn Văn An"),
        "{page}"
    );
    assert!(
        page.contains("<svg role=\"img\"") && page.matches("<path").count() + page.matches("<rect").count() > 0,
        "{page}"
    );
    let forged = format!("{}x", &token[..token.len() - 1]);
    let response = ui
        .http
        .get(format!("{}/ui/den/ma?token={forged}", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let scan = format!("/ui/den?token={token}");
    // Scanned by an officer of another commune, or a viewer: nothing happens.
    let elsewhere = ui.sign_in(Role::CommuneOfficer, "07202").await;
    assert_eq!(elsewhere.get(&scan).await.0, StatusCode::NOT_FOUND);
    let csrf = elsewhere.csrf().await;
    let (status, _, _) = elsewhere.post(&scan, &ui.base, &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let viewer = ui.sign_in(Role::Viewer, "213").await;
    assert_eq!(viewer.get(&scan).await.0, StatusCode::FORBIDDEN);
    assert!(
        ui.store.get_session_record(&ui.past).await.unwrap().is_none(),
        "nobody was checked in"
    );
    // Scanned by the commune's officer: who and where, then one tap.
    let officer = ui.sign_in(Role::CommuneOfficer, "07201").await;
    let (status, page) = officer.get(&scan).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Điểm danh Nguyễn Văn An") && page.contains("Phường Thọ Xương"),
        "{page}"
    );
    let csrf = officer.csrf().await;
    let (status, _, location) = officer.post(&scan, &ui.base, &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().starts_with(&format!("/ui/buoi/{}/den?ok=", ui.past)));
    let record = ui.store.get_session_record(&ui.past).await.unwrap().unwrap();
    assert_eq!(record.attendees.len(), 1);
    assert_eq!(record.attendees[0].contact_id, ui.citizen);
    // Scanned again: already in.
    let (_, page) = officer.get(&scan).await;
    assert!(page.contains("đã được điểm danh"), "{page}");
    // A code for another session does not check anyone in at this one.
    let next = ui.auth.mint_check_in(&ui.next, &ui.citizen.as_str().into(), Utc::now());
    officer
        .post(&format!("/ui/den?token={next}"), &ui.base, &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(
        ui.store
            .get_session_record(&ui.past)
            .await
            .unwrap()
            .unwrap()
            .attendees
            .len(),
        1
    );
}
