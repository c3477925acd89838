//! The image service: `load`, `import`, `images`, and the rootfs mounts containers are
//! built on.
//!
//! Blobs live in the content store (`<data-root>/image/blobs`, from `hostctl-image`);
//! layers live in the storage plugin, one per chain id; the state store records images,
//! tags and layers. Writes are serialized by one lock (staging an upload is not: many
//! archives may stream in at once).
//!
//! Every write is all-or-nothing: a `load` reads and verifies the whole archive into
//! staging first (nothing is written outside the store's `tmp/` until then), then commits
//! blobs, applies missing layers (each recorded as `applying` before the driver is
//! asked, see [`records`]), and records every image and tag in one transaction. If any
//! step fails, the layers it created and the blobs it added are removed again. The next
//! start after a crash ([`ImageService::open`]) removes layers left `applying` and blobs
//! nothing refers to.

mod error;
mod layers;
pub mod records;
mod rootfs;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hostctl_api::types::ImageSummary;
use hostctl_image::blobs::BlobStore;
use hostctl_image::change::Change;
use hostctl_image::config::ImageConfig;
use hostctl_image::digest::Digest;
use hostctl_image::import::ImportConfig;
use hostctl_image::reference::Reference;
use hostctl_image::{Staging, chain};
use hostctl_plugin_runtime::StoragePlugin;

pub use error::ImageError;
use records::{ImageRecord, LayerRecord};

use crate::events::EventBus;
use crate::progress::Progress;
use crate::state::{StateStore, Table};

/// `hostctl import`'s request.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    pub reference: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub source: String,
}

/// An image a `load` stored, and the names it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: Digest,
    pub tags: Vec<String>,
}

/// The image service.
pub struct ImageService {
    blobs: BlobStore,
    state: Arc<StateStore>,
    storage: Arc<StoragePlugin>,
    events: Arc<EventBus>,
    write: Mutex<()>,
}

impl ImageService {
    /// Open the service over `root` (the content store), undoing what a crash left.
    pub fn open(root: &Path, state: Arc<StateStore>, storage: Arc<StoragePlugin>, events: Arc<EventBus>) -> Result<Self, ImageError> {
        let service = ImageService { blobs: BlobStore::new(root)?, state, storage, events, write: Mutex::new(()) };
        service.recover()?;
        Ok(service)
    }

    /// The content store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Start-up recovery: staging leftovers, layers left `applying`, unreferenced blobs.
    fn recover(&self) -> Result<(), ImageError> {
        let cleared = self.blobs.clear_tmp()?;
        if cleared > 0 {
            tracing::info!(entries = cleared, "removed unfinished uploads");
        }
        for (key, layer) in self.state.list::<LayerRecord>(Table::Layers)? {
            if layer.state != records::LayerState::Ready {
                tracing::warn!(layer = %layer.chain_id, "removing a layer a crash left half-applied");
                // A removal that fails keeps the record, so the next start tries again;
                // the daemon starts regardless (no image refers to a half-applied layer).
                match self.storage.remove(&layer.driver_id()) {
                    Ok(()) => self.state.write(|t| t.delete(Table::Layers, &key))?,
                    Err(err) => tracing::error!(layer = %layer.chain_id, "removing a half-applied layer failed, retried at the next start: {err}"),
                }
            }
        }
        let removed = self.remove_unreferenced_blobs(self.blobs.list()?)?;
        if removed > 0 {
            tracing::info!(blobs = removed, "removed blobs no image refers to");
        }
        Ok(())
    }

    /// Remove those of `candidates` no image or layer record refers to.
    fn remove_unreferenced_blobs(&self, candidates: impl IntoIterator<Item = Digest>) -> Result<usize, ImageError> {
        let mut referenced = BTreeSet::new();
        for (_, image) in self.state.list::<ImageRecord>(Table::Images)? {
            referenced.insert(image.id);
        }
        for (_, layer) in self.state.list::<LayerRecord>(Table::Layers)? {
            referenced.insert(layer.blob);
        }
        let mut removed = 0;
        for digest in candidates {
            if !referenced.contains(&digest) && self.blobs.remove(&digest)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// `GET /images/json`.
    pub fn list(&self, _all: bool) -> Result<Vec<ImageSummary>, ImageError> {
        let mut images: Vec<ImageRecord> = self.state.list::<ImageRecord>(Table::Images)?.into_iter().map(|(_, r)| r).collect();
        images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(images
            .into_iter()
            .map(|r| ImageSummary {
                id: r.id.to_string(),
                parent_id: String::new(),
                repo_tags: r.repo_tags,
                repo_digests: Vec::new(),
                created: r.created,
                size: r.size as i64,
                shared_size: -1,
                labels: r.labels,
                containers: -1,
            })
            .collect())
    }

    /// How many images there are.
    pub fn count(&self) -> Result<u64, ImageError> {
        Ok(self.state.list::<ImageRecord>(Table::Images)?.len() as u64)
    }

    /// The image `name` names: a full or short id (`sha256:` optional) or `name[:tag]`.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord, ImageError> {
        if let Ok(reference) = Reference::parse(name)
            && let Some(id) = self.state.get::<String>(Table::Tags, &reference.to_string())?
            && let Some(image) = self.state.get::<ImageRecord>(Table::Images, &id)?
        {
            return Ok(image);
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<ImageRecord> = self
                .state
                .list::<ImageRecord>(Table::Images)?
                .into_iter()
                .filter(|(key, _)| key.starts_with(hex))
                .map(|(_, r)| r)
                .collect();
            match matches.len() {
                1 => return Ok(matches.into_iter().next().expect("one")),
                0 => {}
                _ => return Err(ImageError::Invalid(format!("image id prefix {name:?} is ambiguous"))),
            }
        }
        Err(ImageError::NotFound(name.to_owned()))
    }

    /// The run-time defaults (`Cmd`, `Env`, …) of `image`, from its config blob.
    pub fn container_config(&self, image: &ImageRecord) -> Result<hostctl_image::config::ContainerConfig, ImageError> {
        let raw = self.blobs.read(&image.id, hostctl_image::archive::MAX_JSON_SIZE)?;
        let config = ImageConfig::parse(raw).map_err(|e| ImageError::Invalid(format!("image {}: {e}", image.id)))?;
        Ok(config.container_config())
    }

    /// `hostctl load`: every image in a `docker save` or OCI-layout archive.
    pub fn load(&self, archive: &mut dyn Read, progress: &Progress) -> Result<Vec<LoadedImage>, ImageError> {
        let staging = Staging::read(&self.blobs, archive)?;
        if staging.images().is_empty() {
            return Err(ImageError::Invalid("the archive holds no images".into()));
        }
        let _write = self.write.lock().expect("image write lock");
        let committed = staging.commit(&self.blobs)?;
        let mut created: Vec<LayerRecord> = Vec::new();
        let result = (|| {
            let mut images = Vec::new();
            for image in &committed.images {
                let chain_ids = chain::chain_ids(image.config.diff_ids());
                let mut size = 0;
                for (index, layer) in image.layers.iter().enumerate() {
                    let parent = index.checked_sub(1).map(|i| chain_ids[i]);
                    let (record, new) = self.ensure_layer(chain_ids[index], parent, layer.digest, layer.diff_id, layer.size, progress)?;
                    size += record.size;
                    if new {
                        created.push(record);
                    }
                }
                let tags: Vec<String> = image.repo_tags.iter().map(|r| r.to_string()).collect();
                images.push((record_for(&image.config, chain_ids, size, tags.clone()), tags));
            }
            self.record_images(images.iter().map(|(r, _)| r.clone()).collect(), progress)?;
            for (image, tags) in &images {
                self.publish("load", image, tags.first());
            }
            Ok(images.into_iter().map(|(r, tags)| LoadedImage { id: r.id, tags }).collect())
        })();
        if result.is_err() {
            self.roll_back(&created, committed.added);
        }
        result
    }

    /// `hostctl import`: a one-layer image from a rootfs tar (plain or gzip).
    pub fn import(&self, tar: &mut dyn Read, request: &ImportRequest, progress: &Progress) -> Result<Digest, ImageError> {
        let reference = request.reference.as_deref().map(Reference::parse).transpose()?;
        let changes = request.changes.iter().map(|c| c.parse::<Change>()).collect::<Result<Vec<_>, _>>()?;
        let imported = hostctl_image::layer::import_layer(&self.blobs, tar)?;
        let mut builder = ImportConfig::new(imported.diff_id()).source(&request.source);
        if let Some(message) = &request.message {
            builder = builder.message(message);
        }
        for change in &changes {
            builder = builder.change(change);
        }
        let config = builder.build();
        let _write = self.write.lock().expect("image write lock");
        let mut created = Vec::new();
        let mut added = vec![imported.digest];
        let result = (|| {
            let (config_digest, _) = self.blobs.ingest(config.raw(), Some(&config.id()))?;
            added.push(config_digest);
            let diff_id = imported.diff_id();
            let (layer, new) = self.ensure_layer(diff_id, None, imported.digest, diff_id, imported.size, progress)?;
            if new {
                created.push(layer.clone());
            }
            let tags: Vec<String> = reference.iter().map(|r| r.to_string()).collect();
            let record = record_for(&config, vec![diff_id], layer.size, tags.clone());
            let id = record.id;
            self.record_images(vec![record.clone()], progress)?;
            self.publish("import", &record, tags.first());
            Ok(id)
        })();
        if result.is_err() {
            self.roll_back(&created, added);
        }
        result
    }

    /// Write `images` and their tags in one transaction. A tag another image holds moves
    /// to the new one (the old one keeps its other tags, or becomes `<none>`), as Docker.
    fn record_images(&self, images: Vec<ImageRecord>, progress: &Progress) -> Result<(), ImageError> {
        let mut moved: Vec<(String, String)> = Vec::new();
        self.state.write(|t| {
            for mut image in images {
                let key = image.id.hex();
                if let Some(existing) = t.get::<ImageRecord>(Table::Images, &key)? {
                    for tag in existing.repo_tags {
                        if !image.repo_tags.contains(&tag) {
                            image.repo_tags.push(tag);
                        }
                    }
                }
                for tag in &image.repo_tags {
                    if let Some(holder) = t.get::<String>(Table::Tags, tag)?
                        && holder != key
                        && let Some(mut old) = t.get::<ImageRecord>(Table::Images, &holder)?
                    {
                        old.repo_tags.retain(|t| t != tag);
                        moved.push((old.id.to_string(), tag.clone()));
                        progress.line(&format!(
                            "The image {tag} already exists, renaming the old one with ID {} to empty string",
                            old.id
                        ));
                        t.put(Table::Images, &holder, &old)?;
                    }
                    t.put(Table::Tags, tag, &key)?;
                }
                t.put(Table::Images, &key, &image)?;
            }
            Ok(())
        })?;
        for (old, tag) in moved {
            self.events.publish("image", "untag", &old, [("name", tag)]);
        }
        Ok(())
    }

    /// An image event, with Docker's `name` attribute (the first tag, if any).
    fn publish(&self, action: &str, image: &ImageRecord, tag: Option<&String>) {
        let name = tag.cloned().unwrap_or_else(|| image.id.to_string());
        self.events.publish("image", action, &image.id.to_string(), [("name", name)]);
    }

    /// Undo a failed write: remove the layers it created (top first) and the blobs it
    /// added that nothing refers to.
    fn roll_back(&self, created: &[LayerRecord], added: Vec<Digest>) {
        for layer in created.iter().rev() {
            if let Err(err) = self.remove_layer(layer) {
                tracing::error!(layer = %layer.chain_id, "rolling back: {err}");
            }
        }
        if let Err(err) = self.remove_unreferenced_blobs(added) {
            tracing::error!("rolling back blobs: {err}");
        }
    }
}

/// The record of an image from its config.
fn record_for(config: &ImageConfig, layers: Vec<Digest>, size: u64, repo_tags: Vec<String>) -> ImageRecord {
    let created = config.created().unwrap_or_else(SystemTime::now);
    ImageRecord {
        id: config.id(),
        repo_tags,
        layers,
        size,
        created: created.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0),
        labels: config.container_config().labels.unwrap_or_default(),
    }
}
