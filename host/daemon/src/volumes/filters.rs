//! `GET /volumes?filters=`: Docker's volume filters. Values of one key are alternatives,
//! different keys must all match, except `label`, whose values must all match:
//! - `name`: a part of the name;
//! - `driver`: the driver's name exactly;
//! - `label`: `k` (the label is set) or `k=v` (and has that value);
//! - `dangling`: `true`/`1` (no container uses it) or `false`/`0` (one does).

use hostctl_api::volumes::VOLUME_FILTER_KEYS;

use super::VolumeError;
use super::records::VolumeRecord;
use crate::events::Filters;

/// Filters checked against the keys volumes are filtered by.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    filters: Filters,
    dangling: Option<bool>,
}

impl VolumeFilter {
    pub fn new(filters: Filters) -> Result<Self, VolumeError> {
        filters.validate("volumes", VOLUME_FILTER_KEYS)?;
        let mut dangling = None;
        for value in filters.get("dangling") {
            let wanted = match value.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(VolumeError::Invalid(format!("invalid filter 'dangling={value}': expected true or false"))),
            };
            if dangling.is_some_and(|d| d != wanted) {
                return Err(VolumeError::Invalid("filters dangling=true and dangling=false exclude each other".into()));
            }
            dangling = Some(wanted);
        }
        Ok(VolumeFilter { filters, dangling })
    }

    pub fn matches(&self, volume: &VolumeRecord) -> bool {
        let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
            let mut values = self.filters.get(key).peekable();
            values.peek().is_none() || values.any(pred)
        };
        any("name", &|v| volume.name.contains(v))
            && any("driver", &|v| volume.driver == v)
            && self.filters.get("label").all(|wanted| match wanted.split_once('=') {
                Some((key, value)) => volume.labels.get(key).is_some_and(|v| v == value),
                None => volume.labels.contains_key(wanted),
            })
            && self.dangling.is_none_or(|dangling| dangling == volume.users.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volumes::records::{UseState, VolumeState};

    fn volume(name: &str, driver: &str, labels: &[(&str, &str)], used: bool) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: driver.into(),
            scope: "local".into(),
            created_at: String::new(),
            options: Default::default(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            mountpoint: Default::default(),
            state: VolumeState::Ready,
            users: if used { [("c1".to_owned(), UseState::Mounted)].into() } else { Default::default() },
        }
    }

    fn filter(flags: &[&str]) -> VolumeFilter {
        VolumeFilter::new(Filters::from_flags(flags).unwrap()).unwrap()
    }

    #[test]
    fn keys_combine_as_dockers_do() {
        let data = volume("app-data", "volume-local", &[("env", "prod"), ("team", "a")], true);
        assert!(filter(&[]).matches(&data));
        assert!(filter(&["name=data", "name=zzz"]).matches(&data), "values of one key are alternatives");
        assert!(!filter(&["name=data", "driver=other"]).matches(&data), "keys must all match");
        assert!(filter(&["label=env=prod", "label=team"]).matches(&data));
        assert!(!filter(&["label=env=prod", "label=team=b"]).matches(&data), "labels must all match");
        assert!(filter(&["dangling=false"]).matches(&data));
        assert!(!filter(&["dangling=true"]).matches(&data));
        assert!(filter(&["dangling=1"]).matches(&volume("x", "d", &[], false)));
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        assert!(VolumeFilter::new(Filters::from_flags(["colour=red"]).unwrap()).is_err());
        assert!(VolumeFilter::new(Filters::from_flags(["dangling=maybe"]).unwrap()).is_err());
    }
}
