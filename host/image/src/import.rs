//! The config `hostctl import` writes for a rootfs tar, as `docker import` does: one layer,
//! `os: linux`, the architecture hostctl was built for, `created` now, one history entry
//! (`created_by: "hostctl import"`, `comment: "Imported from <source>"`), `Env` with
//! Docker's default PATH, then any `--change` instructions on top.

use std::time::SystemTime;

use crate::{
    change::Change,
    config::{
        ConfigDocument, ContainerConfig, DEFAULT_PATH_ENV, History, ImageConfig,
        ROOTFS_TYPE_LAYERS, RootFs, host_architecture,
    },
    digest::Digest,
    timestamp::format_rfc3339,
};

/// Builds the config of an imported single-layer image.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    diff_id: Digest,
    source: String,
    message: Option<String>,
    created: SystemTime,
    architecture: String,
    config: ContainerConfig,
}

impl ImportConfig {
    /// A config for the layer with this DiffID, imported from stdin (`-`), created now.
    pub fn new(diff_id: Digest) -> ImportConfig {
        ImportConfig {
            diff_id,
            source: "-".to_string(),
            message: None,
            created: SystemTime::now(),
            architecture: host_architecture().to_string(),
            config: ContainerConfig {
                env: Some(vec![DEFAULT_PATH_ENV.to_string()]),
                ..Default::default()
            },
        }
    }

    /// Where the tar came from (a path, a URL, `-`), for the history comment.
    pub fn source(mut self, source: &str) -> ImportConfig {
        self.source = source.to_string();
        self
    }

    /// `--message`: replaces the history comment.
    pub fn message(mut self, message: &str) -> ImportConfig {
        self.message = Some(message.to_string());
        self
    }

    pub fn created(mut self, created: SystemTime) -> ImportConfig {
        self.created = created;
        self
    }

    /// `--platform`'s architecture (GOARCH spelling); defaults to the build target's.
    pub fn architecture(mut self, architecture: &str) -> ImportConfig {
        self.architecture = architecture.to_string();
        self
    }

    /// Applies one `--change`.
    pub fn change(mut self, change: &Change) -> ImportConfig {
        change.apply(&mut self.config);
        self
    }

    /// The config: its bytes (whose sha256 is the new image's ID) and parsed view.
    pub fn build(&self) -> ImageConfig {
        let created = format_rfc3339(self.created);
        let comment = self
            .message
            .clone()
            .unwrap_or_else(|| format!("Imported from {}", self.source));
        let document = ConfigDocument {
            architecture: self.architecture.clone(),
            config: Some(self.config.clone()),
            created: Some(created.clone()),
            author: None,
            history: vec![History {
                created: Some(created),
                created_by: Some("hostctl import".to_string()),
                comment: Some(comment),
                ..Default::default()
            }],
            os: "linux".to_string(),
            variant: None,
            rootfs: RootFs {
                kind: ROOTFS_TYPE_LAYERS.to_string(),
                diff_ids: vec![self.diff_id],
            },
        };
        ImageConfig::from_document(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn builds_a_config_like_docker_import() {
        let diff_id = Digest::of_bytes(b"layer");
        let config = ImportConfig::new(diff_id)
            .source("rootfs.tar")
            .created(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .change(&"CMD [\"sh\"]".parse().unwrap())
            .build();
        let json: serde_json::Value = serde_json::from_slice(config.raw()).unwrap();
        assert_eq!(json["os"], "linux");
        assert_eq!(json["architecture"], host_architecture());
        assert_eq!(json["created"], "2023-11-14T22:13:20Z");
        assert_eq!(json["config"]["Env"][0], DEFAULT_PATH_ENV);
        assert_eq!(json["config"]["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(
            json["rootfs"],
            serde_json::json!({"type": "layers", "diff_ids": [diff_id.to_string()]})
        );
        assert_eq!(
            json["history"],
            serde_json::json!([{"created": "2023-11-14T22:13:20Z", "created_by": "hostctl import", "comment": "Imported from rootfs.tar"}])
        );
        assert_eq!(config.id(), Digest::of_bytes(config.raw()));
        let reparsed = ImageConfig::parse(config.raw().to_vec()).unwrap();
        assert_eq!(reparsed, config);
    }

    #[test]
    fn message_replaces_the_comment_and_env_change_overrides_path() {
        let config = ImportConfig::new(Digest::of_bytes(b""))
            .message("base image")
            .change(&"ENV PATH=/bin".parse().unwrap())
            .build();
        let doc = config.document();
        assert_eq!(doc.history[0].comment.as_deref(), Some("base image"));
        assert_eq!(
            config.container_config().env,
            Some(vec!["PATH=/bin".to_string()])
        );
    }
}
