//! `docker save` archives: `manifest.json` lists each image as its config file, its
//! layer files bottom first and its tags. Two generations of paths exist: the legacy
//! layout (`<id>.json`, `<id>/layer.tar`) and Docker ≥ 25's (`blobs/sha256/<hex>` for
//! both, beside an OCI `index.json`). Both are read the same way, by path.

use serde::Deserialize;

use super::{
    ArchiveError, BlobRef, Candidate,
    stream::{StagedArchive, normalize},
};
use crate::reference::Reference;

pub(super) const MANIFEST_JSON: &str = "manifest.json";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Option<Vec<String>>,
}

/// One [`Candidate`] per `manifest.json` entry.
pub(super) fn candidates(staged: &StagedArchive) -> Result<Vec<Candidate>, ArchiveError> {
    let (bytes, _) = staged.read_json(MANIFEST_JSON, "the archive")?;
    let entries: Vec<ManifestEntry> =
        serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Malformed {
            what: MANIFEST_JSON.to_string(),
            reason: e.to_string(),
        })?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let source = format!("{MANIFEST_JSON} entry {i}");
            let path = |p: &str| normalize(p.as_bytes());
            let repo_tags = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    Reference::parse(t).map_err(|source_err| ArchiveError::Reference {
                        what: format!("{source} RepoTags"),
                        source: source_err,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Candidate {
                config: BlobRef {
                    path: path(&entry.config)?,
                    descriptor: None,
                },
                layers: entry
                    .layers
                    .unwrap_or_default()
                    .iter()
                    .map(|l| {
                        Ok(BlobRef {
                            path: path(l)?,
                            descriptor: None,
                        })
                    })
                    .collect::<Result<Vec<_>, ArchiveError>>()?,
                repo_tags,
                source,
            })
        })
        .collect()
}
