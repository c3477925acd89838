//! The event bus: every lifecycle step of every object publishes one Docker-shaped
//! [`Event`] here; subscribers (`GET /events`, the NATS sink) each get every event.
//!
//! Events are numbered per host (`seq`) so a consumer can tell when it missed some. The
//! daemon's bus keeps the [`log`] (`<data-root>/events/`): every event is appended there
//! as it is published, numbering goes on from the last logged event when the daemon
//! starts again (so `seq` grows for as long as the data root lives), and
//! [`EventBus::subscribe_with_replay`] hands a reader what the log holds up to its first
//! live event, with no gap and no event twice. Publishing never waits for a subscriber:
//! each has a bounded queue, and one that falls too far behind is told how many events
//! it missed (a `Lagged` error from its receiver, which `/events` turns into an
//! [`hostctl_api::types::EventsLagged`] line).
//!
//! [`start`] runs what lives beside the bus while the daemon serves: the [`nats`] sink
//! when `[events.nats] url` is set, syncing the log to disk once a second, and closing
//! the bus when the daemon is told to stop, which ends every subscriber's stream (an open
//! `/events` response would otherwise hold the graceful shutdown forever). Filters are
//! the API's ([`hostctl_api::events::filters`]): the CLI applies the same ones to what it
//! reads from NATS.

pub mod log;
pub mod nats;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use hostctl_api::events::{EventFilter, Filters};
use hostctl_api::types::{Actor, Event};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::EventsConfig;
use log::{EventLog, EventLogError, Replay};

/// How many events a subscriber may fall behind before it is told it missed some.
pub const SUBSCRIBER_QUEUE: usize = 4096;

/// How often what was appended to the log is synced to disk.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The in-process bus.
#[derive(Debug)]
pub struct EventBus {
    host: String,
    /// Guarded together so events go out, and into the log, in `seq` order.
    state: Mutex<BusState>,
}

#[derive(Debug)]
struct BusState {
    seq: u64,
    /// `None` once the bus is closed.
    tx: Option<broadcast::Sender<Event>>,
    /// `None`: events are not kept (a bus in a unit test).
    log: Option<EventLog>,
}

impl EventBus {
    /// A bus for events of host `host` (used in NATS subjects) that keeps no log.
    pub fn new(host: impl Into<String>) -> Self {
        Self::with_log(host, None)
    }

    /// The daemon's bus: `[events]` as `config` says, its log in `dir`, numbering on
    /// from the last event logged there.
    pub fn open(host: impl Into<String>, dir: &Path, config: &EventsConfig) -> Result<Self, EventsError> {
        let max_size = hostctl_api::units::parse_bytes(&config.log_max_size).map_err(EventsError::LogMaxSize)?;
        if max_size < log::MIN_MAX_SIZE {
            return Err(EventsError::LogMaxSize(format!("{:?}: expected at least 16k", config.log_max_size)));
        }
        let log = EventLog::open(dir, max_size)?;
        tracing::debug!(last_seq = log.last_seq(), max_size, "events: event log opened");
        Ok(Self::with_log(host, Some(log)))
    }

    fn with_log(host: impl Into<String>, log: Option<EventLog>) -> Self {
        let (tx, _) = broadcast::channel(SUBSCRIBER_QUEUE);
        let seq = log.as_ref().map_or(0, EventLog::last_seq);
        EventBus { host: host.into(), state: Mutex::new(BusState { seq, tx: Some(tx), log }) }
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
        // Logged, then sent, while holding the lock, so the log and receivers see
        // events in seq order, and a subscriber's replay ends where its live events
        // begin. A closed bus still logs: the numbers must go on.
        if let Some(log) = &mut state.log {
            log.append(&event);
        }
        // No subscribers, or a closed bus, is fine.
        if let Some(tx) = &state.tx {
            let _ = tx.send(event.clone());
        }
        tracing::debug!(kind, action, id, seq = event.seq, "event");
        event
    }

    /// Every event published from now on (nothing, once the bus is closed).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        Self::receiver(&self.state.lock().expect("event bus lock"))
    }

    /// Every event published from now on, and what the log holds of those published
    /// before (the replay ends just before the receiver's first event).
    pub fn subscribe_with_replay(&self) -> (broadcast::Receiver<Event>, Replay) {
        let state = self.state.lock().expect("event bus lock");
        let replay = state.log.as_ref().map(|log| log.replay(state.seq + 1)).unwrap_or_default();
        (Self::receiver(&state), replay)
    }

    fn receiver(state: &BusState) -> broadcast::Receiver<Event> {
        match &state.tx {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// End every subscriber's stream once it has read what was published before; later
    /// events are numbered (and logged) but go nowhere.
    pub fn close(&self) {
        self.state.lock().expect("event bus lock").tx = None;
    }

    /// Sync to disk what was appended to the log since the last sync, off the runtime's
    /// threads and without the bus's lock while the disk works.
    pub async fn sync_log(&self) {
        let Some(file) = self.state.lock().expect("event bus lock").log.as_mut().and_then(EventLog::take_dirty) else {
            return;
        };
        let synced = tokio::task::spawn_blocking(move || file.sync_data()).await.expect("no panic");
        if let Err(err) = synced {
            tracing::warn!("events: syncing the event log: {err}");
        }
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
    #[error("[events] log-max-size {0}")]
    LogMaxSize(String),
    #[error(transparent)]
    Log(#[from] EventLogError),
}

/// Start what runs beside `bus` while the daemon serves (call from within the runtime):
/// the NATS sink if `config` names a server, syncing the log once a second, and closing
/// the bus once `shutdown` is cancelled (the daemon is stopping), which ends every
/// `/events` stream. A NATS server that is down does not fail this: the sink connects
/// when it can.
pub fn start(bus: &Arc<EventBus>, config: &EventsConfig, shutdown: CancellationToken) -> Result<(), EventsError> {
    if bus.host().is_empty() || bus.host().chars().any(char::is_control) {
        return Err(EventsError::Host(bus.host().to_owned()));
    }
    if let Some(url) = &config.nats.url {
        nats::start(bus, url, config.nats.buffer)?;
    }
    let syncing = bus.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SYNC_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            syncing.sync_log().await;
        }
    });
    let bus = bus.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tracing::debug!("events: closing the bus, the daemon is stopping");
        bus.close();
        bus.sync_log().await;
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

    fn config(max: &str) -> EventsConfig {
        EventsConfig { log_max_size: max.into(), ..EventsConfig::default() }
    }

    #[test]
    fn numbering_goes_on_from_the_log_of_the_last_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open("h", dir.path(), &config("1m")).unwrap();
        bus.publish("image", "load", "a", []);
        bus.publish("image", "load", "b", []);
        drop(bus);
        let bus = EventBus::open("h", dir.path(), &config("1m")).unwrap();
        assert_eq!(bus.publish("image", "load", "c", []).seq, 3);
    }

    #[test]
    fn a_replay_ends_where_the_live_events_begin() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open("h", dir.path(), &config("1m")).unwrap();
        for id in ["a", "b", "c"] {
            bus.publish("image", "load", id, []);
        }
        let (mut live, replay) = bus.subscribe_with_replay();
        bus.publish("image", "load", "d", []);
        assert_eq!(replay.before(), 4);
        let mut replayed = Vec::new();
        replay.for_each(|e| {
            replayed.push(e.seq);
            true
        });
        assert_eq!(replayed, [1, 2, 3]);
        assert_eq!(live.try_recv().unwrap().seq, 4);
        assert!(live.try_recv().is_err());
    }

    #[test]
    fn a_closed_bus_still_logs_what_it_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EventBus::open("h", dir.path(), &config("1m")).unwrap();
        bus.close();
        bus.publish("image", "load", "a", []);
        drop(bus);
        assert_eq!(EventBus::open("h", dir.path(), &config("1m")).unwrap().publish("image", "load", "b", []).seq, 2);
    }

    #[test]
    fn a_log_bound_too_small_or_unreadable_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = EventBus::open("h", dir.path(), &config("1k")).unwrap_err().to_string();
        assert_eq!(err, "[events] log-max-size \"1k\": expected at least 16k");
        let err = EventBus::open("h", dir.path(), &config("lots")).unwrap_err().to_string();
        assert!(err.starts_with("[events] log-max-size \"lots\": expected a size like"), "{err}");
    }
}
