//! What the image service keeps in the state store: one record per image (by config
//! digest), per tag, and per layer (by chain id). A layer record is written in state
//! `Applying` before the storage driver is asked to create the layer, and flipped to
//! `Ready` after, so a crash in between is found and undone at the next start.

use std::collections::BTreeMap;

use hostctl_image::digest::Digest;
use serde::{Deserialize, Serialize};

/// An image: its config digest (the image ID), names and layer stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: Digest,
    /// `name:tag`s, in the order they were given.
    pub repo_tags: Vec<String>,
    /// Chain ids of its layers, bottom first.
    pub layers: Vec<Digest>,
    /// Bytes of file content across its layers.
    pub size: u64,
    /// Unix seconds, from the config (`created`), else when it was loaded.
    pub created: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Where a layer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerState {
    /// The driver was asked to create it; not yet known to be complete.
    Applying,
    Ready,
}

/// A layer: the storage driver holds it under the chain id's hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// The stored blob it was applied from (compressed or not).
    pub blob: Digest,
    pub size: u64,
    pub state: LayerState,
}

impl LayerRecord {
    /// The storage driver's id for this layer.
    pub fn driver_id(&self) -> String {
        self.chain_id.hex()
    }
}
