//! What travels with an [`Event`] besides the event itself, shared by the daemon (which
//! serves `GET /events` and publishes on NATS) and the CLI (which reads either):
//!
//! - [`filters`]: Docker's event filters: their JSON encodings, `--filter k=v` flags, and
//!   matching an event, in one place so the daemon and `hostctl events --nats` agree.
//! - [`timestamp`]: `since`/`until` as Unix seconds or RFC 3339, and Docker's
//!   `2006-01-02T15:04:05.000000000Z` for printing.
//! - [`EventLine`]: one line of the `/events` stream: an event, or word that the reader
//!   fell behind and missed some.
//! - The NATS subject of an event, `hostctl.events.<host>.<type>.<action>`
//!   ([`nats_subject`]), and the header carrying the host's name as configured.

pub mod filters;
pub mod timestamp;

use serde::{Deserialize, Serialize};

pub use filters::{EventFilter, FilterError, Filters};

use crate::types::{Event, EventsLagged};

/// What every NATS subject of hostctl's events starts with.
pub const NATS_SUBJECT_PREFIX: &str = "hostctl.events";

/// The subject that matches every host's events.
pub const NATS_ALL_EVENTS: &str = "hostctl.events.>";

/// The NATS header carrying the host's name unaltered (the subject's token has `.`, `*`,
/// `>` and white space replaced).
pub const NATS_HOST_HEADER: &str = "Hostctl-Host";

/// One line of `GET /events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
// One line at a time, mostly events: boxing them would cost an allocation each for nothing.
#[allow(clippy::large_enum_variant)]
pub enum EventLine {
    Event(Event),
    /// The reader fell behind; this many events were dropped for it.
    Lagged(EventsLagged),
}

/// `hostctl.events.<host>.<type>.<action>`, each part made a valid subject token. An
/// action that carries detail after a colon (Docker's `exec_start: sh -c …`,
/// `health_status: healthy`) goes out under the part before the colon.
pub fn nats_subject(host: &str, kind: &str, action: &str) -> String {
    let action = action.split_once(':').map_or(action, |(head, _)| head);
    format!("{NATS_SUBJECT_PREFIX}.{}.{}.{}", subject_token(host), subject_token(kind), subject_token(action))
}

/// `text` as one NATS subject token: `.`, `*`, `>` and white space become `_`; an empty
/// token becomes `_`.
pub fn subject_token(text: &str) -> String {
    if text.is_empty() {
        return "_".into();
    }
    text.chars().map(|c| if matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control() { '_' } else { c }).collect()
}

/// The host token of an event subject (`hostctl.events.<host>.…`).
pub fn host_of_subject(subject: &str) -> Option<&str> {
    subject.strip_prefix(NATS_SUBJECT_PREFIX)?.strip_prefix('.')?.split('.').next().filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_stay_valid_whatever_the_names() {
        assert_eq!(nats_subject("node1", "container", "die"), "hostctl.events.node1.container.die");
        assert_eq!(nats_subject("web.example.com", "image", "load"), "hostctl.events.web_example_com.image.load");
        assert_eq!(nats_subject("a b*c>d", "container", "exec_start: sh -c ls"), "hostctl.events.a_b_c_d.container.exec_start");
        assert_eq!(nats_subject("", "x", "y"), "hostctl.events._.x.y");
    }

    #[test]
    fn the_host_comes_back_from_the_subject() {
        assert_eq!(host_of_subject("hostctl.events.web_example_com.image.load"), Some("web_example_com"));
        assert_eq!(host_of_subject("other.events.x.y.z"), None);
    }

    #[test]
    fn lines_are_events_or_lag_notices() {
        let lag: EventLine = serde_json::from_str(r#"{"missed":3}"#).unwrap();
        assert_eq!(lag, EventLine::Lagged(EventsLagged { missed: 3 }));
        let event: EventLine = serde_json::from_str(
            r#"{"Type":"image","Action":"load","Actor":{"ID":"sha256:1","Attributes":{"name":"a:1"}},"scope":"local","time":1,"timeNano":1000000000,"seq":7}"#,
        )
        .unwrap();
        assert!(matches!(event, EventLine::Event(e) if e.seq == 7 && e.actor.attributes["name"] == "a:1"));
    }
}
