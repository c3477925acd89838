//! The event bus: every lifecycle step of every object publishes one Docker-shaped
//! [`Event`] here; subscribers (`GET /events`, the NATS sink) each get every event.
//!
//! Events are numbered per host (`seq`, from 1) so a consumer can tell when it missed
//! some. Publishing never waits for a subscriber: each has a bounded queue, and one that
//! falls too far behind is told how many events it missed (a `Lagged` error from its
//! receiver, which `/events` turns into an [`hostctl_api::types::EventsLagged`] line).
//!
//! [`start`] runs what lives beside the bus while the daemon serves: the [`nats`] sink
//! when `[events.nats] url` is set, and closing the bus when the daemon is told to stop,
//! which ends every subscriber's stream (an open `/events` response would otherwise hold
//! the graceful shutdown forever). Filters are the API's
//! ([`hostctl_api::events::filters`]): the CLI applies the same ones to what it reads from
//! NATS.

pub mod nats;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub use hostctl_api::events::{EventFilter, Filters};
use hostctl_api::types::{Actor, Event};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::EventsConfig;

/// How many events a subscriber may fall behind before it is told it missed some.
pub const SUBSCRIBER_QUEUE: usize = 4096;

/// The in-process bus.
#[derive(Debug)]
pub struct EventBus {
    host: String,
    /// Guarded together so events go out in `seq` order.
    state: Mutex<BusState>,
}

#[derive(Debug)]
struct BusState {
    seq: u64,
    /// `None` once the bus is closed.
    tx: Option<broadcast::Sender<Event>>,
}

impl EventBus {
    /// A bus for events of host `host` (used in NATS subjects).
    pub fn new(host: impl Into<String>) -> Self {
        let (tx, _) = broadcast::channel(SUBSCRIBER_QUEUE);
        EventBus { host: host.into(), state: Mutex::new(BusState { seq: 0, tx: Some(tx) }) }
    }

    /// The host name events are published under.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Publish `kind`/`action` about object `id`, with Docker's attributes for it.
    pub fn publish<'a>(&self, kind: &str, action: &str, id: &str, attributes: impl IntoIterator<Item = (&'a str, String)>) -> Event {
        let attributes: BTreeMap<String, String> = attributes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let legacy = kind == "container";
        let mut state = self.state.lock().expect("event bus lock");
        state.seq += 1;
        let event = Event {
            kind: kind.to_owned(),
            action: action.to_owned(),
            status: legacy.then(|| action.to_owned()),
            id: legacy.then(|| id.to_owned()),
            from: if legacy { attributes.get("image").cloned() } else { None },
            actor: Actor { id: id.to_owned(), attributes },
            scope: "local".into(),
            time: now.as_secs() as i64,
            time_nano: now.as_nanos() as i64,
            seq: state.seq,
        };
        // Sent while holding the lock, so receivers see events in seq order. No
        // subscribers, or a closed bus, is fine.
        if let Some(tx) = &state.tx {
            let _ = tx.send(event.clone());
        }
        tracing::debug!(kind, action, id, seq = event.seq, "event");
        event
    }

    /// Every event published from now on (nothing, once the bus is closed).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        match &self.state.lock().expect("event bus lock").tx {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// End every subscriber's stream once it has read what was published before; later
    /// events are numbered but go nowhere.
    pub fn close(&self) {
        self.state.lock().expect("event bus lock").tx = None;
    }
}

/// A refused `[events]` section.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("[events] host {0:?}: expected a name without control characters")]
    Host(String),
    #[error("[events.nats] url {url:?}: {reason}")]
    NatsUrl { url: String, reason: String },
    #[error("[events.nats] buffer = 0: expected at least 1 (events held while NATS is unreachable)")]
    NatsBuffer,
}

/// Start what runs beside `bus` while the daemon serves (call from within the runtime):
/// the NATS sink if `config` names a server, and closing the bus once `shutdown` is
/// cancelled (the daemon is stopping), which ends every `/events` stream. A NATS server
/// that is down does not fail this: the sink connects when it can.
pub fn start(bus: &Arc<EventBus>, config: &EventsConfig, shutdown: CancellationToken) -> Result<(), EventsError> {
    if bus.host().is_empty() || bus.host().chars().any(char::is_control) {
        return Err(EventsError::Host(bus.host().to_owned()));
    }
    if let Some(url) = &config.nats.url {
        nats::start(bus, url, config.nats.buffer)?;
    }
    let bus = bus.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tracing::debug!("events: closing the bus, the daemon is stopping");
        bus.close();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_numbered_in_order_and_carry_docker_fields() {
        let bus = EventBus::new("h");
        let mut rx = bus.subscribe();
        bus.publish("container", "start", "abc", [("name", "web".to_owned()), ("image", "busybox".to_owned())]);
        bus.publish("image", "load", "sha256:1", []);
        let first = rx.try_recv().unwrap();
        let second = rx.try_recv().unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(first.status.as_deref(), Some("start"));
        assert_eq!(first.from.as_deref(), Some("busybox"));
        assert_eq!(second.status, None);
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_told_how_many_it_missed() {
        let bus = EventBus::new("h");
        let mut rx = bus.subscribe();
        for _ in 0..SUBSCRIBER_QUEUE + 10 {
            bus.publish("image", "tag", "x", []);
        }
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(10))));
    }

    #[test]
    fn closing_ends_subscribers_after_what_was_published() {
        let bus = EventBus::new("h");
        let mut rx = bus.subscribe();
        bus.publish("image", "load", "a", []);
        bus.close();
        assert_eq!(bus.publish("image", "load", "b", []).seq, 2, "numbering goes on");
        assert_eq!(rx.try_recv().unwrap().actor.id, "a");
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Closed)));
        assert!(matches!(bus.subscribe().try_recv(), Err(broadcast::error::TryRecvError::Closed)));
    }
}
