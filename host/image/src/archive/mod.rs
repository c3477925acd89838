//! Image archives, as `hostctl load -i` reads them: a `docker save` archive (legacy or
//! Docker ≥ 25 layout, found by its `manifest.json`) or an OCI image layout (found by its
//! `index.json`), as one tar stream, plain or gzip. Loading has two steps so the daemon can
//! record intent in between:
//!
//! 1. [`Staging::read`] streams the archive into a staging directory under the store's
//!    `tmp/` ([`stream`]), then resolves every image ([`docker`] or [`oci`], preferring
//!    `manifest.json` when both exist): config bytes and ID, layers bottom first with
//!    their digest, size, compression and DiffID (each DiffID verified, decompressing gzip
//!    layers), and tags. Nothing touches the store yet.
//! 2. [`Staging::commit`] moves the referenced blobs into the [`BlobStore`] and reports
//!    which were new, so a later failure can remove exactly those.
//!
//! Dropping a `Staging` (committed or not) removes the staging directory.

mod docker;
mod oci;
mod stream;

use std::{
    collections::{BTreeMap, HashMap},
    fs::File,
    io::{self, Read},
    path::PathBuf,
};

pub use stream::MAX_JSON_SIZE;

use crate::{
    blobs::{BlobError, BlobStore},
    config::{ConfigError, ImageConfig},
    digest::Digest,
    layer::{Compression, LayerError, TarFault, diff_id_of},
    reference::{Reference, ReferenceError},
};

/// Why an image archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// `entry` is the entry being read, or the last one read, quoted ("none" at the start).
    #[error("image archive is truncated: {detail} (last entry: {entry})")]
    Truncated { entry: String, detail: String },
    #[error("image archive {0}")]
    Tar(TarFault),
    #[error(
        "image archive is {compression}-compressed, which is not supported (plain tar and gzip are); decompress it first"
    )]
    Compressed { compression: &'static str },
    #[error(
        "image archive has neither manifest.json (docker save) nor index.json (OCI image layout)"
    )]
    NoImages,
    #[error(
        "image archive has only a 'repositories' file: the docker save format before Docker 1.10 is not supported"
    )]
    PreV110,
    /// `entry` is quoted, its bytes escaped where they are not UTF-8.
    #[error("image archive entry {entry}: {reason}")]
    Entry { entry: String, reason: String },
    #[error(
        "image archive entry {path:?}: content does not match its digest: expected {expected}, got {actual}"
    )]
    DigestMismatch {
        path: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("image archive entry {path:?}: {actual} bytes, but its descriptor says {expected}")]
    SizeMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("image archive: {path:?} is referenced by {referenced_by} but is not in the archive")]
    Missing { path: String, referenced_by: String },
    #[error("image archive: {what} is malformed: {reason}")]
    Malformed { what: String, reason: String },
    #[error("image archive entry {entry:?} points outside the archive (absolute path or '..')")]
    UnsafePath { entry: String },
    #[error(
        "image archive entry {path:?}: {size} bytes is more than the {limit} allowed for a JSON document"
    )]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("image archive: {what}: {reason}")]
    Unsupported { what: String, reason: String },
    #[error("image archive: {image} lists {layers} layers but its config has {diff_ids} diff_ids")]
    LayerCount {
        image: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error(
        "image archive: layer {index} ({path:?}) of {image} has DiffID {actual}, but its config says {expected}"
    )]
    DiffIdMismatch {
        image: String,
        path: String,
        index: usize,
        expected: Digest,
        actual: Digest,
    },
    #[error("image archive: config {path:?}: {source}")]
    Config {
        path: String,
        #[source]
        source: ConfigError,
    },
    #[error("image archive: layer {path:?}: {source}")]
    Layer {
        path: String,
        #[source]
        source: LayerError,
    },
    #[error("image archive: {what}: {source}")]
    Reference {
        what: String,
        #[source]
        source: ReferenceError,
    },
    #[error("reading image archive: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("image archive staging {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// One image found in an archive.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveImage {
    /// The config: raw bytes, ID and parsed view.
    pub config: ImageConfig,
    /// Layers bottom first, as many as the config has DiffIDs.
    pub layers: Vec<ArchiveLayer>,
    /// Names to tag the image with (none: load it untagged).
    pub repo_tags: Vec<Reference>,
    /// Where in the archive it was described (for messages).
    pub source: String,
}

/// One layer blob of an [`ArchiveImage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLayer {
    /// The blob as stored (compressed, if it came compressed).
    pub digest: Digest,
    pub size: u64,
    /// As declared by an OCI descriptor, or the OCI type matching the sniffed compression.
    pub media_type: String,
    pub compression: Compression,
    /// The uncompressed tar's digest, verified against the config.
    pub diff_id: Digest,
}

/// What [`Staging::commit`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub images: Vec<ArchiveImage>,
    /// Blobs that were not in the store before this commit.
    pub added: Vec<Digest>,
}

/// An image description before its files are checked: where its config and layers are.
#[derive(Debug)]
struct Candidate {
    config: BlobRef,
    layers: Vec<BlobRef>,
    repo_tags: Vec<Reference>,
    source: String,
}

#[derive(Debug)]
struct BlobRef {
    path: String,
    descriptor: Option<oci::Descriptor>,
    /// The digest the file's name gives (a legacy `docker save` config, `<hex>.json`),
    /// which its content must have.
    named: Option<Digest>,
}

/// A read and resolved archive, its blobs waiting under the store's `tmp/`.
#[derive(Debug)]
pub struct Staging {
    staged: stream::StagedArchive,
    images: Vec<ArchiveImage>,
    blobs: BTreeMap<Digest, PathBuf>,
}

impl Staging {
    /// Reads a whole archive from `reader` and resolves its images.
    pub fn read<R: Read>(store: &BlobStore, reader: R) -> Result<Staging, ArchiveError> {
        let staged = stream::StagedArchive::read(store, reader)?;
        let candidates = if staged.contains(docker::MANIFEST_JSON) {
            docker::candidates(&staged)?
        } else if staged.contains(oci::INDEX_JSON) {
            oci::candidates(&staged)?
        } else if staged.contains("repositories") {
            return Err(ArchiveError::PreV110);
        } else {
            return Err(ArchiveError::NoImages);
        };
        let mut staging = Staging {
            staged,
            images: Vec::new(),
            blobs: BTreeMap::new(),
        };
        let mut diff_ids = HashMap::new();
        for candidate in candidates {
            let image = staging.resolve(candidate, &mut diff_ids)?;
            // An OCI index lists an image once per tag: one image, all its tags.
            match staging
                .images
                .iter_mut()
                .find(|i| i.config.id() == image.config.id() && i.layers == image.layers)
            {
                Some(same) => {
                    for tag in image.repo_tags {
                        if !same.repo_tags.contains(&tag) {
                            same.repo_tags.push(tag);
                        }
                    }
                }
                None => staging.images.push(image),
            }
        }
        Ok(staging)
    }

    /// The images found, in archive order; an image listed more than once (an OCI index
    /// has one descriptor per tag) appears once with all its tags.
    pub fn images(&self) -> &[ArchiveImage] {
        &self.images
    }

    /// Every blob (configs and layers) the images reference, by digest.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        self.blobs.keys()
    }

    /// Moves the referenced blobs into `store`. On error, blobs this commit added are
    /// removed again and the store is as before.
    pub fn commit(self, store: &BlobStore) -> Result<Committed, ArchiveError> {
        let mut added = Vec::new();
        for (digest, file) in &self.blobs {
            match store.adopt(file, digest) {
                Ok(true) => added.push(*digest),
                Ok(false) => {}
                Err(e) => {
                    for d in &added {
                        let _ = store.remove(d);
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(Committed {
            images: self.images,
            added,
        })
    }

    fn resolve(
        &mut self,
        c: Candidate,
        diff_id_cache: &mut HashMap<Digest, Digest>,
    ) -> Result<ArchiveImage, ArchiveError> {
        let config_file = self.checked(&c.config, &c.source)?;
        let (bytes, _) = self.staged.read_json(&c.config.path, &c.source)?;
        let config = ImageConfig::parse(bytes).map_err(|source| ArchiveError::Config {
            path: c.config.path.clone(),
            source,
        })?;
        self.blobs.insert(config.id(), config_file);
        let image = format!("image {} ({})", config.id().short(), c.source);
        if config.diff_ids().len() != c.layers.len() {
            return Err(ArchiveError::LayerCount {
                image,
                layers: c.layers.len(),
                diff_ids: config.diff_ids().len(),
            });
        }
        let mut layers = Vec::with_capacity(c.layers.len());
        for (index, layer) in c.layers.iter().enumerate() {
            let file = self.checked(layer, &c.source)?;
            let staged = self.staged.lookup(&layer.path, &c.source)?.clone();
            let layer_err = |source| ArchiveError::Layer {
                path: layer.path.clone(),
                source,
            };
            let mut prefix = Vec::with_capacity(6);
            File::open(&file)
                .and_then(|f| f.take(6).read_to_end(&mut prefix))
                .map_err(|source| ArchiveError::Io {
                    path: file.clone(),
                    source,
                })?;
            let compression = Compression::sniff("the blob", &prefix).map_err(layer_err)?;
            let media_type = match &layer.descriptor {
                Some(d) => {
                    let declared =
                        Compression::from_media_type(&d.media_type).map_err(layer_err)?;
                    if declared != compression {
                        return Err(ArchiveError::Malformed {
                            what: format!("layer {:?}", layer.path),
                            reason: format!(
                                "media type {:?} says {declared} compression, the content is {compression}",
                                d.media_type
                            ),
                        });
                    }
                    d.media_type.clone()
                }
                None => compression.oci_media_type().to_string(),
            };
            let diff_id = match (compression, diff_id_cache.get(&staged.digest)) {
                (Compression::None, _) => staged.digest,
                (_, Some(cached)) => *cached,
                (_, None) => {
                    let computed = File::open(&file)
                        .and_then(|f| diff_id_of(f, compression))
                        .map_err(|e| ArchiveError::Layer {
                            path: layer.path.clone(),
                            source: LayerError::Malformed {
                                reason: format!("decompressing: {e}"),
                            },
                        })?;
                    diff_id_cache.insert(staged.digest, computed);
                    computed
                }
            };
            let expected = config.diff_ids()[index];
            if diff_id != expected {
                return Err(ArchiveError::DiffIdMismatch {
                    image,
                    path: layer.path.clone(),
                    index,
                    expected,
                    actual: diff_id,
                });
            }
            self.blobs.insert(staged.digest, file);
            layers.push(ArchiveLayer {
                digest: staged.digest,
                size: staged.size,
                media_type,
                compression,
                diff_id,
            });
        }
        Ok(ArchiveImage {
            config,
            layers,
            repo_tags: c.repo_tags,
            source: c.source,
        })
    }

    /// The staged file of a reference, checked against its descriptor and the digest
    /// its name gives (if any).
    fn checked(&self, blob: &BlobRef, referenced_by: &str) -> Result<PathBuf, ArchiveError> {
        let staged = self.staged.lookup(&blob.path, referenced_by)?;
        if let Some(expected) = blob.named
            && expected != staged.digest
        {
            return Err(ArchiveError::DigestMismatch {
                path: blob.path.clone(),
                expected,
                actual: staged.digest,
            });
        }
        if let Some(d) = &blob.descriptor {
            let expected = d.digest(referenced_by)?;
            if expected != staged.digest {
                return Err(ArchiveError::DigestMismatch {
                    path: blob.path.clone(),
                    expected,
                    actual: staged.digest,
                });
            }
            if d.size != staged.size {
                return Err(ArchiveError::SizeMismatch {
                    path: blob.path.clone(),
                    expected: d.size,
                    actual: staged.size,
                });
            }
        }
        Ok(staged.file.clone())
    }
}

#[cfg(test)]
mod tests;
