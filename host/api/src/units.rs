//! Docker's units, as its go-units package has them, for every crate that shows or
//! parses them: sizes (`64m` in, `4.26MB` out) and durations ("About a minute").

use std::time::Duration;

/// Parse a size like `64m`, `1g`, `512k`, `1024b` or a plain byte count, in binary
/// units as Docker's `RAMInBytes` (so `64m` is 64 MiB).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?}: expected a size like 64m or 1g");
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|rest| !rest.is_empty() && rest.ends_with(|c: char| c.is_ascii_alphabetic())).unwrap_or(&t);
    let t = t.strip_suffix('b').unwrap_or(t);
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    let bytes = value * (1u64 << shift) as f64;
    if bytes > u64::MAX as f64 {
        return Err(format!("{text:?}: too large"));
    }
    Ok(bytes as u64)
}

/// `4.26MB`, `12.3kB`, `512B` (go-units `HumanSizeWithPrecision(size, 3)`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant(size, 3), UNITS[unit])
}

/// `value` to `digits` significant digits, without trailing zeros (Go's `%.3g`).
fn significant(value: f64, digits: i32) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// go-units `HumanDuration`: "Less than a second", "About a minute", "3 hours".
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours = minutes / 60;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_dockers_ram_in_bytes() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("4096b").unwrap(), 4096);
        assert!(parse_bytes("64q").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("-1m").is_err());
    }

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(12_345), "12.3kB");
        assert_eq!(human_size(4_261_234), "4.26MB");
        assert_eq!(human_size(123_456_789), "123MB");
    }

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(human_duration(Duration::from_millis(300)), "Less than a second");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }
}
