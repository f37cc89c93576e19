//! Document metadata shared by the formats: publication dates.

/// A date as stored: ISO 8601 as the source gave it (a date `2025-03-06`, a month `2025-03`, a year,
/// or a date-time with or without offset); an RFC 2822 date (RSS feeds, mail headers) is rewritten
/// as ISO 8601. Anything else is `None`: the caller warns and keeps the document without a date.
pub fn parse_date(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let iso = s.parse::<jiff::Timestamp>().is_ok()
        || s.parse::<jiff::Zoned>().is_ok()
        || s.parse::<jiff::civil::DateTime>().is_ok()
        || s.parse::<jiff::civil::Date>().is_ok()
        || reduced_precision(s);
    if iso {
        return Some(s.to_string());
    }
    let zoned = jiff::fmt::rfc2822::parse(s).ok()?;
    Some(zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

/// `YYYY` or `YYYY-MM`, which ISO 8601 allows and jiff's parsers (full dates only) do not take.
fn reduced_precision(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b.len() {
        4 => digits(b),
        7 => digits(&b[..4]) && b[4] == b'-' && s[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m)),
        _ => false,
    }
}

/// The warning for a date that `parse_date` refused (the caller adds `file:line`).
pub fn bad_date(raw: &str) -> String {
    let shown: String = raw.chars().take(60).collect();
    format!("date {shown:?} is not ISO 8601 (e.g. 2025-03-06 or 2025-03-06T14:30:00Z); the document is indexed without a date")
}

/// A document's url as it is stored: only a web address (`http://`, `https://`), trimmed. Anything
/// else (`javascript:`, `data:`, `file:`, a relative path) would be a link that runs or opens
/// something in whatever page shows it, so it is dropped and `warn` told why (the caller adds
/// `file:line`).
pub fn web_url(raw: Option<String>, warn: &mut dyn FnMut(String)) -> Option<String> {
    let url = raw?.trim().to_string();
    let lower = url.get(..8).unwrap_or(&url).to_ascii_lowercase();
    let web = (lower.starts_with("http://") || lower.starts_with("https://")) && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    if !web {
        let shown: String = url.chars().take(60).collect();
        warn(format!("url {shown:?} is not a web address (http or https); the document is indexed without it"));
        return None;
    }
    Some(url)
}

/// The 1-based line of `source` where `needle` first appears (1 when it does not): where a
/// warning about a metadata value points.
pub fn line_of(source: &str, needle: &str) -> u32 {
    source.find(needle.trim()).map_or(1, |at| source[..at].matches('\n').count() as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_are_kept_as_urls() {
        let mut warned = Vec::new();
        let mut keep = |u: &str| web_url(Some(u.to_string()), &mut |w| warned.push(w));
        assert_eq!(keep(" https://x.example/a ").as_deref(), Some("https://x.example/a"));
        assert_eq!(keep("HTTP://X.example").as_deref(), Some("HTTP://X.example"));
        for bad in [
            "javascript:alert(1)",
            " JavaScript:fetch('/api/status')",
            "data:text/html,<script>x</script>",
            "file:///etc/passwd",
            "/relative",
            "https://x.example/a b",
            "http://x\u{0}y",
            "vbscript:x",
        ] {
            assert_eq!(keep(bad), None, "{bad}");
        }
        assert_eq!(warned.len(), 8);
        assert!(warned[0].contains("not a web address"), "{warned:?}");
        assert_eq!(line_of("a\nb\nurl: javascript:x\n", "javascript:x"), 3);
    }

    #[test]
    fn iso_dates_kept_as_given_others_refused() {
        for ok in ["2025-03-06", "2025-03", "2025", "2025-02-20T08:30:00Z", "2025-02-27T06:10:00+02:00", "2025-02-20T08:30:00"] {
            assert_eq!(parse_date(ok).as_deref(), Some(ok), "{ok}");
        }
        assert_eq!(parse_date("Tue, 04 Mar 2025 10:00:00 GMT").as_deref(), Some("2025-03-04T10:00:00+00:00"));
        for bad in ["last Tuesday", "2025-13", "2025-02-30", "", "06/03/2025"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
