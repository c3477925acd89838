//! OCI image layouts (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`): the index lists
//! manifests, or further indexes (multi-platform images); a manifest names a config and
//! layers by descriptor (media type, digest, size). Nested indexes are narrowed to this
//! host's platform (linux and the build target's architecture), skipping BuildKit's
//! attestation manifests. An image's name comes from the top-level descriptor's
//! `io.containerd.image.name` annotation, or from `org.opencontainers.image.ref.name`
//! when that holds a full `name:tag` (a bare tag there names nothing).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ArchiveError, BlobRef, Candidate, stream::StagedArchive};
use crate::{config::host_architecture, digest::Digest, reference::Reference};

pub(super) const INDEX_JSON: &str = "index.json";
pub(super) const OCI_LAYOUT: &str = "oci-layout";

const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const MAX_NESTING: usize = 8;

const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// An OCI content descriptor.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

#[derive(Deserialize)]
struct Layout {
    #[serde(rename = "imageLayoutVersion")]
    version: String,
}

impl Descriptor {
    /// The digest, which must be sha256.
    pub fn digest(&self, referenced_by: &str) -> Result<Digest, ArchiveError> {
        self.digest.parse().map_err(|e| ArchiveError::Unsupported {
            what: format!("descriptor in {referenced_by}"),
            reason: format!("{e}"),
        })
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// The archive path of the blob a descriptor names.
pub(super) fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// One [`Candidate`] per image manifest reachable from `index.json`.
pub(super) fn candidates(staged: &StagedArchive) -> Result<Vec<Candidate>, ArchiveError> {
    if staged.contains(OCI_LAYOUT) {
        let (bytes, _) = staged.read_json(OCI_LAYOUT, "the archive")?;
        let layout: Layout = parse(OCI_LAYOUT, &bytes)?;
        if !layout.version.starts_with("1.") {
            return Err(ArchiveError::Unsupported {
                what: OCI_LAYOUT.to_string(),
                reason: format!(
                    "image layout version {:?}; 1.x is supported",
                    layout.version
                ),
            });
        }
    }
    let (bytes, _) = staged.read_json(INDEX_JSON, "the archive")?;
    let index: Index = parse(INDEX_JSON, &bytes)?;
    let mut out = Vec::new();
    for descriptor in index.manifests.unwrap_or_default() {
        let names = names(&descriptor)?;
        walk(staged, &descriptor, INDEX_JSON, &names, 0, &mut out)?;
    }
    Ok(out)
}

fn parse<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|e| ArchiveError::Malformed {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

fn names(descriptor: &Descriptor) -> Result<Vec<Reference>, ArchiveError> {
    if let Some(name) = descriptor.annotation(ANNOTATION_CONTAINERD_NAME) {
        let reference = Reference::parse(name).map_err(|source| ArchiveError::Reference {
            what: format!("{INDEX_JSON} annotation {ANNOTATION_CONTAINERD_NAME}"),
            source,
        })?;
        return Ok(vec![reference]);
    }
    // A bare tag (the usual value) or anything else that is not a full name:tag names nothing.
    Ok(descriptor
        .annotation(ANNOTATION_REF_NAME)
        .and_then(|name| Reference::parse_tagged(name).ok())
        .into_iter()
        .collect())
}

fn is_attestation(d: &Descriptor) -> bool {
    d.annotation("vnd.docker.reference.type") == Some("attestation-manifest")
}

fn for_this_host(d: &Descriptor) -> bool {
    d.platform
        .as_ref()
        .is_none_or(|p| p.os == "linux" && p.architecture == host_architecture())
}

fn walk(
    staged: &StagedArchive,
    descriptor: &Descriptor,
    referenced_by: &str,
    names: &[Reference],
    depth: usize,
    out: &mut Vec<Candidate>,
) -> Result<(), ArchiveError> {
    if depth > MAX_NESTING {
        return Err(ArchiveError::Malformed {
            what: referenced_by.to_string(),
            reason: format!("indexes nested more than {MAX_NESTING} deep"),
        });
    }
    let digest = descriptor.digest(referenced_by)?;
    let path = blob_path(&digest);
    let (bytes, staged_file) = staged.read_json(&path, referenced_by)?;
    if staged_file.size != descriptor.size {
        return Err(ArchiveError::SizeMismatch {
            path,
            expected: descriptor.size,
            actual: staged_file.size,
        });
    }
    let media_type = if descriptor.media_type.is_empty() {
        // Untyped descriptor: the document says what it is.
        let probe: Index = parse(&path, &bytes)?;
        match (probe.media_type, probe.manifests.is_some()) {
            (Some(mt), _) => mt,
            (None, true) => INDEX_TYPES[0].to_string(),
            (None, false) => MANIFEST_TYPES[0].to_string(),
        }
    } else {
        descriptor.media_type.clone()
    };
    let what = format!(
        "{} {digest}",
        if INDEX_TYPES.contains(&media_type.as_str()) {
            "index"
        } else {
            "manifest"
        }
    );
    if INDEX_TYPES.contains(&media_type.as_str()) {
        let index: Index = parse(&what, &bytes)?;
        let children: Vec<Descriptor> = index
            .manifests
            .unwrap_or_default()
            .into_iter()
            .filter(|d| !is_attestation(d) && for_this_host(d))
            .collect();
        if children.is_empty() {
            return Err(ArchiveError::Unsupported {
                what,
                reason: format!("it has no image for linux/{}", host_architecture()),
            });
        }
        // A multi-platform index saved for one platform holds only that platform's blobs.
        let present: Vec<&Descriptor> = children
            .iter()
            .filter(|d| {
                d.digest(&what)
                    .is_ok_and(|dg| staged.contains(&blob_path(&dg)))
            })
            .collect();
        let chosen = if present.is_empty() {
            vec![&children[0]]
        } else {
            present
        };
        for child in chosen {
            walk(staged, child, &what, names, depth + 1, out)?;
        }
        Ok(())
    } else if MANIFEST_TYPES.contains(&media_type.as_str()) {
        let manifest: Manifest = parse(&what, &bytes)?;
        if let Some(mt) = &manifest.media_type
            && !MANIFEST_TYPES.contains(&mt.as_str())
        {
            return Err(ArchiveError::Malformed {
                what,
                reason: format!("descriptor says image manifest, document says {mt:?}"),
            });
        }
        if !manifest.config.media_type.is_empty()
            && !CONFIG_TYPES.contains(&manifest.config.media_type.as_str())
        {
            return Err(ArchiveError::Unsupported {
                what,
                reason: format!(
                    "config media type {:?} is not a container image's (an OCI artifact?)",
                    manifest.config.media_type
                ),
            });
        }
        let blob_ref = |d: &Descriptor| -> Result<BlobRef, ArchiveError> {
            Ok(BlobRef {
                path: blob_path(&d.digest(&what)?),
                descriptor: Some(d.clone()),
                named: None,
            })
        };
        out.push(Candidate {
            config: blob_ref(&manifest.config)?,
            layers: manifest
                .layers
                .unwrap_or_default()
                .iter()
                .map(blob_ref)
                .collect::<Result<_, _>>()?,
            repo_tags: names.to_vec(),
            source: what.clone(),
        });
        Ok(())
    } else {
        Err(ArchiveError::Unsupported {
            what: format!("descriptor {digest} in {referenced_by}"),
            reason: format!(
                "media type {media_type:?} is neither an image index nor an image manifest"
            ),
        })
    }
}
