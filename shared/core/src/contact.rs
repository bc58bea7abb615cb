//! Contacts: the citizens and volunteers of a commune, with per-channel consent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult, CsvLines};
use crate::ids::{ContactId, UnitCode};
use crate::phone::Phone;

/// Whether a contact is reminded as a citizen or as a volunteer, or is a Youth Union
/// planner who receives the quarterly reports of their unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    Citizen,
    Volunteer,
    /// Belongs to a unit of any level (`commune_code` holds the unit's code).
    Planner,
}

crate::named_enum!(ContactRole {
    Citizen => "citizen",
    Volunteer => "volunteer",
    Planner => "planner",
});

impl ContactRole {
    /// A role as written in an import (English or Vietnamese, any case).
    pub fn from_import(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "citizen" | "công dân" | "cong dan" => Some(Self::Citizen),
            "volunteer" | "tình nguyện viên" | "tinh nguyen vien" => Some(Self::Volunteer),
            "planner" | "cán bộ đoàn" | "can bo doan" => Some(Self::Planner),
            _ => None,
        }
    }
}

/// A channel a reminder can travel on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
    Zns,
}

crate::named_enum!(Channel {
    Sms => "sms",
    Email => "email",
    Zns => "zns",
});

/// Evidence that a contact agreed to reminders on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Consent {
    pub channel: Channel,
    pub granted_at: DateTime<Utc>,
    /// How consent was given: `paper_form`, `web_form`, `verbal`, `sms_reply`…
    pub method: String,
    /// Version of the consent wording the contact agreed to.
    pub wording_version: String,
    /// Who recorded it (the token's subject), when known.
    #[serde(default)]
    pub recorded_by: Option<String>,
}

/// A refusal: the contact asked for no more reminders on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OptOut {
    pub channel: Channel,
    pub at: DateTime<Utc>,
    /// Where the refusal came from: `sms_reply`, `unsubscribe_link`, `planner`, `bounce`…
    pub source: String,
}

/// A registered citizen or volunteer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    #[schema(value_type = String)]
    pub id: ContactId,
    pub role: ContactRole,
    pub name: String,
    #[schema(value_type = String)]
    pub commune_code: UnitCode,
    /// None once the contact is erased.
    pub phone: Option<Phone>,
    pub email: Option<String>,
    /// Every consent ever given, oldest first (kept as evidence, also after erasure).
    pub consents: Vec<Consent>,
    /// Every refusal ever made, oldest first (kept as evidence).
    pub opt_outs: Vec<OptOut>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the contact's personal data was erased at their request; the record stays as
    /// an anonymous id behind the counts and the consent evidence.
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version, bumped by every update.
    pub version: u64,
}

impl Contact {
    /// The same contact without its personal data: name, phone number and email address.
    /// Its id, commune, role and the evidence of consents and refusals stay.
    pub fn erased(&self, now: DateTime<Utc>) -> Contact {
        Contact {
            name: String::new(),
            phone: None,
            email: None,
            erased_at: Some(now),
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The phone number, masked for logs and messages ("" once erased).
    pub fn masked_phone(&self) -> String {
        self.phone.as_ref().map(Phone::masked).unwrap_or_default()
    }

    /// Whether the contact has a standing consent on `channel`: a consent newer than any
    /// refusal on it.
    pub fn has_consent(&self, channel: Channel) -> bool {
        let granted = self
            .consents
            .iter()
            .filter(|c| c.channel == channel)
            .map(|c| c.granted_at)
            .max();
        let refused = self
            .opt_outs
            .iter()
            .filter(|o| o.channel == channel)
            .map(|o| o.at)
            .max();
        match (granted, refused) {
            (Some(g), Some(r)) => g > r,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// Whether the contact has opted out of `channel` (and not consented again since).
    pub fn has_opted_out(&self, channel: Channel) -> bool {
        let refused = self
            .opt_outs
            .iter()
            .filter(|o| o.channel == channel)
            .map(|o| o.at)
            .max();
        refused.is_some() && !self.has_consent(channel)
    }
}

/// A consent as a planner records it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub channel: Channel,
    pub method: String,
    pub wording_version: String,
    /// When it was given; defaults to now. Never in the future.
    #[serde(default)]
    pub granted_at: Option<DateTime<Utc>>,
}

impl ConsentInput {
    /// Validate into a consent record.
    pub fn into_consent(self, now: DateTime<Utc>, recorded_by: Option<String>) -> CoreResult<Consent> {
        let method = short_text("consent.method", &self.method, 64)?;
        let wording_version = short_text("consent.wording_version", &self.wording_version, 64)?;
        let granted_at = self.granted_at.unwrap_or(now);
        if granted_at > now + chrono::Duration::minutes(5) {
            return Err(CoreError::invalid(
                "consent.granted_at",
                "consent cannot be given in the future",
            ));
        }
        Ok(Consent {
            channel: self.channel,
            granted_at,
            method,
            wording_version,
            recorded_by,
        })
    }
}

/// A contact as a planner registers it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub role: ContactRole,
    pub name: String,
    pub commune_code: String,
    pub phone: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub consents: Vec<ConsentInput>,
}

impl ContactInput {
    /// Validate the fields that need no store; the commune is checked by the use case.
    pub fn into_contact(self, id: ContactId, now: DateTime<Utc>, recorded_by: Option<String>) -> CoreResult<Contact> {
        let name = short_text("name", &self.name, 200)?;
        let commune_code = short_text("commune_code", &self.commune_code, 10)?;
        let phone = Phone::parse(&self.phone)?;
        let email = self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_email)
            .transpose()?;
        if self.consents.len() > 10 {
            return Err(CoreError::invalid("consents", "at most 10 consents at once"));
        }
        let consents = self
            .consents
            .into_iter()
            .map(|c| c.into_consent(now, recorded_by.clone()))
            .collect::<CoreResult<Vec<_>>>()?;
        if consents.iter().any(|c| c.channel == Channel::Email) && email.is_none() {
            return Err(CoreError::invalid(
                "consents",
                "an email consent needs an email address",
            ));
        }
        Ok(Contact {
            id,
            role: self.role,
            name,
            commune_code: commune_code.into(),
            phone: Some(phone),
            email,
            consents,
            opt_outs: Vec::new(),
            created_at: now,
            updated_at: now,
            erased_at: None,
            version: 1,
        })
    }
}

/// A trimmed, non-empty text of at most `max` characters without control characters.
pub fn short_text(field: &str, value: &str, max: usize) -> CoreResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(CoreError::invalid(field, format!("at most {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(CoreError::invalid(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}

/// A plausible email address, with its domain lower-cased.
pub fn parse_email(input: &str) -> CoreResult<String> {
    let bad = |m: &str| CoreError::invalid("email", m.to_string());
    let s = input.trim();
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("not an email address (too long or holds spaces)"));
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(bad("not an email address (no @)"));
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad("not an email address (bad part before @)"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        || !domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-')
    {
        return Err(bad("not an email address (bad domain)"));
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// Hide an email address's local part and most of its domain, for logs.
pub fn mask_email(s: &str) -> String {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            let tld = domain.rsplit('.').next().unwrap_or("");
            format!("{first}***@***.{tld}")
        }
        None => "***".to_string(),
    }
}

/// One row of a contact CSV, read before validation.
#[derive(Debug, Clone)]
pub struct ContactRow {
    pub row: usize,
    pub input: Result<ContactInput, String>,
}

/// Read a contact list: header `name,phone,role,commune_code` and optional `email`,
/// `consent_sms`, `consent_email`, `consent_zns` (yes/no), `consent_method`,
/// `consent_wording_version`, `consent_at` (RFC 3339).
pub fn parse_contacts_csv(text: &str) -> CoreResult<Vec<ContactRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CoreError::invalid("file", format!("unreadable CSV header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let missing: Vec<&str> = ["name", "phone", "role", "commune_code"]
        .into_iter()
        .filter(|c| col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CoreError::invalid(
            "file",
            format!("CSV header lacks column(s): {}", missing.join(", ")),
        ));
    }
    let cols = [
        "name",
        "phone",
        "role",
        "commune_code",
        "email",
        "consent_sms",
        "consent_email",
        "consent_method",
        "consent_wording_version",
        "consent_at",
        "consent_zns",
    ]
    .map(col);
    let mut rows = Vec::new();
    let mut lines = CsvLines::new(text);
    for (i, record) in reader.records().enumerate() {
        let (row, input) = match record {
            Err(e) => (lines.of(e.position(), i), Err(format!("unreadable CSV row: {e}"))),
            Ok(record) => (lines.of(record.position(), i), contact_row(&record, &cols)),
        };
        rows.push(ContactRow { row, input });
    }
    Ok(rows)
}

fn contact_row(record: &csv::StringRecord, cols: &[Option<usize>; 11]) -> Result<ContactInput, String> {
    let get = |i: usize| {
        cols[i]
            .and_then(|c| record.get(c))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let yes = |i: usize| -> Result<bool, String> {
        match get(i).map(str::to_lowercase).as_deref() {
            None | Some("no" | "false" | "0" | "không" | "khong") => Ok(false),
            Some("yes" | "true" | "1" | "có" | "co") => Ok(true),
            Some(other) => Err(format!("consent column holds {other:?}; write yes or no")),
        }
    };
    let role = get(2).ok_or("role is missing")?;
    let role = ContactRole::from_import(role).ok_or_else(|| format!("unknown role {role:?} (citizen or volunteer)"))?;
    let mut consents = Vec::new();
    let granted_at = get(9)
        .map(|s| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)))
        .transpose()
        .map_err(|_| "consent_at is not an RFC 3339 instant".to_string())?;
    for (i, channel) in [(5, Channel::Sms), (6, Channel::Email), (10, Channel::Zns)] {
        if yes(i)? {
            consents.push(ConsentInput {
                channel,
                method: get(7).ok_or("a consent needs consent_method")?.to_string(),
                wording_version: get(8).ok_or("a consent needs consent_wording_version")?.to_string(),
                granted_at,
            });
        }
    }
    Ok(ContactInput {
        role,
        name: get(0).unwrap_or_default().to_string(),
        commune_code: get(3).unwrap_or_default().to_string(),
        phone: get(1).unwrap_or_default().to_string(),
        email: get(4).map(str::to_string),
        consents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn contact() -> Contact {
        ContactInput {
            role: ContactRole::Citizen,
            name: "Nguyễn Văn A".into(),
            commune_code: "07201".into(),
            phone: "0912345678".into(),
            email: Some("a@Example.VN".into()),
            consents: vec![],
        }
        .into_contact("c1".into(), at("2026-01-01T00:00:00Z"), None)
        .unwrap()
    }

    #[test]
    fn consent_stands_until_a_later_opt_out() {
        let mut c = contact();
        assert_eq!(c.email.as_deref(), Some("a@example.vn"));
        assert!(!c.has_consent(Channel::Sms));
        c.consents.push(Consent {
            channel: Channel::Sms,
            granted_at: at("2026-01-02T00:00:00Z"),
            method: "paper_form".into(),
            wording_version: "v1".into(),
            recorded_by: None,
        });
        assert!(c.has_consent(Channel::Sms) && !c.has_consent(Channel::Email));
        c.opt_outs.push(OptOut {
            channel: Channel::Sms,
            at: at("2026-02-01T00:00:00Z"),
            source: "sms_reply".into(),
        });
        assert!(!c.has_consent(Channel::Sms) && c.has_opted_out(Channel::Sms));
        c.consents.push(Consent {
            granted_at: at("2026-03-01T00:00:00Z"),
            ..c.consents[0].clone()
        });
        assert!(c.has_consent(Channel::Sms) && !c.has_opted_out(Channel::Sms));
    }

    #[test]
    fn emails_are_checked_and_masked() {
        assert!(parse_email("a@b").is_err());
        assert!(parse_email("a b@c.vn").is_err());
        assert!(parse_email("@c.vn").is_err());
        assert_eq!(parse_email(" Lan@DoanThanhNien.VN ").unwrap(), "Lan@doanthanhnien.vn");
        assert_eq!(mask_email("lan@doanthanhnien.vn"), "l***@***.vn");
    }

    #[test]
    fn csv_rows_are_read_with_their_errors() {
        let csv = "name,phone,role,commune_code,email,consent_sms,consent_method,consent_wording_version\n\
                   Nguyễn Văn A,0912345678,citizen,07201,,yes,paper_form,v1\n\
                   Trần Thị B,0912345679,robot,07201,,no,,\n\
                   Lê C,0912345670,volunteer,07201,,maybe,,\n";
        let rows = parse_contacts_csv(csv).unwrap();
        assert_eq!(rows.len(), 3);
        let first = rows[0].input.as_ref().unwrap();
        assert_eq!(first.consents.len(), 1);
        assert!(rows[1].input.as_ref().unwrap_err().contains("unknown role"));
        assert!(rows[2].input.as_ref().unwrap_err().contains("maybe"));
        assert!(
            parse_contacts_csv("name,phone\n")
                .unwrap_err()
                .to_string()
                .contains("role, commune_code")
        );
    }

    #[test]
    fn csv_consent_to_zns_is_read_like_sms() {
        let csv = "name,phone,role,commune_code,consent_sms,consent_zns,consent_method,consent_wording_version\n\
                   Nguyễn Văn A,0912345678,citizen,07201,yes,có,paper_form,v1\n\
                   Trần Thị B,0912345679,citizen,07201,no,yes,paper_form,v1\n\
                   Lê C,0912345670,citizen,07201,yes,no,paper_form,v1\n\
                   Phạm D,0912345671,citizen,07201,,maybe,paper_form,v1\n";
        let rows = parse_contacts_csv(csv).unwrap();
        let channels = |i: usize| -> Vec<Channel> {
            rows[i]
                .input
                .as_ref()
                .unwrap()
                .consents
                .iter()
                .map(|c| c.channel)
                .collect()
        };
        assert_eq!(channels(0), [Channel::Sms, Channel::Zns]);
        assert_eq!(channels(1), [Channel::Zns]);
        assert_eq!(channels(2), [Channel::Sms]);
        assert!(rows[3].input.as_ref().unwrap_err().contains("maybe"));
        let zns = &rows[1].input.as_ref().unwrap().consents[0];
        assert_eq!(
            (zns.method.as_str(), zns.wording_version.as_str()),
            ("paper_form", "v1")
        );
    }

    #[test]
    fn csv_rows_are_numbered_by_their_line_with_a_bom_and_crlf_as_with_lf() {
        for end in ["\n", "\r\n", "\r"] {
            let text = [
                "\u{feff}name,phone,role,commune_code",
                "A,0912345001,citizen,07201",
                "B,0912345002,citizen,07201",
                "C,12345,citizen,07201",
            ]
            .join(end)
                + end;
            let rows = parse_contacts_csv(&text).unwrap();
            assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 3, 4], "{end:?}");
        }
    }
}
