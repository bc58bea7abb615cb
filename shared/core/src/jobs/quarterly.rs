//! The quarterly summary: after each quarter, freeze every reported unit's report as a
//! new snapshot revision and email it, as a workbook, to that unit's planners.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::instrument;

use crate::contact::ContactRole;
use crate::error::CoreResult;
use crate::notify::{Attachment, EmailChannel, OutboundEmail};
use crate::org::Level;
use crate::ports::{ContactFilter, OrgUnitFilter, PageRequest, Store};
use crate::quarter::Quarter;
use crate::report::QuarterlyReport;
use crate::usecases::{last_day, previous_quarter, take_snapshot};

/// Turns a report into the workbook planners receive (an adapter: `outreach-report`).
pub trait ReportRenderer: Send + Sync {
    /// The XLSX bytes of a report.
    fn xlsx(&self, report: &QuarterlyReport) -> Result<Vec<u8>, String>;
}

/// What the summary reports on.
#[derive(Debug, Clone, Default)]
pub struct SummarySettings {
    /// The units to report on; empty: every province that existed at the quarter's end.
    pub orgs: Vec<String>,
    /// The quarter; None: the one that ended last before `now`.
    pub quarter: Option<Quarter>,
}

/// One unit's part of a summary run.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryOutcome {
    pub org_code: String,
    pub revision: u32,
    pub emailed: usize,
    /// Planners the email could not reach, with the provider's reason.
    pub failed: Vec<String>,
}

/// What a summary run did.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryReport {
    pub year: i32,
    pub quarter: u8,
    pub units: Vec<SummaryOutcome>,
}

/// Run the summary at `now`: a snapshot per unit, emailed to the unit's planners (contacts
/// with the planner role registered at that unit and an email address).
#[instrument(skip_all, fields(now = %now))]
pub async fn run_quarterly_summary<S: Store + ?Sized>(
    store: &S,
    email: &dyn EmailChannel,
    renderer: &dyn ReportRenderer,
    now: DateTime<Utc>,
    settings: &SummarySettings,
) -> CoreResult<SummaryReport> {
    let q = settings.quarter.unwrap_or_else(|| previous_quarter(now));
    let orgs = if settings.orgs.is_empty() {
        provinces_on(store, last_day(q)).await?
    } else {
        settings.orgs.clone()
    };
    let mut units = Vec::new();
    for org in orgs {
        let snapshot = take_snapshot(store, &org, q, "schedule", now).await?;
        let planners = planners_of(store, &org).await?;
        let mut outcome = SummaryOutcome {
            org_code: org.clone(),
            revision: snapshot.revision,
            emailed: 0,
            failed: Vec::new(),
        };
        if !planners.is_empty() {
            let workbook = renderer
                .xlsx(&snapshot.report)
                .map_err(|e| crate::CoreError::Storage(e.into()))?;
            let filename = format!("bao-cao-quy-{}-{}-{}.xlsx", q.quarter, q.year, org);
            for (name, address) in planners {
                let message = OutboundEmail {
                    to: address.clone(),
                    subject: format!(
                        "Báo cáo quý {}/{}: {} (bản {})",
                        q.quarter, q.year, snapshot.report.org_name, snapshot.revision
                    ),
                    body_text: format!(
                        "Kính gửi {name},\n\nĐính kèm là báo cáo tiến độ quý {}/{} của {}, lập lúc {} (bản số {}).\n\
                         Số liệu lũy kế từ đầu năm được so với mốc kế hoạch của quý.\n\nĐoàn Thanh niên",
                        q.quarter,
                        q.year,
                        snapshot.report.org_name,
                        now.with_timezone(&crate::schedule::DEFAULT_TIME_ZONE)
                            .format("%H:%M %d/%m/%Y"),
                        snapshot.revision
                    ),
                    unsubscribe_url: None,
                    // Each run makes a new revision, and its email is a new message.
                    idempotency_key: None,
                    attachments: vec![Attachment {
                        filename: filename.clone(),
                        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
                        bytes: workbook.clone(),
                    }],
                };
                match email.send_email(&message).await {
                    Ok(sent) => {
                        outcome.emailed += 1;
                        tracing::info!(org = %org, message_id = %sent.message_id, "quarterly report emailed");
                    }
                    Err(e) => {
                        tracing::warn!(org = %org, error.message = %e, "quarterly report not emailed");
                        outcome.failed.push(e.to_string());
                    }
                }
            }
        } else {
            tracing::warn!(org = %org, "no planner with an email address: report kept, not emailed");
        }
        units.push(outcome);
    }
    Ok(SummaryReport {
        year: q.year,
        quarter: q.quarter,
        units,
    })
}

/// Every province valid on `on`.
async fn provinces_on<S: Store + ?Sized>(store: &S, on: chrono::NaiveDate) -> CoreResult<Vec<String>> {
    let filter = OrgUnitFilter {
        level: Some(Level::Province),
        parent_code: None,
    };
    let mut page = PageRequest::first(100);
    let mut out = Vec::new();
    loop {
        let p = store.list_org_units(&filter, &page).await?;
        out.extend(
            p.items
                .into_iter()
                .filter(|u| u.is_valid_on(on))
                .map(|u| u.code.into_string()),
        );
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    out.dedup();
    Ok(out)
}

/// The planners of a unit who have an email address and have not opted out of email.
async fn planners_of<S: Store + ?Sized>(store: &S, org: &str) -> CoreResult<Vec<(String, String)>> {
    let filter = ContactFilter {
        commune: Some(org.into()),
        role: Some(ContactRole::Planner),
    };
    let mut page = PageRequest::first(100);
    let mut out = Vec::new();
    loop {
        let p = store.list_contacts(&filter, &page).await?;
        for c in p.items {
            if let Some(address) = &c.email
                && !c.has_opted_out(crate::contact::Channel::Email)
            {
                out.push((c.name.clone(), address.clone()));
            }
        }
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(out),
        }
    }
}
