//! Reminder templates: text with `{placeholder}`s, checked when saved, filled when sent.

use crate::error::{CoreError, CoreResult};

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 6] = ["name", "campaign", "commune", "venue", "date", "time"];

/// Default SMS text (rendered unaccented unless the campaign opts into Unicode). One GSM-7
/// segment (160 characters) for every commune of Bắc Giang and Bắc Ninh (the longest name
/// is 20 characters) with a venue of up to 21: 119 characters without them. The former
/// text was 165–179 characters, two segments everywhere, doubling the bill.
pub const DEFAULT_SMS_CITIZEN: &str = "Đoàn TN {commune}: hướng dẫn dịch vụ công {time} {date} tại {venue}. Mang CCCD, điện thoại. dichvucong.bacgiang.gov.vn. Từ chối: TC";
/// Default SMS text to volunteers assigned to a session.
pub const DEFAULT_SMS_VOLUNTEER: &str =
    "Đoàn Thanh niên: bạn trực buổi hỗ trợ dịch vụ công lúc {time} ngày {date} tại {venue}, {commune}. Từ chối: TC";
/// Default email subject.
pub const DEFAULT_EMAIL_SUBJECT: &str = "Nhắc lịch: {campaign} — {date} {time}";
/// Default email body.
pub const DEFAULT_EMAIL_BODY: &str = "Chào {name},\n\nĐoàn Thanh niên {commune} mời bạn tham gia buổi hướng dẫn sử dụng dịch vụ công trực tuyến lúc {time} ngày {date} tại {venue}.\nVui lòng mang theo căn cước công dân (CCCD) và điện thoại di động.\nCổng dịch vụ công: dichvucong.bacgiang.gov.vn và dichvucong.gov.vn.\n\nĐoàn Thanh niên Cộng sản Hồ Chí Minh";

/// Check that a template is non-empty, bounded, and uses only known placeholders.
pub fn validate_template(field: &str, text: &str, max_chars: usize) -> CoreResult<()> {
    if text.trim().is_empty() {
        return Err(CoreError::invalid(field, "the template is empty"));
    }
    if text.chars().count() > max_chars {
        return Err(CoreError::invalid(
            field,
            format!("the template is longer than {max_chars} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(CoreError::invalid(field, "the template holds control characters"));
    }
    for name in placeholders(text).map_err(|m| CoreError::invalid(field, m))? {
        if !PLACEHOLDERS.contains(&name) {
            return Err(CoreError::invalid(
                field,
                format!(
                    "unknown placeholder {{{name}}}; use one of {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The placeholder names a template uses, or why its braces do not balance.
fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("a '}' without its '{'".into());
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("a '{' without its '}'")?;
        let name = &after[..close];
        if name.contains('{') {
            return Err("a '{' inside a placeholder".into());
        }
        out.push(name.trim());
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Fill a validated template with values looked up by placeholder name.
pub fn render(text: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push_str(&value(after[..close].trim()));
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every commune name of the reference units (`/work/shared/data`, read when present, as
    /// the benchmarks do), else the longest names they hold.
    fn commune_names() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        let mut names = Vec::new();
        for file in ["bacgiang_units.json", "bacninh_2025_units.json"] {
            let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
                continue;
            };
            let units: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
            names.extend(
                units
                    .iter()
                    .filter(|u| u["level"] == "commune")
                    .map(|u| u["name"].as_str().unwrap().to_string()),
            );
        }
        if names.is_empty() {
            names = vec![
                "Phường Hoàng Văn Thụ".into(),
                "Thị trấn Nham Biền".into(),
                "Xã Tân Dĩnh".into(),
            ];
        }
        names
    }

    #[test]
    fn default_sms_fit_one_gsm7_segment_for_every_commune_name() {
        let names = commune_names();
        for template in [DEFAULT_SMS_CITIZEN, DEFAULT_SMS_VOLUNTEER] {
            for commune in &names {
                let text = crate::sms::prepare_sms_text(
                    &render(template, |key| match key {
                        "commune" => commune.clone(),
                        "venue" => "Nhà văn hoá thôn Đông".into(),
                        "date" => "03/10/2026".into(),
                        "time" => "08:00".into(),
                        _ => String::new(),
                    }),
                    false,
                );
                let cost = crate::sms::count_segments(&text);
                assert_eq!(cost.segments, 1, "{commune}: {} characters: {text}", cost.units);
            }
        }
    }

    #[test]
    fn defaults_are_valid() {
        for t in [
            DEFAULT_SMS_CITIZEN,
            DEFAULT_SMS_VOLUNTEER,
            DEFAULT_EMAIL_SUBJECT,
            DEFAULT_EMAIL_BODY,
        ] {
            validate_template("t", t, 2000).unwrap();
        }
    }

    #[test]
    fn unknown_or_unbalanced_placeholders_are_refused() {
        assert!(
            validate_template("t", "lúc {gio}", 500)
                .unwrap_err()
                .to_string()
                .contains("unknown placeholder {gio}")
        );
        assert!(validate_template("t", "lúc {time", 500).is_err());
        assert!(validate_template("t", "lúc time}", 500).is_err());
        assert!(validate_template("t", "  ", 500).is_err());
    }

    #[test]
    fn render_fills_every_placeholder() {
        let out = render("{commune} lúc {time} ngày {date}", |k| match k {
            "commune" => "xã Tân Dĩnh".into(),
            "time" => "08:00".into(),
            _ => "03/10/2026".into(),
        });
        assert_eq!(out, "xã Tân Dĩnh lúc 08:00 ngày 03/10/2026");
    }
}
