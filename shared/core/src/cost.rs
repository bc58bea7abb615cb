//! What messages cost: the price table (per channel, per SMS route and operator), the cost
//! of one delivery, and the running delivery tallies (count, segments and cost per commune,
//! local day, channel and outcome) that the overview, the estimate and the quarterly report
//! read instead of the delivery log.
//!
//! Costs are kept in thousandths of a đồng (`milli_vnd`): an email through SES costs about
//! 2.6 đ, and rounding each one to whole đồng would overstate email by 15 %.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::contact::Channel;
use crate::ids::UnitCode;
use crate::reminder::{Delivery, DeliveryStatus};

/// Which way SMS leave the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsRoute {
    /// A Vietnamese brandname gateway (`OUTREACH_SMS=http`), priced per operator in đồng.
    Brandname,
    /// Amazon SNS international routes (`OUTREACH_SMS=sns`), priced in USD a segment.
    Sns,
}

/// A Vietnamese mobile operator, known from the number's prefix (post-2018 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Viettel,
    Vinaphone,
    Mobifone,
    Vietnamobile,
    Gmobile,
    /// Mobile virtual operators (iTel, Reddi…) and anything not recognised.
    Other,
}

impl Operator {
    /// The operator of a number in E.164 (`+84…`), by its two-digit mobile prefix.
    pub fn of(e164: &str) -> Self {
        let prefix = e164.strip_prefix("+84").and_then(|rest| rest.get(..2)).unwrap_or("");
        match prefix {
            "32" | "33" | "34" | "35" | "36" | "37" | "38" | "39" | "86" | "96" | "97" | "98" => Self::Viettel,
            "81" | "82" | "83" | "84" | "85" | "88" | "91" | "94" => Self::Vinaphone,
            "70" | "76" | "77" | "78" | "79" | "89" | "90" | "93" => Self::Mobifone,
            "52" | "56" | "58" | "92" => Self::Vietnamobile,
            "59" | "99" => Self::Gmobile,
            _ => Self::Other,
        }
    }
}

/// Brandname SMS prices per operator, in đồng a segment (VAT excluded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorPrices {
    pub viettel: f64,
    pub vinaphone: f64,
    pub mobifone: f64,
    pub vietnamobile: f64,
    pub gmobile: f64,
    pub other: f64,
}

impl OperatorPrices {
    fn of(&self, operator: Operator) -> f64 {
        match operator {
            Operator::Viettel => self.viettel,
            Operator::Vinaphone => self.vinaphone,
            Operator::Mobifone => self.mobifone,
            Operator::Vietnamobile => self.vietnamobile,
            Operator::Gmobile => self.gmobile,
            Operator::Other => self.other,
        }
    }

    fn all(&self) -> [f64; 6] {
        [
            self.viettel,
            self.vinaphone,
            self.mobifone,
            self.vietnamobile,
            self.gmobile,
            self.other,
        ]
    }
}

impl Default for OperatorPrices {
    /// Brandname SMS for public administration and mass organisations (đoàn thể): about
    /// 150–250 đ a message depending on the operator (issue 16, from the gateways' published
    /// lists for "hành chính công"); Viettel and unknown operators at the top of the range so
    /// an estimate errs high. Ordinary customer-care brandname is about 800 đ: set it with
    /// `OUTREACH_PRICES` when the organisation does not get the public rate.
    fn default() -> Self {
        Self {
            viettel: 250.0,
            vinaphone: 200.0,
            mobifone: 200.0,
            vietnamobile: 150.0,
            gmobile: 150.0,
            other: 250.0,
        }
    }
}

/// The prices messages are costed at: read once at start (`OUTREACH_PRICES`, JSON, or
/// `OUTREACH_PRICES_FILE`); every field may be left out and takes its documented default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PriceTable {
    /// The SMS route; unset, it follows `OUTREACH_SMS` (`sns` → sns, otherwise brandname).
    pub sms_route: Option<SmsRoute>,
    /// Brandname SMS, đồng a segment, per operator.
    pub brandname_vnd_per_segment: OperatorPrices,
    /// SNS to Vietnam, USD a segment. Default 0.065: an assumption (the README's); read the
    /// Vietnam row of the AWS End User Messaging price list before budgeting.
    pub sns_usd_per_segment: f64,
    /// Zalo ZNS, đồng a message, charged only when delivered. Default 300: a type-1
    /// (text) ZNS template (issue 16; Zalo Cloud's ZNS price list).
    pub zns_vnd_per_message: f64,
    /// SES, USD per 1,000 emails. Default 0.10 (the SES price list, attachments aside).
    pub ses_usd_per_1000: f64,
    /// Đồng to a US dollar. Default 26,000 (about the 2025–2026 rate).
    pub usd_vnd: f64,
    /// Share of ZNS messages expected to fall back to SMS before any history is tallied.
    /// Default 0.25: about a quarter of mobile numbers have no Zalo account that accepts ZNS
    /// (an assumption; the estimate uses the tallies' share once there are any).
    pub zns_sms_fallback_share: f64,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self {
            sms_route: None,
            brandname_vnd_per_segment: OperatorPrices::default(),
            sns_usd_per_segment: 0.065,
            zns_vnd_per_message: 300.0,
            ses_usd_per_1000: 0.10,
            usd_vnd: 26_000.0,
            zns_sms_fallback_share: 0.25,
        }
    }
}

/// Thousandths of a đồng from đồng, rounded.
fn milli(vnd: f64) -> u64 {
    (vnd * 1000.0).round().max(0.0) as u64
}

impl PriceTable {
    /// Parse and check a price table given as JSON; the message names what is wrong.
    pub fn parse_json(text: &str) -> Result<Self, String> {
        let table: Self = serde_json::from_str(text).map_err(|e| format!("not a price table: {e}"))?;
        table.check()?;
        Ok(table)
    }

    /// Refuse prices that cannot be right: negative, not finite, a zero exchange rate, a
    /// share outside 0–1.
    pub fn check(&self) -> Result<(), String> {
        let prices = [
            ("sns_usd_per_segment", self.sns_usd_per_segment),
            ("zns_vnd_per_message", self.zns_vnd_per_message),
            ("ses_usd_per_1000", self.ses_usd_per_1000),
        ];
        for (name, v) in prices.into_iter().chain(
            self.brandname_vnd_per_segment
                .all()
                .map(|v| ("brandname_vnd_per_segment", v)),
        ) {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name}: {v} is not a price (a number, 0 or more)"));
            }
        }
        if !self.usd_vnd.is_finite() || self.usd_vnd <= 0.0 {
            return Err(format!("usd_vnd: {} is not an exchange rate", self.usd_vnd));
        }
        if !(0.0..=1.0).contains(&self.zns_sms_fallback_share) {
            return Err(format!(
                "zns_sms_fallback_share: {} is not a share between 0 and 1",
                self.zns_sms_fallback_share
            ));
        }
        Ok(())
    }

    /// The SMS route in use.
    pub fn route(&self) -> SmsRoute {
        self.sms_route.unwrap_or(SmsRoute::Brandname)
    }

    /// One SMS segment to this number, in thousandths of a đồng.
    pub fn sms_segment_milli_vnd(&self, e164: &str) -> u64 {
        match self.route() {
            SmsRoute::Brandname => milli(self.brandname_vnd_per_segment.of(Operator::of(e164))),
            SmsRoute::Sns => milli(self.sns_usd_per_segment * self.usd_vnd),
        }
    }

    /// One email, in thousandths of a đồng.
    pub fn email_milli_vnd(&self) -> u64 {
        milli(self.ses_usd_per_1000 / 1000.0 * self.usd_vnd)
    }

    /// One delivered ZNS message, in thousandths of a đồng.
    pub fn zns_milli_vnd(&self) -> u64 {
        milli(self.zns_vnd_per_message)
    }

    /// What a message costs on `channel`: `segments` SMS segments to `e164`, an email, or a
    /// ZNS message (charged only when delivered: the caller passes only those).
    pub fn message_milli_vnd(&self, channel: Channel, segments: u32, e164: &str) -> u64 {
        match channel {
            Channel::Sms => self.sms_segment_milli_vnd(e164) * u64::from(segments),
            Channel::Email => self.email_milli_vnd(),
            Channel::Zns => self.zns_milli_vnd(),
        }
    }
}

/// Whole đồng from thousandths, rounded.
pub fn vnd(milli_vnd: u64) -> u64 {
    (milli_vnd + 500) / 1000
}

/// Where and when a delivery settled, and how: the key of a delivery tally.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryTallyKey {
    pub commune_code: UnitCode,
    /// The local date (Asia/Ho_Chi_Minh) the delivery settled on.
    pub day: NaiveDate,
    /// The channel the delivery was first tried on (its own channel).
    pub channel: Channel,
    /// The channel that carried it: its own, or SMS for a ZNS message that fell back.
    pub carried_by: Channel,
    /// A final status: sent, failed, suppressed or uncertain.
    pub status: DeliveryStatus,
    /// Which policy rule suppressed it (`no_consent`…); empty for the other statuses (a
    /// provider's failure text would make a key per message).
    pub reason: String,
}

impl DeliveryTallyKey {
    /// The key of a delivery settling in `commune_code` on local `day`, carried by its own
    /// channel. A ZNS message that fell back to SMS says so with [`Self::carried_by`].
    pub fn of(delivery: &Delivery, commune_code: &UnitCode, day: NaiveDate) -> Self {
        Self {
            commune_code: commune_code.clone(),
            day,
            channel: delivery.channel,
            carried_by: delivery.channel,
            status: delivery.status,
            reason: match delivery.status {
                DeliveryStatus::Suppressed => delivery.reason.clone().unwrap_or_default(),
                _ => String::new(),
            },
        }
    }

    /// The same key for a delivery carried by another channel (ZNS → SMS fallback).
    pub fn carried_by(self, channel: Channel) -> Self {
        Self {
            carried_by: channel,
            ..self
        }
    }
}

/// A running tally of settled deliveries: how many, their SMS segments and their cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryTally {
    pub key: DeliveryTallyKey,
    pub count: u64,
    pub segments: u64,
    pub cost_milli_vnd: u64,
}

impl DeliveryTally {
    /// The tally one settled delivery adds.
    pub fn one(key: DeliveryTallyKey, delivery: &Delivery) -> Self {
        Self {
            key,
            count: 1,
            segments: u64::from(delivery.segments),
            cost_milli_vnd: delivery.cost_milli_vnd,
        }
    }
}

/// The share of ZNS messages that fell back to SMS in these tallies, or `default` when no
/// ZNS message has settled as sent yet.
pub fn zns_fallback_share(tallies: &[DeliveryTally], default: f64) -> f64 {
    let sent_zns = tallies
        .iter()
        .filter(|t| t.key.channel == Channel::Zns && t.key.status == DeliveryStatus::Sent);
    let (mut all, mut fell_back) = (0u64, 0u64);
    for t in sent_zns {
        all += t.count;
        if t.key.carried_by == Channel::Sms {
            fell_back += t.count;
        }
    }
    if all == 0 {
        default
    } else {
        fell_back as f64 / all as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_known_by_prefix() {
        assert_eq!(Operator::of("+84983123456"), Operator::Viettel);
        assert_eq!(Operator::of("+84912345678"), Operator::Vinaphone);
        assert_eq!(Operator::of("+84903123456"), Operator::Mobifone);
        assert_eq!(Operator::of("+84921234567"), Operator::Vietnamobile);
        assert_eq!(Operator::of("+84991234567"), Operator::Gmobile);
        assert_eq!(Operator::of("+84871234567"), Operator::Other);
        assert_eq!(Operator::of(""), Operator::Other);
    }

    #[test]
    fn messages_are_costed_per_route_and_channel() {
        let prices = PriceTable::default();
        assert_eq!(prices.message_milli_vnd(Channel::Sms, 2, "+84983123456"), 500_000);
        assert_eq!(prices.message_milli_vnd(Channel::Sms, 1, "+84921234567"), 150_000);
        assert_eq!(prices.message_milli_vnd(Channel::Email, 1, ""), 2_600);
        assert_eq!(prices.message_milli_vnd(Channel::Zns, 1, ""), 300_000);
        let sns = PriceTable {
            sms_route: Some(SmsRoute::Sns),
            ..prices
        };
        assert_eq!(sns.message_milli_vnd(Channel::Sms, 1, "+84983123456"), 1_690_000);
        assert_eq!(vnd(1_690_000), 1_690);
        assert_eq!(vnd(2_600), 3);
    }

    #[test]
    fn a_bad_price_table_is_refused_with_its_field() {
        assert_eq!(PriceTable::parse_json("{}").unwrap(), PriceTable::default());
        let t = PriceTable::parse_json(r#"{"sms_route": "sns", "zns_vnd_per_message": 250}"#).unwrap();
        assert_eq!((t.route(), t.zns_vnd_per_message), (SmsRoute::Sns, 250.0));
        let e = PriceTable::parse_json(r#"{"usd_vnd": 0}"#).unwrap_err();
        assert!(e.contains("usd_vnd"), "{e}");
        let e = PriceTable::parse_json(r#"{"zns_sms_fallback_share": 1.5}"#).unwrap_err();
        assert!(e.contains("zns_sms_fallback_share"), "{e}");
        let e = PriceTable::parse_json(r#"{"sms_price": 1}"#).unwrap_err();
        assert!(e.contains("sms_price"), "{e}");
        let e = PriceTable::parse_json(
            r#"{"brandname_vnd_per_segment": {"viettel": -1, "vinaphone": 1, "mobifone": 1, "vietnamobile": 1, "gmobile": 1, "other": 1}}"#,
        )
        .unwrap_err();
        assert!(e.contains("brandname"), "{e}");
    }
}
