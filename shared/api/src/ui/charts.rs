//! Charts drawn on the server as SVG: readable on a phone, printable, no script. Each
//! carries a text equivalent (`<title>` and `aria-label`) for screen readers and print.

use std::fmt::Write;

use outreach_core::report::Status;

/// The colour of a status.
pub fn status_class(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::OnTrack) => "on-track",
        Some(Status::AtRisk) => "at-risk",
        Some(Status::Behind) => "behind",
        Some(Status::NoData) | None => "no-data",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bar of progress towards the year's target: the year to date filled, the milestone due
/// by now marked, and (when given) the year-end projection as a lighter bar behind.
pub fn progress(
    label: &str,
    done: f64,
    milestone: Option<f64>,
    projected: Option<f64>,
    status: Option<Status>,
) -> String {
    let clamp = |v: f64| (v.clamp(0.0, 100.0) * 10.0).round() / 10.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="progress {class}" viewBox="0 0 100 12" preserveAspectRatio="none" role="img" aria-label="{label}"><title>{label}</title><rect class="track" x="0" y="2" width="100" height="8" rx="2"/>"#,
        class = status_class(status),
        label = escape(label),
    );
    if let Some(p) = projected {
        let _ = write!(
            svg,
            r#"<rect class="projected" x="0" y="2" width="{}" height="8" rx="2"/>"#,
            clamp(p)
        );
    }
    let _ = write!(
        svg,
        r#"<rect class="done" x="0" y="2" width="{}" height="8" rx="2"/>"#,
        clamp(done)
    );
    if let Some(m) = milestone {
        let x = clamp(m);
        let _ = write!(
            svg,
            r#"<rect class="milestone" x="{}" y="0" width="0.8" height="12"/>"#,
            (x - 0.4).max(0.0)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One bar split into parts (sent, failed, suppressed…), each its class and count.
pub fn stacked(label: &str, parts: &[(&str, u64)]) -> String {
    let total: u64 = parts.iter().map(|(_, n)| n).sum();
    let mut svg = format!(
        r#"<svg class="stacked" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="{l}"><title>{l}</title>"#,
        l = escape(label)
    );
    if total == 0 {
        svg.push_str(r#"<rect class="track" x="0" y="1" width="100" height="8"/>"#);
    }
    let mut x = 0.0;
    for (class, n) in parts {
        if *n == 0 {
            continue;
        }
        let w = *n as f64 * 100.0 / total as f64;
        let _ = write!(
            svg,
            r#"<rect class="{class}" x="{:.2}" y="1" width="{:.2}" height="8"/>"#,
            x, w
        );
        x += w;
    }
    svg.push_str("</svg>");
    svg
}

/// Columns of a series (a metric quarter by quarter), with the values written above.
pub fn columns(label: &str, bars: &[(String, f64)]) -> String {
    let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1.0);
    let width = 40.0 * bars.len().max(1) as f64;
    let mut svg = format!(
        r#"<svg class="columns" viewBox="0 0 {width} 70" role="img" aria-label="{l}"><title>{l}</title>"#,
        l = escape(label)
    );
    for (i, (name, v)) in bars.iter().enumerate() {
        let h = v / max * 45.0;
        let x = i as f64 * 40.0 + 8.0;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{:.1}" width="24" height="{h:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="{:.1}" y="66" text-anchor="middle">{}</text>"#,
            55.0 - h,
            x + 12.0,
            52.0 - h,
            escape(&crate::ui::format::count(v.round() as i64)),
            x + 12.0,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_bar_is_clamped_and_labelled() {
        let svg = progress("Hồ sơ: 120 %", 120.0, Some(75.0), Some(130.0), Some(Status::OnTrack));
        assert!(svg.contains(r#"class="done" x="0" y="2" width="100""#), "{svg}");
        assert!(svg.contains("<title>Hồ sơ: 120 %</title>"));
        assert!(svg.contains("on-track"));
        let stacked = stacked("SMS", &[("sent", 3), ("failed", 1), ("suppressed", 0)]);
        assert!(stacked.contains(r#"width="75.00""#), "{stacked}");
        assert!(!stacked.contains("suppressed\""));
    }
}
