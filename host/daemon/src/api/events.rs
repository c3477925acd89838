//! `GET /events`: the bus's events, one JSON [`Event`] per line (Docker's shape plus
//! `seq`), those the `filters` query lets through (Docker's encoding, see
//! [`hostctl_api::events::filters`]).
//!
//! `since` and `until` are Unix seconds or RFC 3339 (the CLI turns Docker's `10m` into
//! one). With `since`, the stream first replays the events the event log holds from then
//! on (filtered as live ones), then goes on live: the reader subscribes before the log is
//! read, and the replay ends just before its first live event, so no event comes twice
//! and none falls between. `until` ends the stream when reached, after the replay if it
//! is past. A reader that falls behind gets one `{"missed":N}` line (N counts events
//! before filtering) and carries on; the bus never waits for it. The stream ends when the
//! reader goes away (hyper drops the body, and with it the subscription and the replay:
//! nothing is left running) or the daemon stops.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use hostctl_api::events::{EventFilter, Filters, timestamp};
use hostctl_api::types::{Event, EventsLagged};
use hostctl_api::{ApiError, ErrorKind};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Failure;
use crate::daemon::Daemon;
use crate::events::log::Replay;

/// Replayed events read ahead of the reader.
const REPLAY_AHEAD: usize = 256;

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    filters: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn stream(State(daemon): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> Result<Response, Failure> {
    let invalid = |message: String| ApiError::new(ErrorKind::InvalidArgument, message);
    let query: EventsQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).map_err(|e| invalid(format!("events: query: {e}")))?;
    let filter = EventFilter::new(Filters::from_json(query.filters.as_deref().unwrap_or(""))?)?;
    let instant = |name: &str, value: Option<&str>| match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(text) => timestamp::parse(text).map(Some).map_err(|e| invalid(format!("events --{name}: {e}"))),
        None => Ok(None),
    };
    let since = instant("since", query.since.as_deref())?;
    let until = instant("until", query.until.as_deref())?;
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        let (since, until) = (timestamp::format_rfc3339_nano(since), timestamp::format_rfc3339_nano(until));
        return Err(invalid(format!("events: --since {since} is after --until {until}")).into());
    }
    let subscriber = match since {
        Some(since) => {
            let (events, replay) = daemon.events.subscribe_with_replay();
            let replayed = read_replay(replay, filter.clone(), since, until);
            Subscriber::new(events, Some(replayed), filter, Some(since), until)
        }
        None => Subscriber::new(daemon.events.subscribe(), None, filter, None, until),
    };
    let lines = futures_util::stream::unfold(subscriber, |mut subscriber| async move {
        let line = subscriber.next_line().await?;
        Some((Ok::<_, std::io::Error>(line), subscriber))
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(lines))
        .expect("response parts are valid"))
}

/// The logged events of `replay` that pass `filter` and fall between `since` and
/// `until`, read on a blocking thread a little ahead of the reader; the thread stops
/// when the reader goes away.
fn read_replay(replay: Replay, filter: EventFilter, since: i64, until: Option<i64>) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(REPLAY_AHEAD);
    tokio::task::spawn_blocking(move || {
        replay.for_each(|event| {
            let wanted = event.time_nano >= since && until.is_none_or(|until| event.time_nano <= until) && filter.matches(&event);
            !wanted || tx.blocking_send(event).is_ok()
        });
    });
    rx
}

/// One reader of `/events`: what it is replayed, its place on the bus, its filter and
/// its end.
struct Subscriber {
    /// Logged events still to send, before any live one.
    replayed: Option<mpsc::Receiver<Event>>,
    events: broadcast::Receiver<Event>,
    filter: EventFilter,
    /// `since`, in nanoseconds since the epoch: earlier live events are not sent either.
    since: Option<i64>,
    /// `until`, in nanoseconds since the epoch, and when that is on the clock here.
    until: Option<(i64, Instant)>,
}

impl Subscriber {
    fn new(events: broadcast::Receiver<Event>, replayed: Option<mpsc::Receiver<Event>>, filter: EventFilter, since: Option<i64>, until: Option<i64>) -> Self {
        tracing::debug!(filters = %filter.filters().to_json(), since, until, "events: subscriber attached");
        let until = until.map(|nanos| {
            let left = nanos.saturating_sub(now_nanos()).max(0);
            (nanos, Instant::now() + Duration::from_nanos(left as u64))
        });
        Subscriber { replayed, events, filter, since, until }
    }

    /// The next line to send; `None` ends the stream.
    async fn next_line(&mut self) -> Option<Bytes> {
        if let Some(replayed) = &mut self.replayed {
            match replayed.recv().await {
                Some(event) => return Some(json_line(&event)),
                None => self.replayed = None,
            }
        }
        loop {
            let received = match self.until {
                Some((_, deadline)) if Instant::now() >= deadline => return None,
                Some((_, deadline)) => tokio::select! {
                    received = self.events.recv() => received,
                    () = tokio::time::sleep_until(deadline) => return None,
                },
                None => self.events.recv().await,
            };
            match received {
                Ok(event) if self.until.is_some_and(|(until, _)| event.time_nano > until) => return None,
                Ok(event) if self.since.is_some_and(|since| event.time_nano < since) => {}
                Ok(event) if self.filter.matches(&event) => return Some(json_line(&event)),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "events: a subscriber fell behind");
                    return Some(json_line(&EventsLagged { missed }));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        tracing::debug!("events: subscriber detached");
    }
}

fn json_line<T: serde::Serialize>(value: &T) -> Bytes {
    let mut line = serde_json::to_vec(value).expect("events serialize");
    line.push(b'\n');
    Bytes::from(line)
}

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}
