//! `GET /events`: the bus's events as they happen, one JSON [`Event`] per line (Docker's
//! shape plus `seq`), those the `filters` query lets through (Docker's encoding, see
//! [`hostctl_api::events::filters`]).
//!
//! `until` (Unix seconds or RFC 3339) ends the stream when reached, at once if it is
//! past. `since` would need replay from a persisted event log, which is not kept yet: it
//! is refused rather than half-served. A reader that falls behind gets one
//! `{"missed":N}` line (N counts events before filtering) and carries on; the bus never
//! waits for it. The stream ends when the reader goes away (hyper drops the body, and
//! with it the subscription: nothing is left running) or the daemon stops.

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
use tokio::time::Instant;

use super::Failure;
use crate::daemon::Daemon;

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
    if query.since.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return Err(invalid("events --since needs the event log, which is not kept yet".into()).into());
    }
    let until = match query.until.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(text) => Some(timestamp::parse(text).map_err(|e| invalid(format!("events --until: {e}")))?),
        None => None,
    };
    let subscriber = Subscriber::new(daemon.events.subscribe(), filter, until);
    let lines = futures_util::stream::unfold(subscriber, |mut subscriber| async move {
        let line = subscriber.next_line().await?;
        Some((Ok::<_, std::io::Error>(line), subscriber))
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(lines))
        .expect("response parts are valid"))
}

/// One reader of `/events`: its place on the bus, its filter and its end.
struct Subscriber {
    events: broadcast::Receiver<Event>,
    filter: EventFilter,
    /// `until`, in nanoseconds since the epoch, and when that is on the clock here.
    until: Option<(i64, Instant)>,
}

impl Subscriber {
    fn new(events: broadcast::Receiver<Event>, filter: EventFilter, until: Option<i64>) -> Self {
        tracing::debug!(filters = %filter.filters().to_json(), until, "events: subscriber attached");
        let until = until.map(|nanos| {
            let left = nanos.saturating_sub(now_nanos()).max(0);
            (nanos, Instant::now() + Duration::from_nanos(left as u64))
        });
        Subscriber { events, filter, until }
    }

    /// The next line to send; `None` ends the stream.
    async fn next_line(&mut self) -> Option<Bytes> {
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
