//! The image config: the JSON document (OCI `application/vnd.oci.image.config.v1+json`,
//! Docker's `application/vnd.docker.container.image.v1+json`, the same shape) that says
//! what to run (`config.Cmd`, `Env`, ...) and which layers make the root filesystem
//! (`rootfs.diff_ids`). The image ID is the sha256 of the config's exact bytes, so
//! [`ImageConfig`] keeps those bytes beside a parsed view of the fields hostctl uses.
//! Parsing is lenient about fields it does not know (configs in the wild carry
//! `container_config`, `docker_version`, ...) and strict where a wrong value would mislead:
//! `rootfs.type` must be `layers` and every DiffID must be a sha256 digest.

use std::{collections::BTreeMap, time::SystemTime};

use serde::{Deserialize, Deserializer, Serialize};

use crate::{chain, digest::Digest, timestamp};

/// The `rootfs.type` every image config carries.
pub const ROOTFS_TYPE_LAYERS: &str = "layers";

/// The PATH Docker gives an image that sets none.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a config document was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("image config {digest}: not a valid config document: {source}")]
    Json {
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("image config {digest}: rootfs.type is {found:?}, expected \"layers\"")]
    RootFsType { digest: Digest, found: String },
}

/// An image config: its exact bytes, their digest (the image ID) and the parsed view.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    raw: Vec<u8>,
    id: Digest,
    document: ConfigDocument,
}

impl ImageConfig {
    /// Parses and validates config bytes.
    pub fn parse(raw: Vec<u8>) -> Result<ImageConfig, ConfigError> {
        let id = Digest::of_bytes(&raw);
        let document: ConfigDocument = serde_json::from_slice(&raw)
            .map_err(|source| ConfigError::Json { digest: id, source })?;
        if document.rootfs.kind != ROOTFS_TYPE_LAYERS {
            return Err(ConfigError::RootFsType {
                digest: id,
                found: document.rootfs.kind.clone(),
            });
        }
        Ok(ImageConfig { raw, id, document })
    }

    /// Serialises a document built in this crate (always valid: `rootfs.type` is set by
    /// the builder).
    pub(crate) fn from_document(document: ConfigDocument) -> ImageConfig {
        let raw = serde_json::to_vec(&document).expect("a config document always serialises");
        ImageConfig {
            id: Digest::of_bytes(&raw),
            raw,
            document,
        }
    }

    /// The exact bytes, as stored and as `save` must write them back.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The image ID: sha256 of the raw bytes.
    pub fn id(&self) -> Digest {
        self.id
    }

    pub fn document(&self) -> &ConfigDocument {
        &self.document
    }

    /// The uncompressed digests of the layers, bottom first.
    pub fn diff_ids(&self) -> &[Digest] {
        &self.document.rootfs.diff_ids
    }

    /// The ChainID of the whole layer stack (`None` for an image without layers).
    pub fn chain_id(&self) -> Option<Digest> {
        chain::chain_id(self.diff_ids())
    }

    /// `created`, if present and parseable.
    pub fn created(&self) -> Option<SystemTime> {
        timestamp::parse_rfc3339(self.document.created.as_deref()?).ok()
    }

    /// The run-time defaults (`config`), empty when the image has none.
    pub fn container_config(&self) -> ContainerConfig {
        self.document.config.clone().unwrap_or_default()
    }
}

/// The parsed view of a config document (fields hostctl uses; others are ignored here and
/// kept in the raw bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigDocument {
    #[serde(default, deserialize_with = "null_default")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
    #[serde(default, deserialize_with = "null_default")]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub rootfs: RootFs,
}

/// Run-time defaults for containers of the image. Docker's names, all optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, EmptyObject>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// The `{}` values of `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// `rootfs`: the layer stack by DiffID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub diff_ids: Vec<Digest>,
}

/// One `history` entry, as `hostctl history` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// `null` reads as the type's default (Docker writes `"history": null` at times).
fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The GOARCH name of the architecture hostctl was built for, as image configs and
/// platform descriptors spell it (`amd64`, `arm64`, ...).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_CONFIG: &str = r#"{"architecture":"amd64","config":{"Hostname":"","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"Entrypoint":null,"Labels":null,"ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"WorkingDir":"/w","User":"1000:1000","OnBuild":null},"container_config":{"Cmd":["/bin/sh"]},"created":"2024-02-29T12:34:56.5Z","docker_version":"20.10.23","history":[{"created":"2024-02-29T12:34:56Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},{"created":"2024-02-29T12:34:56Z","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"]}}"#;

    #[test]
    fn parses_a_docker_config_and_keeps_its_bytes() {
        let c = ImageConfig::parse(DOCKER_CONFIG.as_bytes().to_vec()).unwrap();
        assert_eq!(c.raw(), DOCKER_CONFIG.as_bytes());
        assert_eq!(c.id(), Digest::of_bytes(DOCKER_CONFIG.as_bytes()));
        let doc = c.document();
        assert_eq!(
            (doc.architecture.as_str(), doc.os.as_str()),
            ("amd64", "linux")
        );
        let cc = c.container_config();
        assert_eq!(cc.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(cc.entrypoint, None);
        assert_eq!(cc.working_dir.as_deref(), Some("/w"));
        assert_eq!(cc.user.as_deref(), Some("1000:1000"));
        assert!(cc.exposed_ports.unwrap().contains_key("80/tcp"));
        assert!(cc.volumes.unwrap().contains_key("/data"));
        assert_eq!(c.diff_ids().len(), 1);
        assert_eq!(c.chain_id(), Some(c.diff_ids()[0]));
        assert_eq!(doc.history.len(), 2);
        assert!(doc.history[1].empty_layer);
        assert!(c.created().is_some());
    }

    #[test]
    fn accepts_null_history_and_missing_config() {
        let raw = br#"{"architecture":"arm64","os":"linux","history":null,"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageConfig::parse(raw.to_vec()).unwrap();
        assert_eq!(c.container_config(), ContainerConfig::default());
        assert_eq!(c.chain_id(), None);
    }

    #[test]
    fn refuses_a_rootfs_that_is_not_layers() {
        let raw = br#"{"os":"linux","rootfs":{"type":"squashfs","diff_ids":[]}}"#;
        let e = ImageConfig::parse(raw.to_vec()).unwrap_err();
        assert!(
            matches!(e, ConfigError::RootFsType { ref found, .. } if found == "squashfs"),
            "{e}"
        );
        assert!(e.to_string().contains("expected \"layers\""), "{e}");
    }

    #[test]
    fn refuses_bad_diff_ids_and_non_json() {
        let raw = br#"{"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:nothex"]}}"#;
        let e = ImageConfig::parse(raw.to_vec()).unwrap_err();
        assert!(e.to_string().contains("sha256:nothex"), "{e}");
        let e = ImageConfig::parse(b"not json".to_vec()).unwrap_err();
        assert!(matches!(e, ConfigError::Json { .. }), "{e}");
        let e = ImageConfig::parse(br#"{"os":"linux"}"#.to_vec()).unwrap_err();
        assert!(e.to_string().contains("rootfs"), "{e}");
    }

    #[test]
    fn host_architecture_uses_go_names() {
        let arch = host_architecture();
        assert!(!arch.contains('_'), "{arch}");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(arch, "amd64");
        }
    }
}
