//! What the volume service keeps in the state store: one record per volume, by name.
//!
//! A record is written `Creating` before the driver is asked to create the volume and
//! flipped to `Ready` after, so a crash in between is undone at the next start. Each
//! container that mounts the volume is a user, recorded `Mounting` before the driver and
//! the kernel are asked and `Mounted` after (`Unmounting` the other way round): users
//! are what makes a volume "in use", and they survive daemon restarts, as the mounts do.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hostctl_api::volumes::{UsageData, Volume};
use serde::{Deserialize, Serialize};

/// Where a volume is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeState {
    /// The driver was asked to create it; not yet known to exist.
    Creating,
    Ready,
}

/// Where one container's use of a volume is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UseState {
    /// The mount was asked for; not yet known to be done.
    Mounting,
    Mounted,
    /// The unmount was asked for; not yet known to be done.
    Unmounting,
}

/// A volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    /// The volume plugin that provides it.
    pub driver: String,
    /// The driver's scope ("local").
    pub scope: String,
    /// RFC 3339, whole seconds, UTC.
    pub created_at: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The data directory on the host (empty while `Creating`).
    pub mountpoint: PathBuf,
    pub state: VolumeState,
    /// Container id -> where its mount is.
    #[serde(default)]
    pub users: BTreeMap<String, UseState>,
}

impl VolumeRecord {
    /// The containers using it, in id order.
    pub fn user_ids(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// The API's document (without the driver's `Status`).
    pub fn to_api(&self) -> Volume {
        Volume {
            name: self.name.clone(),
            driver: self.driver.clone(),
            mountpoint: self.mountpoint.display().to_string(),
            created_at: self.created_at.clone(),
            labels: self.labels.clone(),
            options: self.options.clone(),
            scope: self.scope.clone(),
            status: BTreeMap::new(),
            usage_data: Some(UsageData { size: -1, ref_count: self.users.len() as i64 }),
        }
    }
}
