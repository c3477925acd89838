//! The JSON documents of the API, shaped and named as Docker's Engine API where it has
//! them (`PascalCase` fields), so tools that know Docker's know these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;

/// `GET /images/json`: one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// `sha256:<hex>` of the image config.
    pub id: String,
    #[serde(default)]
    pub parent_id: String,
    /// `name:tag`s; empty for a dangling image.
    #[serde(default)]
    pub repo_tags: Vec<String>,
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// Bytes of all its layers' files.
    pub size: i64,
    #[serde(default)]
    pub shared_size: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// -1 when not computed (as Docker).
    #[serde(default)]
    pub containers: i64,
}

/// One line of a streamed response (`load`, `import`): Docker's JSONMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorBody>,
}

/// Bytes done of a step (`progressDetail`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    pub current: u64,
    pub total: u64,
}

impl JsonMessage {
    /// A line of text (`stream`), e.g. `Loaded image: busybox:latest\n`.
    pub fn stream(text: impl Into<String>) -> Self {
        JsonMessage { stream: Some(text.into()), ..Default::default() }
    }

    /// A status with progress for object `id` (a layer's short digest).
    pub fn progress(status: &str, id: &str, current: u64, total: u64) -> Self {
        JsonMessage {
            status: Some(status.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail { current, total }),
            ..Default::default()
        }
    }

    /// The final line of a failed stream.
    pub fn failure(error: ErrorBody) -> Self {
        JsonMessage { error: Some(error.message.clone()), error_detail: Some(error), ..Default::default() }
    }
}

/// `GET /plugins`: one loaded plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginSummary {
    pub name: String,
    /// storage, network, volume or restart.
    pub kind: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    /// sha256 of the component.
    pub sha256: String,
    /// What the plugin was granted, by interface: `{"files": ["chown", …], "mounts": [...]}`.
    #[serde(default)]
    pub capabilities: BTreeMap<String, Vec<String>>,
    /// "compiled" (now) or "cache" (precompiled, from the cache).
    pub origin: String,
    /// Milliseconds spent compiling or loading the component at daemon start.
    pub load_time_ms: f64,
    /// Why it is not enabled (failed to load), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
}

/// `GET /info`: the daemon as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    /// The storage driver's name (Docker's `Driver`, e.g. "overlay2").
    pub driver: String,
    /// The plugin providing it.
    pub driver_plugin: String,
    pub driver_status: Vec<(String, String)>,
    pub images: u64,
    pub docker_root_dir: String,
    pub plugins: Vec<String>,
}
