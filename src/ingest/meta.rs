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

#[cfg(test)]
mod tests {
    use super::*;

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
