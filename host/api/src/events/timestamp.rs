//! Times as `/events` takes and shows them, in nanoseconds since the Unix epoch (UTC):
//! `since`/`until` are Unix seconds (`1700000000`, or with a fraction, `1700000000.5`, as
//! Docker's CLI sends them) or RFC 3339 (`2026-11-22T11:37:42Z`,
//! `2026-11-22T12:37:42.5+01:00`); the CLI also takes Go durations (`10m`, `1h30m`),
//! meaning that long ago. Events print as Docker prints them:
//! `2026-11-22T11:37:42.416847123Z`.

use std::time::Duration;

/// A time `/events` could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time {0:?}: expected Unix seconds (1700000000 or 1700000000.5) or RFC 3339 (2026-11-22T11:37:42Z)")]
pub struct TimestampError(pub String);

/// `text` as nanoseconds since the epoch.
pub fn parse(text: &str) -> Result<i64, TimestampError> {
    let text = text.trim();
    unix_seconds(text).or_else(|| rfc3339(text)).ok_or_else(|| TimestampError(text.to_owned()))
}

/// `1700000000.000000000`: what Docker's CLI sends for `since`/`until`.
pub fn to_unix_seconds(nanos: i64) -> String {
    format!("{}.{:09}", nanos.div_euclid(1_000_000_000), nanos.rem_euclid(1_000_000_000))
}

/// `2026-11-22T11:37:42.416847123Z` (Go's RFC3339Nano with a fixed nine digits, in UTC).
pub fn format_rfc3339_nano(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z", rest / 3600, rest % 3600 / 60, rest % 60, nanos.rem_euclid(1_000_000_000))
}

/// A Go duration: `300ms`, `10m`, `1h30m`, `1.5h` (units ns, us, µs, ms, s, m, h).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

fn unix_seconds(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    whole.parse::<i64>().ok()?.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction.len());
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = format!("{:0<9}", &fraction[..digits]).parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn unix_seconds_with_or_without_a_fraction() {
        assert_eq!(parse("1700000000"), Ok(1_700_000_000 * SECOND));
        assert_eq!(parse("1700000000.5"), Ok(1_700_000_000 * SECOND + 500_000_000));
        assert_eq!(parse("1700000000.000000001"), Ok(1_700_000_000 * SECOND + 1));
        assert!(parse("17e8").is_err());
        assert!(parse("-5").is_err());
    }

    #[test]
    fn rfc3339_in_utc_or_with_an_offset() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("2023-11-14T22:13:20Z"), Ok(1_700_000_000 * SECOND));
        assert_eq!(parse("2023-11-14T23:13:20.25+01:00"), Ok(1_700_000_000 * SECOND + 250_000_000));
        assert_eq!(parse("2024-02-29T00:00:00-00:30"), Ok((1_709_164_800 + 1800) * SECOND));
        for bad in ["2023-02-29T00:00:00Z", "2023-11-14T22:13:20", "2023-11-14", "yesterday", "2023-11-14T25:00:00Z"] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains("RFC 3339"), "{bad}: {err}");
        }
    }

    #[test]
    fn printed_as_docker_prints_event_times() {
        assert_eq!(format_rfc3339_nano(1_700_000_000 * SECOND + 416_847_123), "2023-11-14T22:13:20.416847123Z");
        assert_eq!(format_rfc3339_nano(0), "1970-01-01T00:00:00.000000000Z");
        for nanos in [0, 951_782_400 * SECOND, 4_102_444_799 * SECOND + 999_999_999] {
            assert_eq!(parse(&format_rfc3339_nano(nanos)), Ok(nanos));
        }
        assert_eq!(to_unix_seconds(1_700_000_000 * SECOND + 5), "1700000000.000000005");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("1700000000"), None);
        assert_eq!(parse_duration("2023-11-14T22:13:20Z"), None);
    }
}
