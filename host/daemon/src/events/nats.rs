//! The NATS sink: every event on the bus is also published on
//! `hostctl.events.<host>.<type>.<action>` (payload: the event's JSON, as `/events`
//! streams it; header `Hostctl-Host`: the host's name unaltered), so that one consumer
//! can watch many hosts.
//!
//! The sink is one more subscriber of the bus, so it can never hold up `publish`. It
//! hands each event to the async-nats client, which connects in the background (a server
//! that is down when the daemon starts does not stop it), reconnects with backoff (up to
//! 4 s between tries) and, while disconnected, holds up to `[events.nats] buffer` events
//! to send once it is back. An event that finds that buffer full is dropped, never waited
//! for; drops (and events the sink itself fell behind on) are counted and logged: once
//! when dropping starts, every 30 s while it lasts, and when NATS takes events again.
//! Events already written to a connection that then breaks are lost without a count:
//! NATS core publishing is at most once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::{ConnectOptions, HeaderMap, ServerAddr};
use bytes::Bytes;
use futures_util::FutureExt;
use hostctl_api::events::{NATS_HOST_HEADER, nats_subject};
use hostctl_api::types::Event;
use tokio::sync::broadcast::error::RecvError;

use super::{EventBus, EventsError};

/// Events the client holds while NATS is unreachable, unless configured.
pub const DEFAULT_BUFFER: usize = 2048;

/// How long an event may wait for room in the client's buffer while connected (a burst
/// faster than the connection drains).
const PUBLISH_WAIT: Duration = Duration::from_secs(1);

/// How often a continuing loss of events is logged again.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// How long a stopping daemon waits for NATS to take what the client holds.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Check `url` and start the sink in the background.
pub fn start(bus: &Arc<EventBus>, url: &str, buffer: usize) -> Result<(), EventsError> {
    let bad = |reason: String| EventsError::NatsUrl { url: url.to_owned(), reason };
    let address: ServerAddr = url.parse().map_err(|e| bad(format!("{e}; expected nats://HOST:PORT")))?;
    if !matches!(address.scheme(), "nats" | "tls") {
        return Err(bad(format!("scheme {:?}: expected nats://HOST:PORT", address.scheme())));
    }
    if buffer == 0 {
        return Err(EventsError::NatsBuffer);
    }
    let events = bus.subscribe();
    let sink = Sink::new(url, bus.host(), buffer);
    tokio::spawn(sink.run(address, events));
    Ok(())
}

struct Sink {
    url: String,
    host: String,
    buffer: usize,
    published: u64,
    /// Dropped since the last report, and in all.
    dropped: u64,
    dropped_total: u64,
    last_report: Option<Instant>,
}

impl Sink {
    fn new(url: &str, host: &str, buffer: usize) -> Self {
        Sink { url: url.to_owned(), host: host.to_owned(), buffer, published: 0, dropped: 0, dropped_total: 0, last_report: None }
    }

    async fn run(mut self, address: ServerAddr, mut events: tokio::sync::broadcast::Receiver<Event>) {
        let client = match self.connect_options().connect(address).await {
            Ok(client) => client,
            Err(err) => {
                tracing::error!("events: NATS at {}: {err}; events will not be published there", self.url);
                return;
            }
        };
        tracing::info!("events: publishing to NATS at {} as host {:?}", self.url, self.host);
        loop {
            match events.recv().await {
                Ok(event) => self.publish(&client, &event).await,
                Err(RecvError::Lagged(missed)) => self.lost(missed, "the NATS sink fell behind the event bus"),
                Err(RecvError::Closed) => break,
            }
        }
        if client.connection_state() == State::Connected && tokio::time::timeout(FLUSH_WAIT, client.flush()).await.is_err() {
            tracing::warn!("events: NATS at {} did not take the last events within {FLUSH_WAIT:?}", self.url);
        }
        tracing::info!("events: NATS sink stopped: {} events published, {} could not be", self.published, self.dropped_total);
    }

    /// Connect in the background, forever; log each change of connection, and the first
    /// failed try of each outage (later tries at debug level: one every 4 s would flood).
    fn connect_options(&self) -> ConnectOptions {
        let url = self.url.clone();
        let buffer = self.buffer;
        let outage_reported = Arc::new(AtomicBool::new(false));
        ConnectOptions::new()
            .name(format!("hostctl daemon on {}", self.host))
            .retry_on_initial_connect()
            .client_capacity(self.buffer)
            .event_callback(move |event| {
                let (url, outage_reported) = (url.clone(), outage_reported.clone());
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            outage_reported.store(false, Ordering::Relaxed);
                            tracing::info!("events: connected to NATS at {url}");
                        }
                        async_nats::Event::Disconnected => tracing::warn!("events: lost NATS at {url}; reconnecting"),
                        async_nats::Event::ClientError(err) if !outage_reported.swap(true, Ordering::Relaxed) => {
                            tracing::warn!("events: cannot reach NATS at {url}: {err}; retrying, holding up to {buffer} events meanwhile")
                        }
                        async_nats::Event::ClientError(err) => tracing::debug!("events: NATS at {url}: {err}"),
                        async_nats::Event::Closed => tracing::debug!("events: connection to NATS at {url} closed"),
                        other => tracing::warn!("events: NATS at {url}: {other}"),
                    }
                }
            })
    }

    /// Hand `event` to the client: at once if its buffer has room; while connected, after
    /// waiting a little for room; otherwise drop it, counted.
    async fn publish(&mut self, client: &async_nats::Client, event: &Event) {
        let subject = nats_subject(&self.host, &event.kind, &event.action);
        let payload = Bytes::from(serde_json::to_vec(event).expect("events serialize"));
        let mut headers = HeaderMap::new();
        headers.insert(NATS_HOST_HEADER, self.host.as_str());
        let send = || client.publish_with_headers(subject.clone(), headers.clone(), payload.clone());
        // `unconstrained`: tokio's cooperative budget must not make a buffer with room
        // look full.
        let sent = match tokio::task::unconstrained(send()).now_or_never() {
            Some(result) => result.map_err(|e| e.to_string()),
            None if client.connection_state() == State::Connected => match tokio::time::timeout(PUBLISH_WAIT, send()).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("its buffer of {} events stayed full for {PUBLISH_WAIT:?}", self.buffer)),
            },
            None => Err(format!("it is unreachable and its buffer of {} events is full", self.buffer)),
        };
        match sent {
            Ok(()) => {
                self.published += 1;
                if self.dropped > 0 {
                    tracing::warn!(
                        "events: NATS at {} takes events again; {} could not be published to it ({} since the daemon started)",
                        self.url,
                        self.dropped,
                        self.dropped_total
                    );
                    self.dropped = 0;
                    self.last_report = None;
                }
            }
            Err(why) => self.lost(1, &format!("NATS at {}: {why}", self.url)),
        }
    }

    fn lost(&mut self, count: u64, why: &str) {
        self.dropped += count;
        self.dropped_total += count;
        match self.last_report {
            None => {
                tracing::warn!("events: dropping events: {why}; counting them until NATS takes events again");
                self.last_report = Some(Instant::now());
            }
            Some(at) if at.elapsed() >= REPORT_EVERY => {
                tracing::warn!("events: {} events dropped so far ({} since the daemon started): {why}", self.dropped, self.dropped_total);
                self.last_report = Some(Instant::now());
            }
            Some(_) => {}
        }
    }
}
