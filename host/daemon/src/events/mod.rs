//! The event bus: every lifecycle step of every object publishes one Docker-shaped
//! [`Event`] here; subscribers (`GET /events`, the NATS sink) each get every event.
//!
//! Events are numbered per host (`seq`, from 1) so a consumer can tell when it missed
//! some. Publishing never waits for a subscriber: each has a bounded queue, and one that
//! falls too far behind is told how many events it missed (a `Lagged` error from its
//! receiver, which `/events` turns into an [`hostctl_api::types::EventsLagged`] line).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hostctl_api::types::{Actor, Event};
use tokio::sync::broadcast;

/// How many events a subscriber may fall behind before it is told it missed some.
pub const SUBSCRIBER_QUEUE: usize = 4096;

/// The in-process bus.
#[derive(Debug)]
pub struct EventBus {
    host: String,
    /// Guards `seq` so events go out in `seq` order.
    seq: Mutex<u64>,
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    /// A bus for events of host `host` (used in NATS subjects).
    pub fn new(host: impl Into<String>) -> Self {
        let (tx, _) = broadcast::channel(SUBSCRIBER_QUEUE);
        EventBus { host: host.into(), seq: Mutex::new(0), tx }
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
        let mut seq = self.seq.lock().expect("event seq lock");
        *seq += 1;
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
            seq: *seq,
        };
        // Sent while holding the lock, so receivers see events in seq order. No
        // subscribers is fine.
        let _ = self.tx.send(event.clone());
        tracing::debug!(kind, action, id, seq = event.seq, "event");
        event
    }

    /// Every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
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
}
