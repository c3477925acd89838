//! `hostctl events`: lifecycle events, as `docker events` shows them, from the daemon's
//! `/events` or, with `--nats URL`, from every host publishing on that NATS server
//! (`hostctl.events.>`, filtered here with the daemon's own filter code; this is why the
//! CLI links async-nats). `--since` first replays what the daemon's event log holds from
//! then on, then goes on live; `--since` and `--until` take Unix seconds, RFC 3339, or a
//! Go duration meaning that long ago (`10m`), as Docker's. Ends at `--until`, when the
//! daemon stops, or on Ctrl-C, with status 0.
//!
//! Default output: `2026-11-22T11:37:42.416847123Z container die 4f2a… (exitCode=0,
//! image=busybox, name=web)`, with the host after the time when reading from NATS.
//! `--format json` (or Docker's `'{{json .}}'`) prints each event's JSON on one line
//! (from NATS with a `"host"` field added). A reader that fell behind is told on stderr how
//! many events it missed.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use futures_util::StreamExt;
use hostctl_api::events::{EventFilter, EventLine, Filters, NATS_ALL_EVENTS, NATS_HOST_HEADER, host_of_subject, timestamp};
use hostctl_api::types::Event;
use hostctl_api::{ApiError, Client, ErrorKind};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (type, event, container, image, label, network, volume, plugin)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format output: "json" (or '{{json .}}') prints one JSON event per line
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp (Unix seconds, RFC 3339, or a duration ago like 10m), then live ones
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp (Unix seconds, RFC 3339, or a duration ago like 10m)
    #[arg(long)]
    pub until: Option<String>,
    /// Read the events of every host publishing to this NATS server instead of the daemon's
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
}

pub async fn run(client: &Client, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let invalid = |message: String| ApiError::new(ErrorKind::InvalidArgument, message);
    let filters = Filters::from_flags(&args.filters).map_err(ApiError::from)?;
    let json = match args.format.as_deref().map(str::trim) {
        None | Some("") => false,
        Some(f) if f == "json" || f.replace(' ', "") == "{{json.}}" => true,
        Some(other) => return Err(invalid(format!("--format {other:?}: only \"json\" (or '{{{{json .}}}}') is supported")).into()),
    };
    let since = args.since.as_deref().map(resolve_time);
    let until = args.until.as_deref().map(resolve_time);
    let mut printer = Printer { json, out: std::io::stdout().lock() };
    match &args.nats {
        None => from_daemon(client, &filters, since.as_deref(), until.as_deref(), &mut printer).await,
        Some(_) if args.since.is_some() => Err(invalid("--since replays a daemon's event log; NATS keeps no history of events".into()).into()),
        Some(url) => {
            let filter = EventFilter::new(filters).map_err(ApiError::from)?;
            let until = until.map(|u| timestamp::parse(&u).map_err(|e| invalid(format!("--until: {e}")))).transpose()?;
            from_nats(url, &filter, until, &mut printer).await
        }
    }
}

async fn from_daemon(client: &Client, filters: &Filters, since: Option<&str>, until: Option<&str>, printer: &mut Printer<'_>) -> anyhow::Result<ExitCode> {
    let mut stream = client.events(filters, since, until).await?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let line = tokio::select! {
            _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
            line = stream.next() => line,
        };
        let written = match line.transpose()? {
            None => return Ok(ExitCode::SUCCESS),
            Some(EventLine::Event(event)) => printer.event(&event, None),
            Some(EventLine::Lagged(lag)) => {
                eprintln!("hostctl events: missed {} events (this reader fell behind)", lag.missed);
                Ok(())
            }
        };
        if !still_writing(written)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

async fn from_nats(url: &str, filter: &EventFilter, until: Option<i64>, printer: &mut Printer<'_>) -> anyhow::Result<ExitCode> {
    let unreachable = |e: String| ApiError::new(ErrorKind::Unavailable, format!("cannot read events from NATS at {url}: {e}"));
    let address: async_nats::ServerAddr = url.parse().map_err(|e| ApiError::new(ErrorKind::InvalidArgument, format!("--nats {url:?}: {e}")))?;
    if address.scheme() != "nats" {
        return Err(ApiError::new(ErrorKind::InvalidArgument, format!("--nats {url:?}: expected nats://HOST:PORT (TLS is not built in)")).into());
    }
    let nats = async_nats::ConnectOptions::new().name("hostctl events").connect(address).await.map_err(|e| unreachable(e.to_string()))?;
    let mut messages = nats.subscribe(NATS_ALL_EVENTS).await.map_err(|e| unreachable(e.to_string()))?;
    nats.flush().await.map_err(|e| unreachable(e.to_string()))?;
    let deadline = until.map(|u| tokio::time::Instant::now() + Duration::from_nanos(u.saturating_sub(now_nanos()).max(0) as u64));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let message = tokio::select! {
            _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
            () = sleep_until(deadline) => return Ok(ExitCode::SUCCESS),
            message = messages.next() => message,
        };
        let Some(message) = message else {
            return Ok(ExitCode::SUCCESS);
        };
        let event: Event = match serde_json::from_slice(&message.payload) {
            Ok(event) => event,
            Err(e) => {
                eprintln!("hostctl events: skipping a message on {} that is not an event: {e}", message.subject);
                continue;
            }
        };
        if until.is_some_and(|u| event.time_nano > u) || !filter.matches(&event) {
            continue;
        }
        let from_header = message.headers.as_ref().and_then(|h| h.get(NATS_HOST_HEADER)).map(|v| v.as_str().to_owned());
        let host = from_header.or_else(|| host_of_subject(&message.subject).map(str::to_owned)).unwrap_or_default();
        if !still_writing(printer.event(&event, Some(&host)))? {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// `--until`/`--since` as the daemon takes them: a Go duration means that long ago (as
/// Docker's CLI reads it); anything else goes as it is.
fn resolve_time(value: &str) -> String {
    match timestamp::parse_duration(value) {
        Some(ago) => timestamp::to_unix_seconds(now_nanos().saturating_sub(ago.as_nanos() as i64)),
        None => value.to_owned(),
    }
}

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Ok(false) when whoever reads our output has gone (`| head -1`): a clean end.
fn still_writing(written: std::io::Result<()>) -> anyhow::Result<bool> {
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::anyhow!("writing events: {e}")),
    }
}

struct Printer<'a> {
    json: bool,
    out: std::io::StdoutLock<'a>,
}

impl Printer<'_> {
    fn event(&mut self, event: &Event, host: Option<&str>) -> std::io::Result<()> {
        let line = if self.json { json_line(event, host) } else { human_line(event, host) };
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
}

/// The event's JSON as the daemon sends it; from NATS, with the host added.
fn json_line(event: &Event, host: Option<&str>) -> String {
    let Some(host) = host else {
        return serde_json::to_string(event).expect("events serialize");
    };
    let mut value = serde_json::to_value(event).expect("events serialize");
    if let Some(object) = value.as_object_mut() {
        object.insert("host".into(), host.into());
    }
    value.to_string()
}

/// Docker's `docker events` line.
fn human_line(event: &Event, host: Option<&str>) -> String {
    let mut line = timestamp::format_rfc3339_nano(event.time_nano);
    if let Some(host) = host {
        line.push(' ');
        line.push_str(host);
    }
    line.push_str(&format!(" {} {} {}", event.kind, event.action, event.actor.id));
    if !event.actor.attributes.is_empty() {
        let attributes: Vec<String> = event.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" ({})", attributes.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_api::types::Actor;

    fn die() -> Event {
        Event {
            kind: "container".into(),
            action: "die".into(),
            actor: Actor {
                id: "4f2a".into(),
                attributes: [("name", "web"), ("image", "busybox"), ("exitCode", "0")].into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            },
            scope: "local".into(),
            time: 1_700_000_000,
            time_nano: 1_700_000_000_416_847_123,
            seq: 3,
            status: Some("die".into()),
            id: Some("4f2a".into()),
            from: Some("busybox".into()),
        }
    }

    #[test]
    fn lines_read_as_dockers() {
        assert_eq!(human_line(&die(), None), "2023-11-14T22:13:20.416847123Z container die 4f2a (exitCode=0, image=busybox, name=web)");
        assert_eq!(human_line(&die(), Some("node1")), "2023-11-14T22:13:20.416847123Z node1 container die 4f2a (exitCode=0, image=busybox, name=web)");
        let mut bare = die();
        bare.actor.attributes.clear();
        assert!(human_line(&bare, None).ends_with(" die 4f2a"));
    }

    #[test]
    fn json_lines_carry_the_host_when_read_from_nats() {
        let plain: serde_json::Value = serde_json::from_str(&json_line(&die(), None)).unwrap();
        assert_eq!((plain["Action"].as_str(), plain["seq"].as_u64(), plain.get("host")), (Some("die"), Some(3), None));
        let from_nats: serde_json::Value = serde_json::from_str(&json_line(&die(), Some("node1"))).unwrap();
        assert_eq!(from_nats["host"], "node1");
    }

    #[test]
    fn durations_mean_that_long_ago() {
        let ago = timestamp::parse(&resolve_time("10m")).unwrap();
        assert!((now_nanos() - ago - 600_000_000_000).abs() < 5_000_000_000);
        assert_eq!(resolve_time("2026-01-01T00:00:00Z"), "2026-01-01T00:00:00Z");
    }
}
