//! `docker save` archives: `manifest.json` lists each image as its config file, its
//! layer files bottom first and its tags. Two generations of paths exist: the legacy
//! layout (`<id>.json`, `<v1 id>/layer.tar`) and Docker ≥ 25's (`blobs/sha256/<hex>` for
//! both, beside an OCI `index.json`). Both are read the same way, by path. A name that is
//! a digest is a content address the content must match: `blobs/sha256/<hex>` is checked
//! as it streams in, a legacy config's `<hex>.json` when the image is resolved. Any other
//! config name is only a name (the config is stored under the digest of its content).

use serde::Deserialize;

use super::{
    ArchiveError, BlobRef, Candidate,
    stream::{StagedArchive, normalize},
};
use crate::{digest::Digest, reference::Reference};

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
            let config = path(&entry.config)?;
            Ok(Candidate {
                config: BlobRef {
                    named: named_digest(&config),
                    path: config,
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
                            named: None,
                        })
                    })
                    .collect::<Result<Vec<_>, ArchiveError>>()?,
                repo_tags,
                source,
            })
        })
        .collect()
}

/// The digest a legacy config's name gives: `<64 lowercase hex>.json`, in any directory.
fn named_digest(path: &str) -> Option<Digest> {
    let name = path.rsplit('/').next()?;
    Digest::from_hex(name.strip_suffix(".json")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_hex_digest_dot_json_names_a_digest() {
        let hex = "a".repeat(64);
        let digest = Digest::from_hex(&hex).unwrap();
        assert_eq!(named_digest(&format!("{hex}.json")), Some(digest));
        assert_eq!(named_digest(&format!("configs/{hex}.json")), Some(digest));
        assert_eq!(named_digest("config.json"), None);
        assert_eq!(named_digest(&hex), None);
        assert_eq!(named_digest(&format!("{}.json", "A".repeat(64))), None);
        assert_eq!(named_digest(&format!("{}.json", "a".repeat(63))), None);
        assert_eq!(named_digest(&format!("{hex}.json.bak")), None);
    }
}
