//! Layers: applied once per chain id by the storage plugin, from a verified blob stream.

use std::io::Read;

use hostctl_image::blobs::VerifiedReader;
use hostctl_image::digest::Digest;
use hostctl_plugin_runtime::BlobSource;

use super::records::{LayerRecord, LayerState};
use super::{ImageError, ImageService};
use crate::progress::Progress;
use crate::state::Table;

/// A stored blob streamed to the storage driver: verified against its digest at its end
/// (by `VerifiedReader`), reporting load progress as it is read.
struct LayerBlob {
    reader: VerifiedReader<std::fs::File>,
    digest: Digest,
    size: u64,
    read: u64,
    progress: Progress,
    id: String,
}

impl Read for LayerBlob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.read += n as u64;
        self.progress.bytes("Loading layer", &self.id, self.read, self.size);
        Ok(n)
    }
}

impl BlobSource for LayerBlob {
    fn digest(&self) -> String {
        self.digest.to_string()
    }
    fn size(&self) -> u64 {
        self.size
    }
}

impl ImageService {
    /// The layer `chain_id` (on `parent`), applied from `blob` if it does not exist yet.
    /// Returns its record and whether this call created it.
    pub(super) fn ensure_layer(
        &self,
        chain_id: Digest,
        parent: Option<Digest>,
        blob: Digest,
        diff_id: Digest,
        blob_size: u64,
        progress: &Progress,
    ) -> Result<(LayerRecord, bool), ImageError> {
        let key = chain_id.hex();
        if let Some(existing) = self.state.get::<LayerRecord>(Table::Layers, &key)?
            && existing.state == LayerState::Ready
        {
            progress.bytes("Loading layer", &diff_id.short(), blob_size, blob_size);
            return Ok((existing, false));
        }
        let mut record = LayerRecord { chain_id, diff_id, parent, blob, size: 0, state: LayerState::Applying };
        self.state.write(|t| t.put(Table::Layers, &key, &record))?;
        let applied = self.apply(&record, blob_size, progress);
        match applied {
            Ok(size) => {
                record.size = size;
                record.state = LayerState::Ready;
                self.state.write(|t| t.put(Table::Layers, &key, &record))?;
                Ok((record, true))
            }
            Err(err) => {
                if let Err(cleanup) = self.remove_layer(&record) {
                    tracing::error!(layer = %chain_id, "removing a failed layer: {cleanup}");
                }
                Err(err)
            }
        }
    }

    /// Ask the driver to apply `record`'s blob; check the DiffID it computed.
    fn apply(&self, record: &LayerRecord, blob_size: u64, progress: &Progress) -> Result<u64, ImageError> {
        let source = LayerBlob {
            reader: self.blobs.open(&record.blob)?,
            digest: record.blob,
            size: blob_size,
            read: 0,
            progress: progress.clone(),
            id: record.diff_id.short(),
        };
        let parent = record.parent.map(|p| p.hex());
        let applied = self.storage.apply_layer(&record.driver_id(), parent.as_deref(), Box::new(source))?;
        if applied.diff_id != record.diff_id.to_string() {
            return Err(ImageError::DiffIdMismatch {
                layer: record.blob.to_string(),
                expected: record.diff_id.to_string(),
                actual: applied.diff_id,
            });
        }
        Ok(applied.size)
    }

    /// Remove a layer from the driver, then its record.
    pub(super) fn remove_layer(&self, record: &LayerRecord) -> Result<(), ImageError> {
        self.storage.remove(&record.driver_id())?;
        self.state.write(|t| t.delete(Table::Layers, &record.chain_id.hex()))?;
        Ok(())
    }
}
