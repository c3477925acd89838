//! Docker's event filters: `filters={"type":["container"],"event":["die","start"]}` on
//! `GET /events` (Docker's map form `{"type":{"container":true}}`, which today's docker CLI
//! sends, is read as well), `--filter type=container` on the command line.
//!
//! Matching follows Docker's daemon (`daemon/events/filter.go`): values of one key are
//! alternatives (OR) and every key given must match (AND), except `label`, whose values
//! must all match, as in Docker (so `label=project=x --filter label=service=y` means
//! both). Per key:
//!
//! - `type`, `scope`: exactly.
//! - `event`: the action exactly; but when any value is `exec_create`, `exec_start` or
//!   `health_status`, every value matches as a prefix (`exec_start` matches
//!   `exec_start: sh -c ls`).
//! - `container`, `network`, `volume`, `plugin`: a prefix of the actor's ID or of its
//!   `name` attribute (Docker matches these on every event, whatever its type).
//! - `image`: the actor's ID or its `name` attribute for image events, the `image`
//!   attribute for others; each also without its tag (`busybox` matches `busybox:1.36`).
//! - `label`: `k` (the attribute is present) or `k=v` (and has that value).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ApiError, ErrorKind};
use crate::types::Event;

/// The keys `GET /events` filters on.
pub const EVENT_FILTER_KEYS: &[&str] = &["container", "event", "image", "label", "network", "plugin", "scope", "type", "volume"];

/// Actions whose filter values match as prefixes (Docker's moby#25798).
const PREFIX_ACTIONS: &[&str] = &["exec_create", "exec_start", "health_status"];

/// A refused filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filters {text:?}: expected a JSON object of lists ({{\"type\":[\"image\"]}}) or of booleans ({{\"type\":{{\"image\":true}}}}): {reason}")]
    Json { text: String, reason: String },
    #[error("bad format of filter {0:?} (expected name=value)")]
    Flag(String),
    #[error("invalid filter {key:?}: {what} can be filtered by {}", .accepted.join(", "))]
    UnknownKey { key: String, what: &'static str, accepted: &'static [&'static str] },
}

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> Self {
        ApiError::new(ErrorKind::InvalidArgument, e.to_string())
    }
}

/// Docker's `filters.Args`: each key with its set of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, BTreeSet<String>>);

impl Filters {
    pub fn new() -> Self {
        Filters::default()
    }

    /// Add `value` for `key`.
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.entry(key.into()).or_default().insert(value.into());
    }

    /// `--filter` flags, `name=value` each (the name trimmed and lower-cased, as Docker).
    pub fn from_flags<S: AsRef<str>>(flags: impl IntoIterator<Item = S>) -> Result<Self, FilterError> {
        let mut filters = Filters::new();
        for flag in flags {
            let flag = flag.as_ref();
            let (name, value) = flag.split_once('=').ok_or_else(|| FilterError::Flag(flag.to_owned()))?;
            filters.add(name.trim().to_lowercase(), value.trim());
        }
        Ok(filters)
    }

    /// The `filters` query parameter: `{"k":["v",…]}` or `{"k":{"v":true,…}}`; empty is
    /// no filter.
    pub fn from_json(text: &str) -> Result<Self, FilterError> {
        let bad = |reason: String| FilterError::Json { text: text.to_owned(), reason };
        let mut filters = Filters::new();
        if text.trim().is_empty() {
            return Ok(filters);
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let object = value.as_object().ok_or_else(|| bad("not an object".into()))?;
        for (key, values) in object {
            let set = filters.0.entry(key.clone()).or_default();
            match values {
                serde_json::Value::Array(list) => {
                    for v in list {
                        set.insert(v.as_str().ok_or_else(|| bad(format!("{key:?}: {v} is not a string")))?.to_owned());
                    }
                }
                serde_json::Value::Object(map) => {
                    for (v, on) in map {
                        match on {
                            serde_json::Value::Bool(true) => {
                                set.insert(v.clone());
                            }
                            serde_json::Value::Bool(false) => {}
                            other => return Err(bad(format!("{key:?}: {v:?} is {other}, not true or false"))),
                        }
                    }
                }
                other => return Err(bad(format!("{key:?}: {other} is neither a list nor an object"))),
            }
        }
        Ok(filters)
    }

    /// The list form, `{"k":["v",…]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("strings serialize")
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeSet::is_empty)
    }

    /// The values given for `key` (none if the key was not given).
    pub fn get(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0.get(key).into_iter().flatten().map(String::as_str)
    }

    /// Refuse a key not in `accepted`; `what` names the filtered thing in the message.
    pub fn validate(&self, what: &'static str, accepted: &'static [&'static str]) -> Result<(), FilterError> {
        match self.0.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(key) => Err(FilterError::UnknownKey { key: key.clone(), what, accepted }),
            None => Ok(()),
        }
    }

    /// True when `key` was not given, or one of its values is `source`.
    fn exact(&self, key: &str, source: &str) -> bool {
        self.0.get(key).is_none_or(|values| values.is_empty() || values.contains(source))
    }

    /// True when `key` was not given, or `source` equals or starts with one of its values.
    fn prefix(&self, key: &str, source: &str) -> bool {
        self.0.get(key).is_none_or(|values| values.is_empty() || values.iter().any(|v| source.starts_with(v.as_str())))
    }
}

/// Filters checked against the keys `/events` knows, ready to match events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    filters: Filters,
}

impl EventFilter {
    /// Refuses a key `/events` does not filter on.
    pub fn new(filters: Filters) -> Result<Self, FilterError> {
        filters.validate("events", EVENT_FILTER_KEYS)?;
        Ok(EventFilter { filters })
    }

    pub fn filters(&self) -> &Filters {
        &self.filters
    }

    /// Whether `event` passes every key given.
    pub fn matches(&self, event: &Event) -> bool {
        let f = &self.filters;
        let attribute = |name: &str| event.actor.attributes.get(name).map_or("", String::as_str);
        let named = |key: &str| f.prefix(key, &event.actor.id) || f.prefix(key, attribute("name"));
        self.matches_action(&event.action)
            && f.exact("type", &event.kind)
            && f.exact("scope", &event.scope)
            && named("container")
            && named("network")
            && named("volume")
            && named("plugin")
            && self.matches_image(event)
            && self.matches_labels(event)
    }

    fn matches_action(&self, action: &str) -> bool {
        if self.filters.get("event").any(|v| PREFIX_ACTIONS.contains(&v)) {
            self.filters.prefix("event", action)
        } else {
            self.filters.exact("event", action)
        }
    }

    fn matches_image(&self, event: &Event) -> bool {
        let f = &self.filters;
        let name_attribute = if event.kind == "image" { "name" } else { "image" };
        let name = event.actor.attributes.get(name_attribute).map_or("", String::as_str);
        let id = event.actor.id.as_str();
        f.exact("image", id) || f.exact("image", name) || f.exact("image", &without_tag(id)) || f.exact("image", &without_tag(name))
    }

    fn matches_labels(&self, event: &Event) -> bool {
        self.filters.get("label").all(|wanted| match wanted.split_once('=') {
            Some((key, value)) => event.actor.attributes.get(key).is_some_and(|v| v == value),
            None => event.actor.attributes.contains_key(wanted),
        })
    }
}

/// An image reference without tag or digest, in Docker's short form (`busybox` for
/// `docker.io/library/busybox:1.36`); an image ID is left as it is.
fn without_tag(reference: &str) -> String {
    if reference.starts_with("sha256:") {
        return reference.to_owned();
    }
    let name = reference.split('@').next().unwrap_or(reference);
    let name = match name.rfind(':') {
        Some(at) if !name[at..].contains('/') => &name[..at],
        _ => name,
    };
    let name = name.strip_prefix("docker.io/").or_else(|| name.strip_prefix("index.docker.io/")).unwrap_or(name);
    name.strip_prefix("library/").filter(|rest| !rest.contains('/')).unwrap_or(name).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Actor;

    fn event(kind: &str, action: &str, id: &str, attributes: &[(&str, &str)]) -> Event {
        Event {
            kind: kind.into(),
            action: action.into(),
            actor: Actor { id: id.into(), attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() },
            scope: "local".into(),
            time: 0,
            time_nano: 0,
            seq: 1,
            status: None,
            id: None,
            from: None,
        }
    }

    fn filter(flags: &[&str]) -> EventFilter {
        EventFilter::new(Filters::from_flags(flags).unwrap()).unwrap()
    }

    fn die() -> Event {
        event("container", "die", "4f2a9c01", &[("name", "web"), ("image", "busybox:latest"), ("exitCode", "0")])
    }

    #[test]
    fn both_docker_encodings_read_the_same() {
        let lists = Filters::from_json(r#"{"type":["container"],"event":["die","start"]}"#).unwrap();
        let maps = Filters::from_json(r#"{"type":{"container":true},"event":{"die":true,"start":true,"stop":false}}"#).unwrap();
        assert_eq!(lists, maps);
        assert_eq!(lists, Filters::from_flags(["type=container", "event=die", "event=start"]).unwrap());
        assert_eq!(Filters::from_json(&lists.to_json()).unwrap(), lists);
        assert!(Filters::from_json("").unwrap().is_empty());
    }

    #[test]
    fn malformed_filters_are_refused_with_the_reason() {
        for bad in [r#"["type"]"#, r#"{"type":"container"}"#, r#"{"type":[1]}"#, r#"{"type":{"x":"yes"}}"#, "{"] {
            let err = Filters::from_json(bad).unwrap_err();
            assert!(matches!(err, FilterError::Json { .. }), "{bad}: {err}");
        }
        assert_eq!(Filters::from_flags(["type"]).unwrap_err(), FilterError::Flag("type".into()));
    }

    #[test]
    fn an_unknown_key_is_refused_naming_the_known_ones() {
        let err = EventFilter::new(Filters::from_flags(["colour=red"]).unwrap()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"colour\"") && message.contains("container, event, image"), "{message}");
        assert_eq!(ApiError::from(err).kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn no_filter_matches_everything() {
        assert!(filter(&[]).matches(&die()));
    }

    #[test]
    fn the_same_key_twice_is_or_different_keys_and() {
        assert!(filter(&["event=start", "event=die"]).matches(&die()));
        assert!(!filter(&["event=start", "event=stop"]).matches(&die()));
        assert!(filter(&["type=container", "event=die"]).matches(&die()));
        assert!(!filter(&["type=image", "event=die"]).matches(&die()));
        assert!(!filter(&["type=container", "event=start"]).matches(&die()));
    }

    #[test]
    fn containers_match_by_id_prefix_or_name() {
        assert!(filter(&["container=4f2a9c01"]).matches(&die()));
        assert!(filter(&["container=4f2a"]).matches(&die()));
        assert!(filter(&["container=web"]).matches(&die()));
        assert!(filter(&["container=db", "container=web"]).matches(&die()));
        assert!(!filter(&["container=db"]).matches(&die()));
        assert!(!filter(&["container=web"]).matches(&event("image", "load", "sha256:1", &[("name", "busybox:latest")])));
    }

    #[test]
    fn exec_and_health_actions_match_as_prefixes() {
        let exec = event("container", "exec_start: sh -c ls", "4f2a", &[]);
        assert!(filter(&["event=exec_start"]).matches(&exec));
        assert!(filter(&["event=exec_start", "event=die"]).matches(&die()));
        assert!(!filter(&["event=exec"]).matches(&exec), "a prefix matches only for Docker's prefixed actions");
        assert!(filter(&["event=health_status"]).matches(&event("container", "health_status: healthy", "4f2a", &[])));
    }

    #[test]
    fn images_match_by_id_name_or_name_without_tag() {
        let load = event("image", "load", "sha256:abc", &[("name", "busybox:latest")]);
        assert!(filter(&["image=busybox:latest"]).matches(&load));
        assert!(filter(&["image=busybox"]).matches(&load));
        assert!(filter(&["image=sha256:abc"]).matches(&load));
        assert!(!filter(&["image=alpine"]).matches(&load));
        assert!(filter(&["image=busybox"]).matches(&die()), "a container event matches on its image attribute");
        let hub = event("image", "load", "sha256:abc", &[("name", "docker.io/library/busybox:1.36")]);
        assert!(filter(&["image=busybox"]).matches(&hub));
        assert!(filter(&["image=docker.io/library/busybox:1.36"]).matches(&hub));
    }

    #[test]
    fn labels_match_key_or_key_value_and_all_must() {
        let labelled = event("container", "start", "c1", &[("com.example.team", "web"), ("tier", "front")]);
        assert!(filter(&["label=tier"]).matches(&labelled));
        assert!(filter(&["label=tier=front"]).matches(&labelled));
        assert!(!filter(&["label=tier=back"]).matches(&labelled));
        assert!(filter(&["label=tier=front", "label=com.example.team=web"]).matches(&labelled));
        assert!(!filter(&["label=tier=front", "label=absent"]).matches(&labelled));
    }

    #[test]
    fn networks_volumes_and_plugins_match_their_actors() {
        let connect = event("network", "connect", "n123", &[("name", "backend"), ("container", "c1")]);
        assert!(filter(&["network=backend"]).matches(&connect));
        assert!(filter(&["network=n1"]).matches(&connect));
        assert!(!filter(&["network=frontend"]).matches(&connect));
        assert!(filter(&["volume=data", "type=volume"]).matches(&event("volume", "mount", "data", &[("driver", "local")])));
        assert!(filter(&["plugin=bridge"]).matches(&event("plugin", "disable", "p1", &[("name", "bridge")])));
    }

    #[test]
    fn references_lose_tag_and_digest() {
        assert_eq!(without_tag("busybox:latest"), "busybox");
        assert_eq!(without_tag("localhost:5000/app:1"), "localhost:5000/app");
        assert_eq!(without_tag("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(without_tag("docker.io/library/busybox@sha256:00"), "busybox");
        assert_eq!(without_tag("docker.io/me/app:2"), "me/app");
        assert_eq!(without_tag("sha256:abc"), "sha256:abc");
    }
}
