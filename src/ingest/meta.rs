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

/// Month names and their usual abbreviations, for datelines.
const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// A full date written in a document's dateline: `2025-02-03`, `March 6, 2025`, `6 March 2025`,
/// `Mar. 6 2025`, as ISO `YYYY-MM-DD` (None when it is no real day).
fn date_in(s: &str) -> Option<(usize, String)> {
    static DATE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = DATE.get_or_init(|| {
        let month = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?";
        regex::Regex::new(&format!(
            r"(?i)\b(?:(?P<y>\d{{4}})-(?P<m>\d{{2}})-(?P<d>\d{{2}})|(?P<mn>{month})\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y2>\d{{4}})|(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mn3>{month}),?\s+(?P<y3>\d{{4}}))\b"
        ))
        .expect("a valid pattern")
    });
    let c = re.captures(s)?;
    let at = c.get(0)?.start();
    let month_of = |name: &str| MONTHS.iter().position(|m| name.to_lowercase().starts_with(m)).map(|i| i as u32 + 1);
    let (y, m, d) = if let Some(y) = c.name("y") {
        (y.as_str().parse().ok()?, c["m"].parse().ok()?, c["d"].parse().ok()?)
    } else if let Some(y) = c.name("y2") {
        (y.as_str().parse().ok()?, month_of(&c["mn"])?, c["d2"].parse().ok()?)
    } else {
        (c["y3"].parse().ok()?, month_of(&c["mn3"])?, c["d3"].parse().ok()?)
    };
    let (y, m, d): (i16, i8, i8) = (y, i8::try_from(m).ok()?, d);
    let date = jiff::civil::Date::new(y, m, d).ok()?;
    (1900..=2200).contains(&y).then(|| (at, date.to_string()))
}

/// The publication date a document states in its dateline, where it gives a full date: in one of
/// its first five non-empty lines, a date the line begins with (after `Published`, `Updated`,
/// `Posted`, `Date`, a place in the form `LONDON,` or `Frankfurt,`, or a weekday), or the date of a
/// short line (a dateline or byline of at most twelve words). A date further into a sentence is the
/// story's, not the document's, and is left alone.
pub fn dateline(text: &str) -> Option<String> {
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()).take(5) {
        let line: String = line.chars().take(300).collect();
        let Some((at, date)) = date_in(&line) else { continue };
        if leads(&line[..at]) || line.split_whitespace().count() <= 12 {
            return Some(date);
        }
    }
    None
}

/// Whether what comes before a date in a line makes it the line's own date: nothing, a word such
/// as `Published`/`Updated`, or a place and a comma (`LONDON,`, `*Frankfurt,`).
fn leads(before: &str) -> bool {
    const LEADS: [&str; 7] = ["published", "updated", "posted", "date", "dated", "last updated", "first published"];
    let bare = before.trim().trim_end_matches([':', ',', '—', '–', '-', '|', '(', '*', '_']).trim().trim_start_matches(['*', '_']).to_lowercase();
    bare.is_empty()
        || LEADS.iter().any(|l| bare == *l || bare.ends_with(&format!(" {l}")) && bare.split_whitespace().count() <= 4)
        || bare.split_whitespace().count() <= 3 && before.trim_end().ends_with(',')
}

/// The date a line begins with (after `Published` and the like, or a place and a comma): a
/// one-line brief's date. A date later in the line is the story's.
pub fn dateline_at_start(line: &str) -> Option<String> {
    let (at, date) = date_in(line)?;
    leads(&line[..at]).then_some(date)
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

    #[test]
    fn datelines_give_the_day_and_dates_inside_sentences_do_not() {
        for (text, want) in [
            ("2025-02-03 Copper jumps as Chile output falls", Some("2025-02-03")),
            ("Copper Outlook\nPublished 14 July 2025\n\nBody.", Some("2025-07-14")),
            ("LONDON, March 6, 2025 (Reuters) - Stocks rose on Thursday as investors weighed the latest figures from the central bank and", Some("2025-03-06")),
            ("*Frankfurt, 6 March 2025*\n\nThe ECB cut rates.", Some("2025-03-06")),
            ("Updated: Sept. 3rd, 2024 at 10:00", Some("2024-09-03")),
            ("Headline\nBy Jane Doe | Feb 29, 2024", Some("2024-02-29")),
            ("Analysts expected the merger announced on March 6, 2019 to close within a year, but regulators in three countries objected.", None),
            ("*Frankfurt, 6 March*\n\nNo year given.", None),
            ("Headline\nFebruary 30, 2025", None),
            ("a\nb\nc\nd\ne\nPublished 14 July 2025", None),
        ] {
            assert_eq!(dateline(text).as_deref(), want, "{text}");
        }
        assert_eq!(dateline_at_start("2025-02-03 Copper jumps as Chile output falls").as_deref(), Some("2025-02-03"));
        assert_eq!(dateline_at_start("Poland signed on March 3, 2025 a deal for helicopters."), None);
    }
}
