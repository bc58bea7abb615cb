//! A campaign's cost before it is spent (rule 14): its sessions from the schedule (not
//! materialised), the people each reminder reaches today on each channel, the SMS segments
//! of the text each of them would get, and the price table.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::campaign::{Audience, Campaign};
use crate::contact::{Channel, Contact, ContactRole};
use crate::cost::{PriceTable, SmsRoute, vnd, zns_fallback_share};
use crate::error::CoreResult;
use crate::ids::ContactId;
use crate::jobs::render_sms;
use crate::phone::Phone;
use crate::ports::{ContactFilter, PageRequest, Store};
use crate::session::Session;
use crate::sms::count_segments;

/// The days of tallies the ZNS → SMS fallback share is read from.
pub const FALLBACK_HISTORY_DAYS: i64 = 90;

/// One channel's part of an estimate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelEstimate {
    pub channel: Channel,
    /// People reached on this channel (each once, whatever the number of rules).
    pub recipients: u64,
    /// Messages over the campaign: sessions × rules × people.
    pub messages: u64,
    /// SMS segments (an email or a ZNS message counts one).
    pub segments: u64,
    pub max_segments_per_message: u64,
    /// Whole đồng, rounded; for ZNS it includes the SMS expected to carry the share that
    /// falls back.
    pub cost_vnd: u64,
}

/// One commune's part of an estimate: names differ in length, and so may segments.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CommuneEstimate {
    pub code: String,
    pub name: String,
    pub sessions: u64,
    /// Segments of the longest SMS a person of this commune would get (0 without SMS).
    pub sms_segments_per_message: u64,
    pub cost_vnd: u64,
}

/// What a campaign is expected to cost, channel by channel.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CampaignEstimate {
    pub sessions: u64,
    pub channels: Vec<ChannelEstimate>,
    pub total_cost_vnd: u64,
    pub communes: Vec<CommuneEstimate>,
    /// Share of ZNS messages expected to fall back to SMS: from the tallies of the last
    /// 90 days in the campaign's communes, or the price table's default before any.
    pub zns_sms_fallback_share: f64,
    pub sms_route: SmsRoute,
}

#[derive(Default)]
struct Sum {
    recipients: HashSet<ContactId>,
    messages: u64,
    segments: u64,
    max_segments: u64,
    cost_milli: f64,
}

fn reaches(contact: &Contact, channel: Channel) -> bool {
    let mobile = contact.phone.as_ref().is_some_and(Phone::is_mobile);
    contact.erased_at.is_none()
        && contact.has_consent(channel)
        && !contact.has_opted_out(channel)
        && match channel {
            Channel::Sms | Channel::Zns => mobile,
            Channel::Email => contact.email.is_some(),
        }
}

/// Every contact of a commune in a role, page by page.
async fn contacts_of<S: Store + ?Sized>(store: &S, commune: &str, role: ContactRole) -> CoreResult<Vec<Contact>> {
    let filter = ContactFilter {
        commune: Some(commune.into()),
        role: Some(role),
    };
    let mut page = PageRequest::first(500);
    let mut out = Vec::new();
    loop {
        let got = store.list_contacts(&filter, &page).await?;
        out.extend(got.items);
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Estimate a campaign (a draft too). Reads the campaign's units, contacts and teams and the
/// delivery tallies of its communes: nothing that grows with deliveries. Quiet hours and the
/// frequency cap, which may stop a few messages at send time, are not foreseen.
pub async fn estimate_campaign<S: Store + ?Sized>(
    store: &S,
    campaign: &Campaign,
    prices: &PriceTable,
    now: DateTime<Utc>,
) -> CoreResult<CampaignEstimate> {
    let schedule = campaign.schedule.parse()?;
    let occurrences: Vec<DateTime<Utc>> = schedule.occurrences_in(&campaign.period).collect();
    let per_commune = occurrences.len() as u64;
    let today = now.with_timezone(&campaign.schedule.time_zone).date_naive();
    let history = store
        .delivery_tallies(&campaign.communes, today - Duration::days(FALLBACK_HISTORY_DAYS), today)
        .await?;
    let fallback = zns_fallback_share(&history, prices.zns_sms_fallback_share);
    let mut sums: BTreeMap<Channel, Sum> = BTreeMap::new();
    for rule in &campaign.reminder_rules {
        for channel in &rule.channels {
            sums.entry(*channel).or_default();
        }
    }
    let mut communes = Vec::with_capacity(campaign.communes.len());
    // Any session renders alike: dates and times are of fixed width.
    let when = occurrences.first().copied().unwrap_or(now);
    for code in &campaign.communes {
        let versions = store.org_unit_versions(code.as_str()).await?;
        let name = versions.last().map_or_else(|| String::from(code), |u| u.name.clone());
        let session = Session::materialise(campaign, code.as_str(), when, now);
        let needs = |a: Audience| {
            campaign
                .reminder_rules
                .iter()
                .any(|r| r.audience == a || r.audience == Audience::All)
        };
        let citizens = if needs(Audience::Citizens) {
            contacts_of(store, code.as_str(), ContactRole::Citizen).await?
        } else {
            Vec::new()
        };
        // Volunteers are assigned session by session: the team's, as many as a session needs.
        let mut volunteers = Vec::new();
        if needs(Audience::Volunteers)
            && let Some(team) = store.get_team(code.as_str()).await?
        {
            let wanted = if campaign.min_staff == 0 {
                team.member_ids.len()
            } else {
                campaign.min_staff as usize
            };
            for id in team.member_ids.iter().take(wanted) {
                if let Some(c) = store.get_contact(id).await? {
                    volunteers.push(c);
                }
            }
        }
        let mut commune_max = 0u64;
        let mut commune_cost = 0f64;
        for rule in &campaign.reminder_rules {
            let audience: Vec<&Contact> = match rule.audience {
                Audience::Citizens => citizens.iter().collect(),
                Audience::Volunteers => volunteers.iter().collect(),
                Audience::All => citizens.iter().chain(volunteers.iter()).collect(),
            };
            for channel in &rule.channels {
                let sum = sums.entry(*channel).or_default();
                for contact in audience.iter().filter(|c| reaches(c, *channel)) {
                    let phone = contact.phone.as_ref().map(|p| p.e164.as_str()).unwrap_or("");
                    let sms_segments = || {
                        let text = render_sms(rule, campaign, &session, contact, &name);
                        count_segments(&text).segments as u64
                    };
                    let (segments, max, cost) = match channel {
                        Channel::Sms => {
                            let n = sms_segments();
                            (n, n, (prices.sms_segment_milli_vnd(phone) * n) as f64)
                        }
                        Channel::Email => (1, 1, prices.email_milli_vnd() as f64),
                        Channel::Zns => {
                            // Charged only when delivered; the rest goes by SMS.
                            let n = sms_segments();
                            let sms = (prices.sms_segment_milli_vnd(phone) * n) as f64;
                            (1, 1, (1.0 - fallback) * prices.zns_milli_vnd() as f64 + fallback * sms)
                        }
                    };
                    sum.recipients.insert(contact.id.clone());
                    sum.messages += per_commune;
                    sum.segments += segments * per_commune;
                    sum.max_segments = sum.max_segments.max(max);
                    sum.cost_milli += cost * per_commune as f64;
                    commune_cost += cost * per_commune as f64;
                    if *channel == Channel::Sms {
                        commune_max = commune_max.max(max);
                    }
                }
            }
        }
        communes.push(CommuneEstimate {
            code: String::from(code),
            name,
            sessions: per_commune,
            sms_segments_per_message: commune_max,
            cost_vnd: vnd(commune_cost.round() as u64),
        });
    }
    let channels: Vec<ChannelEstimate> = sums
        .into_iter()
        .map(|(channel, s)| ChannelEstimate {
            channel,
            recipients: s.recipients.len() as u64,
            messages: s.messages,
            segments: s.segments,
            max_segments_per_message: s.max_segments,
            cost_vnd: vnd(s.cost_milli.round() as u64),
        })
        .collect();
    Ok(CampaignEstimate {
        sessions: per_commune * campaign.communes.len() as u64,
        total_cost_vnd: channels.iter().map(|c| c.cost_vnd).sum(),
        channels,
        communes,
        zns_sms_fallback_share: fallback,
        sms_route: prices.route(),
    })
}
