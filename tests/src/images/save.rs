//! Image archives as `docker save` and OCI tools write them, from [`ImageSpec`]s:
//!
//! - [`docker_save`] with [`SaveLayout::Legacy`] (Docker < 25): `<v1id>/layer.tar`,
//!   `<v1id>/VERSION`, `<v1id>/json`, `<image id>.json`, `manifest.json`, `repositories`;
//! - [`docker_save`] with [`SaveLayout::Docker25`]: OCI blobs under `blobs/sha256/`,
//!   `index.json`, `oci-layout`, and a `manifest.json` pointing at the blobs;
//! - [`docker_save_dot_slash`]: either, its entries named `./…` (a save re-packed with
//!   `tar -C dir -cf out.tar .`), the paths in `manifest.json` still bare;
//! - [`oci_layout`]: an OCI image layout (index.json -> manifest, or -> a per-platform
//!   index -> manifest; config and layers as blobs, gzip or plain).
//!
//! Layers shared between images are written once, as the real tools do.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::{
    digest, hex_of,
    layer::Compression,
    spec::{BuiltImage, CREATED, ImageSpec, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, go_arch},
    tarw::{self, Raw},
};

/// Which `docker save` generation to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveLayout {
    /// Docker < 25.
    Legacy,
    /// Docker ≥ 25 (OCI layout plus manifest.json).
    Docker25,
}

/// How an OCI layout names its images in `index.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OciNaming {
    /// `io.containerd.image.name: <name:tag as given>` and `org.opencontainers.image.ref.name: <tag>`
    /// (what `ctr export` and Docker ≥ 25 write).
    #[default]
    Containerd,
    /// Only `org.opencontainers.image.ref.name: <name:tag>`.
    RefNameFull,
    /// Only `org.opencontainers.image.ref.name: <tag>` (skopeo's usual form; names nothing).
    RefNameTagOnly,
}

/// Options for [`oci_layout_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OciOptions {
    pub naming: OciNaming,
    /// Put each manifest behind an image index with a `platform` (linux/this arch), as a
    /// multi-platform image saved for one platform looks.
    pub nested_index: bool,
    /// Write entry names as `./blobs/...`.
    pub dot_slash: bool,
}

/// An outer archive: entries written once each, names verbatim.
pub(crate) struct Outer {
    builder: tar::Builder<Vec<u8>>,
    written: HashSet<String>,
    prefix: &'static str,
}

impl Outer {
    pub fn new(dot_slash: bool) -> Outer {
        let mut outer = Outer {
            builder: tar::Builder::new(Vec::new()),
            written: HashSet::new(),
            prefix: if dot_slash { "./" } else { "" },
        };
        if dot_slash {
            outer.dir("");
        }
        outer
    }

    pub fn dir(&mut self, name: &str) {
        let name = format!("{}{name}", self.prefix);
        if self.written.insert(name.clone()) {
            tarw::append(&mut self.builder, &Raw::dir(&name));
        }
    }

    pub fn file(&mut self, name: &str, data: &[u8]) {
        let name = format!("{}{name}", self.prefix);
        if self.written.insert(name.clone()) {
            tarw::append(&mut self.builder, &Raw::file(&name, data));
        }
    }

    /// An entry exactly as given (no prefix, no de-duplication).
    pub fn raw(&mut self, entry: &Raw<'_>) {
        tarw::append(&mut self.builder, entry);
    }

    pub fn finish(self) -> Vec<u8> {
        tarw::finish(self.builder)
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

/// `(name, tag)` of `name[:tag]`.
pub(crate) fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, "latest"),
    }
}

/// Docker's fully qualified form: `busybox:latest` -> `docker.io/library/busybox:latest`.
fn docker_full_name(reference: &str) -> String {
    let (name, tag) = split_tag(reference);
    let first = name.split('/').next().unwrap_or_default();
    let has_domain = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match (has_domain, name.contains('/')) {
        (true, _) => format!("{name}:{tag}"),
        (false, true) => format!("docker.io/{name}:{tag}"),
        (false, false) => format!("docker.io/library/{name}:{tag}"),
    }
}

/// A `docker save` archive of `images`.
pub fn docker_save(images: &[ImageSpec], layout: SaveLayout) -> Vec<u8> {
    save(images, layout, false)
}

/// A `docker save` archive of `images` whose entry names start with `./`.
pub fn docker_save_dot_slash(images: &[ImageSpec], layout: SaveLayout) -> Vec<u8> {
    save(images, layout, true)
}

fn save(images: &[ImageSpec], layout: SaveLayout, dot_slash: bool) -> Vec<u8> {
    // docker save writes layers uncompressed.
    let built: Vec<BuiltImage> = images
        .iter()
        .map(|s| s.clone().compression(Compression::None).build())
        .collect();
    match layout {
        SaveLayout::Legacy => legacy(&built, Outer::new(dot_slash)),
        SaveLayout::Docker25 => docker25(&built, Outer::new(dot_slash)),
    }
}

fn legacy(images: &[BuiltImage], mut out: Outer) -> Vec<u8> {
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in images {
        let mut parent = String::new();
        let mut layer_paths = Vec::new();
        for layer in &image.layers {
            // Docker derives v1 IDs from the layer stack; any stable function of it will do.
            let v1 = hex_of(format!("{parent} {}", layer.diff_id).as_bytes());
            let mut v1_json = json!({"id": v1, "created": CREATED, "container_config": {"Cmd": null}, "os": "linux"});
            if !parent.is_empty() {
                v1_json["parent"] = json!(parent);
            }
            out.dir(&format!("{v1}/"));
            out.file(&format!("{v1}/VERSION"), b"1.0");
            out.file(&format!("{v1}/json"), &json_bytes(&v1_json));
            out.file(&format!("{v1}/layer.tar"), &layer.tar);
            layer_paths.push(format!("{v1}/layer.tar"));
            parent = v1;
        }
        let config_name = format!("{}.json", &image.id["sha256:".len()..]);
        out.file(&config_name, &image.config);
        let tags = if image.repo_tags.is_empty() { Value::Null } else { json!(image.repo_tags) };
        manifest.push(json!({"Config": config_name, "RepoTags": tags, "Layers": layer_paths}));
        for reference in &image.repo_tags {
            let (name, tag) = split_tag(reference);
            repositories.entry(name.to_string()).or_default().insert(tag.to_string(), parent.clone());
        }
    }
    out.file("manifest.json", &json_bytes(&json!(manifest)));
    if !repositories.is_empty() {
        out.file("repositories", &json_bytes(&json!(repositories)));
    }
    out.finish()
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", &digest["sha256:".len()..])
}

fn docker25(images: &[BuiltImage], mut out: Outer) -> Vec<u8> {
    out.dir("blobs/");
    out.dir("blobs/sha256/");
    let mut manifest = Vec::new();
    let mut index = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for image in images {
        for layer in &image.layers {
            out.file(&blob_path(&layer.blob_digest), &layer.blob);
        }
        out.file(&blob_path(&image.id), &image.config);
        out.file(&blob_path(&image.manifest_digest), &image.manifest);
        let descriptor = json!({"mediaType": MEDIA_TYPE_MANIFEST, "digest": image.manifest_digest, "size": image.manifest.len()});
        if image.repo_tags.is_empty() {
            index.push(descriptor.clone());
        }
        for reference in &image.repo_tags {
            let mut d = descriptor.clone();
            let (name, tag) = split_tag(reference);
            d["annotations"] = json!({
                "io.containerd.image.name": docker_full_name(reference),
                "org.opencontainers.image.ref.name": tag,
            });
            index.push(d);
            let top = image.layers.last().map(|l| l.diff_id["sha256:".len()..].to_string()).unwrap_or_default();
            repositories.entry(name.to_string()).or_default().insert(tag.to_string(), top);
        }
        let tags = if image.repo_tags.is_empty() { Value::Null } else { json!(image.repo_tags) };
        let layers: Vec<String> = image.layers.iter().map(|l| blob_path(&l.blob_digest)).collect();
        manifest.push(json!({"Config": blob_path(&image.id), "RepoTags": tags, "Layers": layers}));
    }
    out.file(
        "index.json",
        &json_bytes(&json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": index})),
    );
    out.file("manifest.json", &json_bytes(&json!(manifest)));
    out.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    if !repositories.is_empty() {
        out.file("repositories", &json_bytes(&json!(repositories)));
    }
    out.finish()
}

/// An OCI image layout of `images`, named the containerd way, layers compressed as each
/// spec says.
pub fn oci_layout(images: &[ImageSpec]) -> Vec<u8> {
    oci_layout_with(images, OciOptions::default())
}

pub fn oci_layout_with(images: &[ImageSpec], options: OciOptions) -> Vec<u8> {
    let mut out = Outer::new(options.dot_slash);
    out.dir("blobs/");
    out.dir("blobs/sha256/");
    let mut index = Vec::new();
    for spec in images {
        let image = spec.build();
        for layer in &image.layers {
            out.file(&blob_path(&layer.blob_digest), &layer.blob);
        }
        out.file(&blob_path(&image.id), &image.config);
        out.file(&blob_path(&image.manifest_digest), &image.manifest);
        let manifest_desc = json!({"mediaType": MEDIA_TYPE_MANIFEST, "digest": image.manifest_digest, "size": image.manifest.len()});
        let descriptor = if options.nested_index {
            let mut platform_desc = manifest_desc.clone();
            platform_desc["platform"] = json!({"os": "linux", "architecture": go_arch()});
            let nested = json_bytes(&json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [platform_desc]}));
            out.file(&blob_path(&digest(&nested)), &nested);
            json!({"mediaType": MEDIA_TYPE_INDEX, "digest": digest(&nested), "size": nested.len()})
        } else {
            manifest_desc
        };
        if image.repo_tags.is_empty() {
            index.push(descriptor.clone());
        }
        for reference in &image.repo_tags {
            let (_, tag) = split_tag(reference);
            let mut d = descriptor.clone();
            d["annotations"] = match options.naming {
                OciNaming::Containerd => json!({
                    "io.containerd.image.name": reference,
                    "org.opencontainers.image.ref.name": tag,
                }),
                OciNaming::RefNameFull => json!({"org.opencontainers.image.ref.name": reference}),
                OciNaming::RefNameTagOnly => json!({"org.opencontainers.image.ref.name": tag}),
            };
            index.push(d);
        }
    }
    out.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    out.file(
        "index.json",
        &json_bytes(&json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": index})),
    );
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::layer::Layer;
    use std::{collections::HashMap, io::Read};

    /// name -> content of every regular file; symlinks as "-> target".
    fn files(archive_bytes: &[u8]) -> HashMap<String, Vec<u8>> {
        let mut archive = tar::Archive::new(archive_bytes);
        let mut out = HashMap::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.insert(name.trim_start_matches("./").to_string(), data);
        }
        out
    }

    fn json_of(files: &HashMap<String, Vec<u8>>, name: &str) -> Value {
        serde_json::from_slice(&files[name]).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn two_images() -> Vec<ImageSpec> {
        let base = Layer::new().file("etc/hostname", "base\n");
        vec![
            ImageSpec::new("base:1").tag("base:latest").layer(base.clone()),
            ImageSpec::new("localhost:5000/app:v2").layer(base).layer(Layer::new().file("app", "x")),
        ]
    }

    /// Every blob named by digest holds content with that digest.
    fn assert_blobs_match_names(files: &HashMap<String, Vec<u8>>) {
        let mut n = 0;
        for (name, data) in files {
            if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                assert_eq!(hex_of(data), hex, "{name}");
                n += 1;
            }
        }
        assert!(n > 0);
    }

    #[test]
    fn legacy_save_has_configs_layers_and_tags_docker_would_write() {
        let specs = two_images();
        let files = files(&docker_save(&specs, SaveLayout::Legacy));
        let manifest = json_of(&files, "manifest.json");
        assert_eq!(manifest.as_array().unwrap().len(), 2);
        for (entry, spec) in manifest.as_array().unwrap().iter().zip(&specs) {
            let built = spec.build();
            let config_name = entry["Config"].as_str().unwrap();
            assert_eq!(format!("sha256:{}", config_name.trim_end_matches(".json")), built.id);
            assert_eq!(digest(&files[config_name]), built.id);
            assert_eq!(entry["RepoTags"], json!(spec.repo_tags));
            let config = json_of(&files, config_name);
            let layers = entry["Layers"].as_array().unwrap();
            for (path, diff_id) in layers.iter().zip(config["rootfs"]["diff_ids"].as_array().unwrap()) {
                let path = path.as_str().unwrap();
                assert!(path.ends_with("/layer.tar"));
                assert_eq!(json!(digest(&files[path])), *diff_id);
                let dir = path.trim_end_matches("layer.tar");
                assert_eq!(files[&format!("{dir}VERSION")], b"1.0");
            }
        }
        // The shared base layer is written once and both images point at it.
        assert_eq!(manifest[0]["Layers"][0], manifest[1]["Layers"][0]);
        let repositories = json_of(&files, "repositories");
        assert!(repositories["base"]["latest"].is_string());
        assert!(repositories["localhost:5000/app"]["v2"].is_string());
    }

    #[test]
    fn docker25_save_has_oci_blobs_index_and_manifest_json() {
        let specs = two_images();
        let files = files(&docker_save(&specs, SaveLayout::Docker25));
        assert_blobs_match_names(&files);
        assert_eq!(json_of(&files, "oci-layout")["imageLayoutVersion"], "1.0.0");
        let index = json_of(&files, "index.json");
        let descs = index["manifests"].as_array().unwrap();
        assert_eq!(descs.len(), 3, "one descriptor per tag");
        assert_eq!(descs[0]["annotations"]["io.containerd.image.name"], "docker.io/library/base:1");
        assert_eq!(descs[2]["annotations"]["io.containerd.image.name"], "localhost:5000/app:v2");
        assert_eq!(descs[2]["annotations"]["org.opencontainers.image.ref.name"], "v2");
        let manifest = json_of(&files, "manifest.json");
        for (entry, spec) in manifest.as_array().unwrap().iter().zip(&specs) {
            let built = spec.build();
            assert_eq!(entry["Config"], json!(blob_path(&built.id)));
            for (path, layer) in entry["Layers"].as_array().unwrap().iter().zip(&built.layers) {
                assert_eq!(files[path.as_str().unwrap()], layer.tar);
            }
        }
    }

    #[test]
    fn dot_slash_saves_prefix_every_entry_but_not_the_manifest_paths() {
        for layout in [SaveLayout::Legacy, SaveLayout::Docker25] {
            let bytes = docker_save_dot_slash(&two_images(), layout);
            let mut archive = tar::Archive::new(&bytes[..]);
            let names: Vec<String> = archive
                .entries()
                .unwrap()
                .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
                .collect();
            assert!(names.iter().all(|n| n.starts_with("./")), "{layout:?}: {names:?}");
            let plain = files(&docker_save(&two_images(), layout));
            let prefixed = files(&bytes);
            assert_eq!(prefixed.get("manifest.json"), plain.get("manifest.json"), "{layout:?}");
            assert_eq!(
                prefixed.keys().filter(|k| !k.is_empty()).collect::<std::collections::BTreeSet<_>>(),
                plain.keys().collect(),
                "{layout:?}: the same entries"
            );
        }
    }

    #[test]
    fn oci_layout_blobs_resolve_from_the_index_and_decompress_to_diff_ids() {
        let specs: Vec<ImageSpec> = two_images().into_iter().map(|s| s.compression(Compression::Gzip)).collect();
        for nested in [false, true] {
            let options = OciOptions { nested_index: nested, dot_slash: nested, ..Default::default() };
            let files = files(&oci_layout_with(&specs, options));
            assert_blobs_match_names(&files);
            let index = json_of(&files, "index.json");
            let first = &index["manifests"][0];
            assert_eq!(first["annotations"]["io.containerd.image.name"], "base:1");
            let mut desc = first.clone();
            if nested {
                assert_eq!(desc["mediaType"], MEDIA_TYPE_INDEX);
                let inner = json_of(&files, &blob_path(desc["digest"].as_str().unwrap()));
                desc = inner["manifests"][0].clone();
                assert_eq!(desc["platform"]["architecture"], go_arch());
            }
            let manifest = json_of(&files, &blob_path(desc["digest"].as_str().unwrap()));
            let config = json_of(&files, &blob_path(manifest["config"]["digest"].as_str().unwrap()));
            for (layer, diff_id) in manifest["layers"].as_array().unwrap().iter().zip(config["rootfs"]["diff_ids"].as_array().unwrap()) {
                let blob = &files[&blob_path(layer["digest"].as_str().unwrap())];
                let mut tar = Vec::new();
                flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).unwrap();
                assert_eq!(json!(digest(&tar)), *diff_id);
            }
        }
    }

    #[test]
    fn oci_naming_variants() {
        let spec = [ImageSpec::new("busybox:1.36").layer(Layer::new().file("a", "b"))];
        let index = |naming| {
            let files = files(&oci_layout_with(&spec, OciOptions { naming, ..Default::default() }));
            json_of(&files, "index.json")["manifests"][0]["annotations"].clone()
        };
        assert_eq!(index(OciNaming::RefNameFull), json!({"org.opencontainers.image.ref.name": "busybox:1.36"}));
        assert_eq!(index(OciNaming::RefNameTagOnly), json!({"org.opencontainers.image.ref.name": "1.36"}));
    }

    #[test]
    fn full_names_follow_docker() {
        assert_eq!(docker_full_name("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(docker_full_name("team/app:1"), "docker.io/team/app:1");
        assert_eq!(docker_full_name("localhost:5000/app:1"), "localhost:5000/app:1");
        assert_eq!(split_tag("localhost:5000/app"), ("localhost:5000/app", "latest"));
    }
}
