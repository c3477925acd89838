//! Volumes on the wire, as Docker's Engine API has them: the [`Volume`] document
//! (`GET /volumes/{name}`), [`VolumeCreate`] (`POST /volumes/create`), [`VolumeList`]
//! (`GET /volumes?filters=`), and the client's calls (`DELETE /volumes/{name}?force=`).

use std::collections::BTreeMap;

use hyper::Method;
use serde::{Deserialize, Deserializer, Serialize};

use crate::client::{Client, empty, segment};
use crate::error::ApiError;
use crate::events::Filters;

/// The filters `GET /volumes` takes.
pub const VOLUME_FILTER_KEYS: &[&str] = &["dangling", "driver", "label", "name"];

/// A volume, as `docker volume inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    /// The volume plugin that provides it.
    pub driver: String,
    /// The data directory on the host.
    pub mountpoint: String,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub labels: BTreeMap<String, String>,
    /// The driver options it was created with (`type`, `device`, `o` for volume-local).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub options: BTreeMap<String, String>,
    /// "local" or "global".
    pub scope: String,
    /// What the driver says about it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_empty")]
    pub status: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// How much a volume is used: Docker's `UsageData`. `size` is -1 (not computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageData {
    pub size: i64,
    /// How many containers mount it now.
    pub ref_count: i64,
}

/// `POST /volumes/create`'s body. Every field may be left out: a name is generated,
/// the daemon's default driver is used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeCreate {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `GET /volumes`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeList {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub warnings: Vec<String>,
}

/// Docker sends `null` for an empty map or list.
fn null_as_empty<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Client {
    /// `POST /volumes/create`.
    pub async fn create_volume(&self, request: &VolumeCreate) -> Result<Volume, ApiError> {
        self.post_json("/volumes/create", serde_json::to_vec(request).expect("requests serialize")).await
    }

    /// `GET /volumes`, with Docker's filters (`name`, `driver`, `label`, `dangling`).
    pub async fn volumes(&self, filters: &Filters) -> Result<VolumeList, ApiError> {
        if filters.is_empty() {
            return self.get_json("/volumes").await;
        }
        let query = serde_urlencoded::to_string([("filters", filters.to_json())]).expect("strings encode");
        self.get_json(&format!("/volumes?{query}")).await
    }

    /// `GET /volumes/{name}`.
    pub async fn inspect_volume(&self, name: &str) -> Result<Volume, ApiError> {
        self.get_json(&format!("/volumes/{}", segment(name))).await
    }

    /// `DELETE /volumes/{name}?force=`. `force` (Docker's) makes a missing volume no
    /// error; a volume in use is refused either way.
    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<(), ApiError> {
        let q = if force { "?force=1" } else { "" };
        self.send(Self::request(Method::DELETE, &format!("/volumes/{}{q}", segment(name)), empty())).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_create_body_with_nulls_parses() {
        let body: VolumeCreate = serde_json::from_str(r#"{"Name":"data","Driver":"local","DriverOpts":null,"Labels":null}"#).unwrap();
        assert_eq!((body.name.as_str(), body.driver.as_str(), body.labels.len()), ("data", "local", 0));
        assert_eq!(serde_json::from_str::<VolumeCreate>("{}").unwrap(), VolumeCreate::default());
    }

    #[test]
    fn volumes_serialize_with_dockers_names() {
        let v = Volume {
            name: "data".into(),
            driver: "volume-local".into(),
            mountpoint: "/var/lib/hostctl/volumes/volume-local/data/_data".into(),
            created_at: "2024-01-02T03:04:05Z".into(),
            labels: BTreeMap::new(),
            options: BTreeMap::from([("type".to_owned(), "tmpfs".to_owned())]),
            scope: "local".into(),
            status: BTreeMap::new(),
            usage_data: Some(UsageData { size: -1, ref_count: 0 }),
        };
        let json = serde_json::to_value(&v).unwrap();
        for key in ["Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Options", "Scope", "UsageData"] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        assert!(json.get("Status").is_none());
        assert_eq!(json["UsageData"]["RefCount"], 0);
        assert_eq!(serde_json::from_value::<Volume>(json).unwrap(), v);
    }

    #[test]
    fn names_are_escaped_as_one_path_segment() {
        assert_eq!(segment("my_vol.1-x"), "my_vol.1-x");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
