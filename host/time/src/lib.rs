//! # hostctl-time
//!
//! Times as hostctl reads and writes them, with std alone (no date library): Howard
//! Hinnant's civil-from-days algorithm is all it needs.
//!
//! - RFC 3339, as image configs and container states carry them: written the way Go's
//!   `time.RFC3339Nano` writes them (UTC, fraction without trailing zeros,
//!   [`format_rfc3339`]), or with a fixed nine digits as Docker prints event times
//!   ([`format_rfc3339_nano`]); read back with any offset ([`parse_rfc3339`]).
//! - Instants as `/events` takes them: Unix seconds with an optional fraction, or RFC 3339
//!   ([`parse_instant`], [`to_unix_seconds`]).
//! - Go durations (`10m`, `1h30m`, [`parse_duration`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {value:?}: expected RFC 3339 like 2024-02-29T12:34:56Z: {reason}")]
pub struct TimestampError {
    pub value: String,
    pub reason: &'static str,
}

/// `t` in UTC, as `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
pub fn format_rfc3339(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (mut s, mut n) = (-(d.as_secs() as i64), d.subsec_nanos());
            if n > 0 {
                s -= 1;
                n = 1_000_000_000 - n;
            }
            (s, n)
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, TimestampError> {
    let err = |reason| TimestampError {
        value: s.to_string(),
        reason,
    };
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(err("too short"));
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
        let part = &b[range];
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(err("expected digits"));
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0')))
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(err("bad separators"));
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(err("no such date"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(err("no such time of day"));
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &b[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return Err(err("fraction must have 1 to 9 digits"));
        }
        nanos = digits
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
        nanos *= 10u32.pow(9 - digits.len() as u32);
    }
    let offset = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return Err(err("bad offset"));
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return Err(err("expected Z or an offset like +02:00")),
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let t = if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            + Duration::from_nanos(u64::from(nanos))
    };
    Ok(t)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
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

/// An instant `/events` could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time {0:?}: expected Unix seconds (1700000000 or 1700000000.5) or RFC 3339 (2026-11-22T11:37:42Z)")]
pub struct InstantError(pub String);

/// `text` (Unix seconds, optionally with a fraction, or RFC 3339) as nanoseconds since
/// the epoch.
pub fn parse_instant(text: &str) -> Result<i64, InstantError> {
    let text = text.trim();
    let rfc3339 = || {
        let t = parse_rfc3339(text).ok()?;
        Some(match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).ok()?,
            Err(e) => -i64::try_from(e.duration().as_nanos()).ok()?,
        })
    };
    unix_seconds(text).or_else(rfc3339).ok_or_else(|| InstantError(text.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> SystemTime {
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        }
    }

    // Expected values from `date -u -d @SECS +%Y-%m-%dT%H:%M:%SZ`.
    const KNOWN: &[(i64, &str)] = &[
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (4_102_444_799, "2099-12-31T23:59:59Z"),
        (-86_400, "1969-12-31T00:00:00Z"),
        (1_709_210_096, "2024-02-29T12:34:56Z"),
    ];

    #[test]
    fn formats_like_date_u() {
        for &(secs, want) in KNOWN {
            assert_eq!(format_rfc3339(at(secs)), want, "{secs}");
        }
    }

    #[test]
    fn parses_what_it_formats() {
        for &(secs, text) in KNOWN {
            assert_eq!(parse_rfc3339(text).unwrap(), at(secs), "{text}");
        }
        let t = at(1_709_210_096) + Duration::from_nanos(500_000_100);
        let text = format_rfc3339(t);
        assert_eq!(text, "2024-02-29T12:34:56.5000001Z");
        assert_eq!(parse_rfc3339(&text).unwrap(), t);
    }

    #[test]
    fn fraction_is_trimmed_like_go_rfc3339nano() {
        let t = at(0) + Duration::from_millis(120);
        assert_eq!(format_rfc3339(t), "1970-01-01T00:00:00.12Z");
        let before = at(-1) + Duration::from_millis(250);
        assert_eq!(format_rfc3339(before), "1969-12-31T23:59:59.25Z");
    }

    #[test]
    fn parses_offsets() {
        let utc = parse_rfc3339("2024-02-29T12:34:56Z").unwrap();
        assert_eq!(parse_rfc3339("2024-02-29T14:34:56+02:00").unwrap(), utc);
        assert_eq!(parse_rfc3339("2024-02-29T07:04:56-05:30").unwrap(), utc);
    }

    #[test]
    fn refuses_malformed_timestamps() {
        for bad in [
            "",
            "2024-02-29",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0200",
            "2024-01-01X00:00:00Z",
        ] {
            let e = parse_rfc3339(bad).expect_err(bad);
            assert!(e.to_string().starts_with("timestamp"), "{e}");
        }
    }

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn unix_seconds_with_or_without_a_fraction() {
        assert_eq!(parse_instant("1700000000"), Ok(1_700_000_000 * SECOND));
        assert_eq!(parse_instant("1700000000.5"), Ok(1_700_000_000 * SECOND + 500_000_000));
        assert_eq!(parse_instant("1700000000.000000001"), Ok(1_700_000_000 * SECOND + 1));
        assert!(parse_instant("17e8").is_err());
        assert!(parse_instant("-5").is_err());
    }

    #[test]
    fn rfc3339_in_utc_or_with_an_offset() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_instant("2023-11-14T22:13:20Z"), Ok(1_700_000_000 * SECOND));
        assert_eq!(parse_instant("2023-11-14T23:13:20.25+01:00"), Ok(1_700_000_000 * SECOND + 250_000_000));
        assert_eq!(parse_instant("2024-02-29T00:00:00-00:30"), Ok((1_709_164_800 + 1800) * SECOND));
        for bad in ["2023-02-29T00:00:00Z", "2023-11-14T22:13:20", "2023-11-14", "yesterday", "2023-11-14T25:00:00Z"] {
            let err = parse_instant(bad).unwrap_err();
            assert!(err.to_string().contains("RFC 3339"), "{bad}: {err}");
        }
    }

    #[test]
    fn printed_as_docker_prints_event_times() {
        assert_eq!(format_rfc3339_nano(1_700_000_000 * SECOND + 416_847_123), "2023-11-14T22:13:20.416847123Z");
        assert_eq!(format_rfc3339_nano(0), "1970-01-01T00:00:00.000000000Z");
        for nanos in [0, 951_782_400 * SECOND, 4_102_444_799 * SECOND + 999_999_999] {
            assert_eq!(parse_instant(&format_rfc3339_nano(nanos)), Ok(nanos));
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
