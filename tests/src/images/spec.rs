//! [`ImageSpec`]: an image to build (tags, layers, run-time config) and [`BuiltImage`],
//! the result with every byte and digest computed: layer tars and blobs, their DiffIDs,
//! the config JSON (whose sha256 is the image ID) and the OCI manifest. The archive
//! writers in `save` lay these out; tests compare what a loader reports with them.

use serde_json::{Value, json};

use super::{
    busybox::busybox_rootfs,
    digest,
    layer::{Compression, Layer},
};

/// The PATH Docker gives images.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The `created` every test image carries (the same instant as the tar mtimes).
pub const CREATED: &str = "2023-11-14T22:13:20Z";

pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An image to build.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// `name:tag` strings, as `docker save` writes them in `RepoTags`.
    pub repo_tags: Vec<String>,
    /// Bottom first.
    pub layers: Vec<Layer>,
    /// How layer blobs are compressed in OCI layouts (`docker save` always writes tars).
    pub compression: Compression,
    /// The `config` object (Docker's capitalised keys).
    pub config: Value,
    pub architecture: String,
    /// When set, written as `rootfs.diff_ids` instead of the real ones (hostile images).
    pub diff_ids_override: Option<Vec<String>>,
}

impl ImageSpec {
    /// An image tagged `tag` (e.g. `busybox:latest`), no layers yet, `Env` PATH and `Cmd ["sh"]`.
    pub fn new(tag: &str) -> ImageSpec {
        ImageSpec {
            repo_tags: vec![tag.to_string()],
            ..ImageSpec::untagged()
        }
    }

    /// An image without tags (it loads dangling).
    pub fn untagged() -> ImageSpec {
        ImageSpec {
            repo_tags: Vec::new(),
            layers: Vec::new(),
            compression: Compression::None,
            config: json!({"Env": [DEFAULT_PATH], "Cmd": ["sh"]}),
            architecture: go_arch().to_string(),
            diff_ids_override: None,
        }
    }

    /// The busybox rootfs as one layer, tagged `tag`.
    pub fn busybox(tag: &str) -> ImageSpec {
        ImageSpec::new(tag).layer(busybox_rootfs())
    }

    pub fn tag(mut self, tag: &str) -> ImageSpec {
        self.repo_tags.push(tag.to_string());
        self
    }

    pub fn layer(mut self, layer: Layer) -> ImageSpec {
        self.layers.push(layer);
        self
    }

    pub fn compression(mut self, compression: Compression) -> ImageSpec {
        self.compression = compression;
        self
    }

    /// Sets one key of the `config` object (`"Cmd"`, `"Entrypoint"`, `"WorkingDir"`, ...).
    pub fn config(mut self, key: &str, value: Value) -> ImageSpec {
        self.config[key] = value;
        self
    }

    pub fn cmd(self, cmd: &[&str]) -> ImageSpec {
        self.config("Cmd", json!(cmd))
    }

    pub fn entrypoint(self, entrypoint: &[&str]) -> ImageSpec {
        self.config("Entrypoint", json!(entrypoint))
    }

    /// Adds `KEY=value` to `Env`.
    pub fn env(mut self, entry: &str) -> ImageSpec {
        let env = self.config["Env"].as_array_mut().expect("Env is a list");
        env.push(json!(entry));
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> ImageSpec {
        if !self.config["Labels"].is_object() {
            self.config["Labels"] = json!({});
        }
        self.config["Labels"][key] = json!(value);
        self
    }

    /// Computes every blob and digest.
    pub fn build(&self) -> BuiltImage {
        let layers: Vec<BuiltLayer> = self
            .layers
            .iter()
            .map(|l| {
                let tar = l.tar();
                let blob = match self.compression {
                    Compression::None => tar.clone(),
                    Compression::Gzip => super::layer::gzip(&tar),
                };
                BuiltLayer {
                    diff_id: digest(&tar),
                    blob_digest: digest(&blob),
                    media_type: self.compression.oci_media_type(),
                    tar,
                    blob,
                }
            })
            .collect();
        let diff_ids = self
            .diff_ids_override
            .clone()
            .unwrap_or_else(|| layers.iter().map(|l| l.diff_id.clone()).collect());
        let history: Vec<Value> = layers
            .iter()
            .enumerate()
            .map(|(i, _)| json!({"created": CREATED, "created_by": format!("hostctl-tests layer {i}")}))
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": self.architecture,
            "config": self.config,
            "created": CREATED,
            "history": history,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("json");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": {"mediaType": MEDIA_TYPE_CONFIG, "digest": digest(&config), "size": config.len()},
            "layers": layers.iter().map(|l| json!({"mediaType": l.media_type, "digest": l.blob_digest, "size": l.blob.len()})).collect::<Vec<_>>(),
        }))
        .expect("json");
        BuiltImage {
            id: digest(&config),
            manifest_digest: digest(&manifest),
            config,
            manifest,
            layers,
            repo_tags: self.repo_tags.clone(),
        }
    }
}

/// An image with every byte computed.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// `sha256:<hex>` of `config`: what `hostctl images --no-trunc` shows as the ID.
    pub id: String,
    pub config: Vec<u8>,
    /// The OCI manifest (layer blobs as compressed by the spec).
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub layers: Vec<BuiltLayer>,
    pub repo_tags: Vec<String>,
}

impl BuiltImage {
    /// The 12-hex-character ID, as `hostctl images` shows it.
    pub fn short_id(&self) -> &str {
        &self.id["sha256:".len().."sha256:".len() + 12]
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }
}

/// One layer of a [`BuiltImage`].
#[derive(Debug, Clone)]
pub struct BuiltLayer {
    /// The uncompressed tar.
    pub tar: Vec<u8>,
    /// As stored in an OCI layout (compressed or not).
    pub blob: Vec<u8>,
    /// `sha256:` of `tar`.
    pub diff_id: String,
    /// `sha256:` of `blob`.
    pub blob_digest: String,
    pub media_type: &'static str,
}

/// The GOARCH name of the architecture the tests run on, as image configs spell it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_image_digests_are_right() {
        let image = ImageSpec::new("t:1")
            .layer(Layer::new().file("a", "1"))
            .layer(Layer::new().file("b", "2"))
            .compression(Compression::Gzip)
            .cmd(&["echo", "hi"])
            .env("A=1")
            .label("k", "v")
            .build();
        assert_eq!(image.id, digest(&image.config));
        assert_eq!(image.manifest_digest, digest(&image.manifest));
        let config: Value = serde_json::from_slice(&image.config).unwrap();
        assert_eq!(config["rootfs"]["type"], "layers");
        assert_eq!(config["rootfs"]["diff_ids"], json!(image.diff_ids()));
        assert_eq!(config["config"]["Cmd"], json!(["echo", "hi"]));
        assert_eq!(config["config"]["Env"], json!([DEFAULT_PATH, "A=1"]));
        assert_eq!(config["config"]["Labels"]["k"], "v");
        assert_eq!(config["architecture"], go_arch());
        let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(manifest["config"]["digest"], json!(image.id));
        for (l, desc) in image.layers.iter().zip(manifest["layers"].as_array().unwrap()) {
            assert_eq!(l.diff_id, digest(&l.tar));
            assert_eq!(desc["digest"], json!(digest(&l.blob)));
            assert_eq!(desc["size"], json!(l.blob.len()));
            assert_eq!(desc["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
            assert_ne!(l.blob, l.tar);
        }
        assert_eq!(image.short_id().len(), 12);
    }
}
