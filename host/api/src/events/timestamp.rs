//! Times as `/events` takes and shows them: Unix seconds or RFC 3339 in, Docker's
//! nine-digit RFC 3339 out, Go durations for the CLI's `--since 10m`. The one
//! implementation is `hostctl-time`; these are its names as the events code uses them.

pub use hostctl_time::{InstantError as TimestampError, format_rfc3339_nano, parse_duration, parse_instant as parse, to_unix_seconds};
