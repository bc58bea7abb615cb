//! Webhooks from the outside: SMS replies (opt-out keywords), SES bounce and complaint
//! notifications (through SNS), Zalo's ZNS delivery and seen events (signed by Zalo), and
//! the one-click unsubscribe link of every email.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use outreach_core::answer::Answer;
use outreach_core::contact::{Channel, Contact};
use outreach_core::phone::Phone;
use outreach_core::usecases::{self, AnswerOutcome, SmsReplyOutcome};
use outreach_core::zns::ZaloWebhookKeys;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::audit::{AuditChange, AuditChanges};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, parse_json};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookKey {
    /// The webhook secret (or send it as `X-Outreach-Webhook-Key`).
    pub key: Option<String>,
}

fn require_webhook_key(state: &AppState, headers: &HeaderMap, query: &WebhookKey) -> ApiResult<()> {
    let Some(secret) = state.webhook_secret.as_deref() else {
        return Err(ApiError::Forbidden(
            "inbound webhooks are not configured (OUTREACH_WEBHOOK_SECRET)".into(),
        ));
    };
    // Compare in constant time: the secret's length is not a secret, its bytes are.
    let same = |given: &str| {
        given.len() == secret.len() && given.bytes().zip(secret.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    };
    let header = headers.get("x-outreach-webhook-key").and_then(|v| v.to_str().ok());
    if [query.key.as_deref(), header].into_iter().flatten().any(same) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("a webhook key is required".into()))
    }
}

/// An SMS a contact sent back, as the SMS gateway forwards it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InboundSms {
    /// The sender's number, any common spelling (`0912…`, `+84912…`).
    pub from: String,
    pub text: String,
}

/// An SMS reply: STOP, TC, HUY or TU CHOI (any case, with or without accents) opts the
/// sender out of SMS before the next send. The opt-out is audited under the contact's
/// commune, so the admins of its province read it. `1` (or `có`, `đến`) and `2` (or
/// `không`, `ko`) answer the latest reminder that asked the number whether they will come.
#[utoipa::path(post, path = "/v1/inbound/sms", tag = "inbound", params(WebhookKey), request_body = InboundSms,
    security(), responses((status = 200, body = SmsReplyOutcome), (status = 401, body = ErrorBody)))]
pub async fn sms(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(key): ApiQuery<WebhookKey>,
    ApiJson(reply): ApiJson<InboundSms>,
) -> ApiResult<(Extension<AuditChanges>, Json<SmsReplyOutcome>)> {
    require_webhook_key(&state, &headers, &key)?;
    if reply.text.chars().count() > 2000 {
        return Err(ApiError::bad("text", "at most 2000 characters"));
    }
    let store = state.store.as_ref();
    let before = store
        .find_contact_by_phone(&Phone::parse_field(&reply.from, "from")?.e164)
        .await?;
    let outcome =
        usecases::handle_sms_reply(store, &reply.from, &reply.text, state.answer_window, state.clock.now()).await?;
    let mut changes = Vec::new();
    if let Some(before) = before
        && let Some(after) = store.get_contact(&before.id).await?
        && after.version != before.version
    {
        changes.push(contact_change(&before, &after));
    }
    Ok((Extension(AuditChanges(changes)), Json(outcome)))
}

/// The audit change of a contact a webhook changed, under the contact's commune.
fn contact_change(before: &Contact, after: &Contact) -> AuditChange {
    AuditChange::new("contact", after.id.as_str(), Some(before), Some(after)).in_unit(after.commune_code.as_str())
}

/// An SNS message (notification or subscription confirmation).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "SubscribeURL")]
    subscribe_url: Option<String>,
}

/// The part of an SES notification or event this system reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    #[serde(default)]
    notification_type: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    bounce: Option<SesBounce>,
    #[serde(default)]
    complaint: Option<SesComplaint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesBounce {
    bounce_type: String,
    #[serde(default)]
    bounced_recipients: Vec<SesRecipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesComplaint {
    #[serde(default)]
    complained_recipients: Vec<SesRecipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesRecipient {
    email_address: String,
}

/// What an SES event did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmailEventOutcome {
    /// `bounce`, `complaint`, `subscription_confirmation` or `ignored`.
    pub kind: String,
    /// Contacts whose email was stopped.
    pub suppressed_contacts: usize,
}

/// SES bounce and complaint notifications, delivered by SNS (JSON, any content type).
/// A permanent bounce or a complaint opts every contact with that address out of email;
/// each contact's opt-out is audited under their commune.
#[utoipa::path(post, path = "/v1/inbound/email-events", tag = "inbound", params(WebhookKey),
    request_body(content = String, description = "SNS message JSON"), security(),
    responses((status = 200, body = EmailEventOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn email_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(key): ApiQuery<WebhookKey>,
    body: Bytes,
) -> ApiResult<(Extension<AuditChanges>, Json<EmailEventOutcome>)> {
    require_webhook_key(&state, &headers, &key)?;
    let envelope: SnsEnvelope = parse_json(&body)?;
    let outcome = |kind: &str, n| {
        (
            Extension(AuditChanges::default()),
            Json(EmailEventOutcome {
                kind: kind.into(),
                suppressed_contacts: n,
            }),
        )
    };
    match envelope.kind.as_str() {
        "SubscriptionConfirmation" => {
            // Confirming means fetching SubscribeURL; the operator does it once (README).
            tracing::warn!(subscribe_url = ?envelope.subscribe_url, "SNS subscription awaits confirmation");
            return Ok(outcome("subscription_confirmation", 0));
        }
        "Notification" => {}
        _ => return Ok(outcome("ignored", 0)),
    }
    let event: SesEvent = serde_json::from_str(&envelope.message)
        .map_err(|e| ApiError::bad("Message", format!("not an SES notification: {e}")))?;
    let kind = event.notification_type.or(event.event_type).unwrap_or_default();
    let (label, addresses): (&str, Vec<String>) = match (kind.as_str(), event.bounce, event.complaint) {
        ("Bounce", Some(b), _) if b.bounce_type == "Permanent" => (
            "bounce",
            b.bounced_recipients.into_iter().map(|r| r.email_address).collect(),
        ),
        ("Complaint", _, Some(c)) => (
            "complaint",
            c.complained_recipients.into_iter().map(|r| r.email_address).collect(),
        ),
        _ => return Ok(outcome("ignored", 0)),
    };
    let mut suppressed = 0;
    let mut changes = Vec::new();
    for address in addresses.iter().take(100) {
        let done = usecases::suppress_email_address(state.store.as_ref(), address, label, state.clock.now()).await?;
        suppressed += done.contacts;
        changes.extend(done.changed.iter().map(|c| contact_change(&c.before, &c.after)));
    }
    let (_, answer) = outcome(label, suppressed);
    Ok((Extension(AuditChanges(changes)), answer))
}

/// How far an event's timestamp may be from now: Zalo retries within about an hour, each
/// retry signed anew, so an older timestamp is a replay.
const ZALO_EVENT_MAX_AGE_MS: i64 = 5 * 60 * 1000;

/// The part of a Zalo OA webhook event this system reads.
#[derive(Debug, Deserialize)]
struct ZaloEvent {
    app_id: String,
    event_name: String,
    /// Milliseconds since the epoch, as a string (or a number).
    timestamp: serde_json::Value,
    #[serde(default)]
    message: Option<ZaloEventMessage>,
}

#[derive(Debug, Default, Deserialize)]
struct ZaloEventMessage {
    #[serde(default)]
    msg_id: Option<String>,
    #[serde(default)]
    msg_ids: Vec<String>,
    #[serde(default)]
    tracking_id: Option<String>,
}

/// What a Zalo event did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ZnsEventOutcome {
    /// The event's name, e.g. `user_received_message`.
    pub event: String,
    /// What it did to the delivery log; absent for events other than ZNS receipts.
    pub outcome: Option<usecases::ZnsReceiptOutcome>,
}

/// Zalo's OA webhook, for ZNS receipts: `user_received_message` (the message reached the
/// phone: the delivery records `delivered_at`) and `user_seen_message` (`seen_at`), found by
/// `message.tracking_id`, which is the delivery's id. Signed by Zalo, with no token:
/// `X-ZEvent-Signature` is `mac=` and the hex SHA-256 of app id + body + timestamp + OA
/// secret key; an event without a valid signature, for another app, or whose timestamp is
/// more than 5 minutes from now (a replay) is refused with 401. An unknown tracking id or
/// any other event is answered 200, so Zalo does not retry it.
#[utoipa::path(post, path = "/v1/inbound/zns-events", tag = "inbound",
    params(("X-ZEvent-Signature" = String, Header, description = "mac=<hex sha256(app_id + body + timestamp + OA secret key)>")),
    request_body(content = String, description = "Zalo OA webhook event JSON"), security(),
    responses((status = 200, body = ZnsEventOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn zns_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(Extension<AuditChanges>, Json<ZnsEventOutcome>)> {
    let Some(keys) = state.zalo_webhook.as_ref() else {
        return Err(ApiError::Forbidden(
            "the Zalo webhook is not configured (OUTREACH_ZNS_OA_SECRET_KEY)".into(),
        ));
    };
    let event: ZaloEvent = parse_json(&body)?;
    let timestamp = match &event.timestamp {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(ApiError::Unauthorized("a signed timestamp is required".into())),
    };
    let signature = headers
        .get("x-zevent-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !zalo_signature_is_valid(keys, &event.app_id, &body, &timestamp, signature) {
        return Err(ApiError::Unauthorized("a valid X-ZEvent-Signature is required".into()));
    }
    let now = state.clock.now();
    let at = timestamp
        .parse::<i64>()
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .filter(|at| (now - *at).num_milliseconds().abs() <= ZALO_EVENT_MAX_AGE_MS)
        .ok_or_else(|| ApiError::Unauthorized("the event's timestamp is too old (a replay) or unreadable".into()))?;
    let receipt = match event.event_name.as_str() {
        "user_received_message" => Some(usecases::ZnsReceipt::Delivered),
        "user_seen_message" => Some(usecases::ZnsReceipt::Seen),
        _ => None,
    };
    let outcome = match receipt {
        None => None,
        Some(receipt) => {
            let message = event.message.unwrap_or_default();
            let msg_id = message.msg_id.or_else(|| message.msg_ids.into_iter().next());
            let outcome = usecases::record_zns_receipt(
                state.store.as_ref(),
                message.tracking_id.as_deref(),
                msg_id.as_deref(),
                receipt,
                at,
            )
            .await?;
            if outcome == usecases::ZnsReceiptOutcome::Unknown {
                // Ids only: a tracking id names a delivery, never a person's number.
                tracing::warn!(event = %event.event_name, tracking_id = ?message.tracking_id, "ZNS receipt for no delivery of ours");
            }
            Some(outcome)
        }
    };
    Ok((
        Extension(AuditChanges::default()),
        Json(ZnsEventOutcome {
            event: event.event_name,
            outcome,
        }),
    ))
}

/// Whether `signature` (with or without its `mac=`) is Zalo's for this event, compared in
/// constant time; the event must be for this app.
fn zalo_signature_is_valid(
    keys: &ZaloWebhookKeys,
    app_id: &str,
    body: &[u8],
    timestamp: &str,
    signature: &str,
) -> bool {
    use sha2::{Digest, Sha256};
    if app_id != keys.app_id {
        return false;
    }
    let given = signature.trim();
    let given = given.strip_prefix("mac=").unwrap_or(given).to_ascii_lowercase();
    let mut hash = Sha256::new();
    hash.update(app_id.as_bytes());
    hash.update(body);
    hash.update(timestamp.as_bytes());
    hash.update(keys.oa_secret_key.as_bytes());
    let expected: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeParams {
    /// The signed token of the link in the email.
    pub token: String,
}

/// The outcome of a one-click unsubscribe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unsubscribed {
    pub unsubscribed: bool,
}

/// One-click unsubscribe (RFC 8058): the mail client POSTs `List-Unsubscribe=One-Click`;
/// the confirmation page's button posts the same form. A browser (asking for HTML) gets a
/// page saying it is done, a mail client `{"unsubscribed": true}`. An opt-out already in
/// force adds nothing, however often the link is replayed.
#[utoipa::path(post, path = "/v1/inbound/unsubscribe", tag = "inbound", params(UnsubscribeParams), security(),
    responses((status = 200, body = Unsubscribed), (status = 400, body = ErrorBody)))]
pub async fn unsubscribe(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<UnsubscribeParams>,
) -> ApiResult<Response> {
    let change = stop_email(&state, &q.token).await?;
    let html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let answer = if html {
        Html(page(
            "Đã ngừng nhận email",
            "<p>Bạn đã ngừng nhận email nhắc lịch của Đoàn Thanh niên. Cảm ơn bạn.</p>",
        ))
        .into_response()
    } else {
        Json(Unsubscribed { unsubscribed: true }).into_response()
    };
    Ok(match change {
        Some(change) => (change, answer).into_response(),
        None => answer,
    })
}

/// The link opened in a browser: a page asking to confirm, whose button posts the form.
/// Opening it changes nothing, so a link prefetcher or a mail scanner unsubscribes nobody.
#[utoipa::path(get, path = "/v1/inbound/unsubscribe", tag = "inbound", params(UnsubscribeParams), security(),
    responses((status = 200, description = "HTML confirmation"), (status = 400, body = ErrorBody)))]
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UnsubscribeParams>,
) -> ApiResult<Html<String>> {
    // A forged or expired link is refused here already, not after the click.
    state.auth.verify_unsubscribe(&q.token)?;
    let action = format!("/v1/inbound/unsubscribe?token={}", attribute(&q.token));
    Ok(Html(page(
        "Ngừng nhận email nhắc lịch",
        &format!(
            "<p>Bạn muốn ngừng nhận email nhắc lịch các buổi hỗ trợ dịch vụ công trực tuyến của Đoàn Thanh niên?</p>\
             <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Ngừng nhận email</button></form>"
        ),
    )))
}

/// The words of an answer on the pages.
fn answer_words(answer: Answer) -> &'static str {
    match answer {
        Answer::Coming => "Tôi sẽ đến",
        Answer::NotComing => "Tôi không đến được",
    }
}

/// The session an answer link is about, as the page names it.
async fn session_line(state: &AppState, link: &outreach_auth::AnswerLink) -> ApiResult<String> {
    let store = state.store.as_ref();
    let delivery = store
        .get_delivery(&link.campaign_id, &link.delivery_id)
        .await?
        .ok_or_else(|| ApiError::bad("token", "this answer link is not valid"))?;
    let Some(session) = store.get_session(&delivery.session_id).await? else {
        return Ok(String::new());
    };
    let local = session
        .starts_at
        .with_timezone(&outreach_core::schedule::DEFAULT_TIME_ZONE);
    Ok(format!(
        "Buổi hỗ trợ dịch vụ công trực tuyến lúc {} ngày {} tại {}.",
        local.format("%H:%M"),
        local.format("%d/%m/%Y"),
        html_text(&session.venue)
    ))
}

/// The link of a reminder that asked whether the person will come, opened in a browser: a
/// page that says which session and which answer, whose button posts it. Opening it
/// records nothing, so a mail scanner answers for nobody.
#[utoipa::path(get, path = "/v1/inbound/answer", tag = "inbound", params(UnsubscribeParams), security(),
    responses((status = 200, description = "HTML confirmation"), (status = 400, body = ErrorBody)))]
pub async fn answer_page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<UnsubscribeParams>,
) -> ApiResult<Html<String>> {
    let link = state.auth.verify_answer(&q.token)?;
    let line = session_line(&state, &link).await?;
    let action = format!("/v1/inbound/answer?token={}", attribute(&q.token));
    Ok(Html(page(
        "Xác nhận tham dự",
        &format!(
            "<p>{line}</p><form method=\"post\" action=\"{action}\"><button type=\"submit\">{}</button></form>\
             <p>Bạn có thể đổi ý bằng đường dẫn còn lại trong tin nhắn, cho tới khi buổi bắt đầu.</p>",
            answer_words(link.answer)
        ),
    )))
}

/// Record the answer of a link (the page's button): until the session starts; the latest
/// answer counts.
#[utoipa::path(post, path = "/v1/inbound/answer", tag = "inbound", params(UnsubscribeParams), security(),
    responses((status = 200, body = AnswerOutcome), (status = 400, body = ErrorBody)))]
pub async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<UnsubscribeParams>,
) -> ApiResult<Response> {
    let link = state.auth.verify_answer(&q.token)?;
    let outcome = usecases::answer_by_link(
        state.store.as_ref(),
        &link.campaign_id,
        &link.delivery_id,
        link.answer,
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        // A link naming a delivery that is gone reads as a bad link, not as a 404 to probe.
        outreach_core::CoreError::NotFound { .. } => ApiError::bad("token", "this answer link is not valid"),
        e => e.into(),
    })?;
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if !wants_html {
        return Ok(Json(outcome).into_response());
    }
    let body = match outcome.result.as_str() {
        "recorded" | "superseded" => format!(
            "<p>Đã ghi nhận: <strong>{}</strong>. Cảm ơn bạn đã trả lời.</p>",
            answer_words(link.answer).to_lowercase()
        ),
        "session_started" => "<p>Buổi đã bắt đầu nên câu trả lời không còn được ghi nhận.</p>".into(),
        _ => "<p>Buổi này đã bị hủy; câu trả lời không được ghi nhận.</p>".into(),
    };
    Ok(Html(page("Xác nhận tham dự", &body)).into_response())
}

/// `text` safe as HTML text.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A small Vietnamese page.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{title}</title><h1>{title}</h1>{body}</html>"
    )
}

/// `text` safe inside a double-quoted HTML attribute.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Opt the link's contact out of email; the audit change, when anything changed.
async fn stop_email(state: &AppState, token: &str) -> ApiResult<Option<Extension<AuditChange>>> {
    let contact_id = state.auth.verify_unsubscribe(token)?;
    let before = match state.store.get_contact(&contact_id).await? {
        Some(contact) => contact,
        // An erased contact has nothing left to stop.
        None => return Ok(None),
    };
    let after = usecases::opt_out(
        state.store.as_ref(),
        &contact_id,
        Some(Channel::Email),
        "unsubscribe_link",
        state.clock.now(),
    )
    .await?;
    Ok((after.version != before.version).then(|| Extension(contact_change(&before, &after))))
}
