//! Archive loading against real tars built here: every layout loads, every hostile or
//! damaged archive is refused with the error that names its fault.

use std::io::Write;

use flate2::{Compression as Level, write::GzEncoder};
use serde_json::json;

use super::*;
use crate::config::host_architecture;
use crate::tarstream::tests::random as noise;

enum E {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
}

fn file(name: &str, data: impl Into<Vec<u8>>) -> E {
    E::File(name.to_string(), data.into())
}

/// An outer tar, names written verbatim (so hostile names can be built).
fn outer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, data, link): (&str, &[u8], &str) = match e {
            E::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                (n, d, "")
            }
            E::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                (n, &[], "")
            }
            E::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                (n, &[], t)
            }
            E::Hardlink(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                (n, &[], t)
            }
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Level::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    Digest::of_bytes(bytes).hex()
}

/// An image: layer tars (uncompressed) and its config.
struct Img {
    layers: Vec<Vec<u8>>,
    config: Vec<u8>,
}

fn img(layers: Vec<Vec<u8>>) -> Img {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| Digest::of_bytes(l).to_string())
        .collect();
    let config = json!({
        "architecture": host_architecture(), "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    Img {
        layers,
        config: serde_json::to_vec(&config).unwrap(),
    }
}

fn two_layer() -> Img {
    img(vec![
        layer_tar(&[("etc/hostname", "base\n")]),
        layer_tar(&[("added.txt", "added\n")]),
    ])
}

/// Legacy docker save: `<id>.json`, `<layer>/layer.tar`.
fn legacy(image: &Img, tags: &[&str], prefix: &str) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut layer_paths = Vec::new();
    for (i, l) in image.layers.iter().enumerate() {
        let id = hex(format!("v1 id {i}").as_bytes());
        entries.push(E::Dir(format!("{prefix}{id}/")));
        entries.push(file(&format!("{prefix}{id}/VERSION"), "1.0"));
        entries.push(file(&format!("{prefix}{id}/layer.tar"), l.clone()));
        layer_paths.push(format!("{id}/layer.tar"));
    }
    let config_name = format!("{}.json", hex(&image.config));
    entries.push(file(
        &format!("{prefix}{config_name}"),
        image.config.clone(),
    ));
    let manifest = json!([{"Config": config_name, "RepoTags": tags, "Layers": layer_paths}]);
    entries.push(file(
        &format!("{prefix}manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    outer(&entries)
}

/// The blobs, manifest and index.json entry of an OCI image.
fn oci_parts(image: &Img, gz: bool, annotations: serde_json::Value) -> (Vec<E>, serde_json::Value) {
    oci_parts_with(image, gz, annotations, |_| {})
}

/// As [`oci_parts`], letting `edit` change each layer descriptor first.
fn oci_parts_with(
    image: &Img,
    gz: bool,
    annotations: serde_json::Value,
    edit: impl Fn(&mut serde_json::Value),
) -> (Vec<E>, serde_json::Value) {
    let mut entries = Vec::new();
    let mut layer_descs = Vec::new();
    for l in &image.layers {
        let blob = if gz { gzip(l) } else { l.clone() };
        let mt = if gz {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        } else {
            "application/vnd.oci.image.layer.v1.tar"
        };
        let mut desc = json!({"mediaType": mt, "digest": format!("sha256:{}", hex(&blob)), "size": blob.len()});
        edit(&mut desc);
        layer_descs.push(desc);
        entries.push(file(&format!("blobs/sha256/{}", hex(&blob)), blob));
    }
    entries.push(file(
        &format!("blobs/sha256/{}", hex(&image.config)),
        image.config.clone(),
    ));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", hex(&image.config)), "size": image.config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let desc = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", hex(&manifest)), "size": manifest.len(),
        "annotations": annotations,
    });
    entries.push(file(&format!("blobs/sha256/{}", hex(&manifest)), manifest));
    (entries, desc)
}

fn oci(image: &Img, gz: bool, annotations: serde_json::Value) -> Vec<u8> {
    let (mut entries, desc) = oci_parts(image, gz, annotations);
    entries.push(file("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#));
    entries.push(file(
        "index.json",
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap(),
    ));
    outer(&entries)
}

/// Docker ≥ 25: OCI blobs plus a manifest.json pointing at them.
fn docker25(image: &Img, manifest_tag: &str, index_name: &str) -> Vec<u8> {
    let (mut entries, desc) = oci_parts(
        image,
        false,
        json!({"io.containerd.image.name": index_name}),
    );
    let layers: Vec<String> = image
        .layers
        .iter()
        .map(|l| format!("blobs/sha256/{}", hex(l)))
        .collect();
    let manifest = json!([{"Config": format!("blobs/sha256/{}", hex(&image.config)), "RepoTags": [manifest_tag], "Layers": layers}]);
    entries.push(file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    entries.push(file("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#));
    entries.push(file(
        "index.json",
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap(),
    ));
    outer(&entries)
}

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path()).unwrap();
    (dir, store)
}

fn load(store: &BlobStore, bytes: &[u8]) -> Result<Staging, ArchiveError> {
    Staging::read(store, bytes)
}

fn tmp_is_empty(store: &BlobStore) -> bool {
    std::fs::read_dir(store.tmp_dir()).unwrap().next().is_none()
}

fn tags(image: &ArchiveImage) -> Vec<String> {
    image.repo_tags.iter().map(|r| r.to_string()).collect()
}

fn assert_two_layer(image: &ArchiveImage, want: &Img) {
    assert_eq!(image.config.raw(), want.config.as_slice());
    assert_eq!(image.config.id(), Digest::of_bytes(&want.config));
    let diff_ids: Vec<Digest> = want.layers.iter().map(|l| Digest::of_bytes(l)).collect();
    assert_eq!(
        image.layers.iter().map(|l| l.diff_id).collect::<Vec<_>>(),
        diff_ids
    );
    assert_eq!(image.config.diff_ids(), diff_ids.as_slice());
}

#[test]
fn legacy_docker_save_loads_and_commits() {
    let (_d, s) = store();
    let want = two_layer();
    let staging = load(&s, &legacy(&want, &["busybox:latest", "busybox:1"], "")).unwrap();
    let [image] = staging.images() else {
        panic!("one image expected")
    };
    assert_two_layer(image, &want);
    assert_eq!(tags(image), ["busybox:latest", "busybox:1"]);
    assert!(
        image
            .layers
            .iter()
            .all(|l| l.compression == Compression::None && l.digest == l.diff_id)
    );
    assert_eq!(
        image.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(image.layers[1].size, want.layers[1].len() as u64);
    let committed = staging.commit(&s).unwrap();
    assert_eq!(committed.added.len(), 3);
    for d in &committed.added {
        assert!(s.contains(d));
    }
    assert!(s.contains(&Digest::of_bytes(&want.config)));
    assert!(tmp_is_empty(&s), "staging removed after commit");
    let again = load(&s, &legacy(&want, &["busybox:latest"], ""))
        .unwrap()
        .commit(&s)
        .unwrap();
    assert!(again.added.is_empty(), "nothing new the second time");
}

#[test]
fn dot_slash_entry_names_load_the_same() {
    let (_d, s) = store();
    let want = two_layer();
    let staging = load(&s, &legacy(&want, &["busybox:latest"], "./")).unwrap();
    assert_two_layer(&staging.images()[0], &want);
}

#[test]
fn legacy_symlinked_layer_resolves_inside_the_archive() {
    let (_d, s) = store();
    let layer = layer_tar(&[("x", "same")]);
    let want = img(vec![layer.clone(), layer.clone()]);
    let config_name = format!("{}.json", hex(&want.config));
    let manifest = json!([{"Config": config_name, "RepoTags": null, "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]);
    let bytes = outer(&[
        file("aaa/layer.tar", layer),
        E::Symlink("bbb/layer.tar".into(), "../aaa/layer.tar".into()),
        file(&config_name, want.config.clone()),
        file("manifest.json", serde_json::to_vec(&manifest).unwrap()),
    ]);
    let staging = load(&s, &bytes).unwrap();
    let image = &staging.images()[0];
    assert_eq!(image.layers[0], image.layers[1]);
    assert!(image.repo_tags.is_empty());
    assert_eq!(staging.blobs().count(), 2);
}

#[test]
fn docker25_archive_prefers_manifest_json() {
    let (_d, s) = store();
    let want = two_layer();
    let staging = load(
        &s,
        &docker25(&want, "busybox:latest", "docker.io/library/other:tag"),
    )
    .unwrap();
    let [image] = staging.images() else {
        panic!("one image expected")
    };
    assert_two_layer(image, &want);
    assert_eq!(tags(image), ["busybox:latest"]);
}

#[test]
fn oci_layout_with_gzip_layers_loads() {
    let (_d, s) = store();
    let want = two_layer();
    let bytes = oci(
        &want,
        true,
        json!({"io.containerd.image.name": "docker.io/library/busybox:latest", "org.opencontainers.image.ref.name": "latest"}),
    );
    let staging = load(&s, &bytes).unwrap();
    let [image] = staging.images() else {
        panic!("one image expected")
    };
    assert_two_layer(image, &want);
    assert_eq!(tags(image), ["busybox:latest"], "Docker's familiar form");
    for (layer, tar) in image.layers.iter().zip(&want.layers) {
        assert_eq!(layer.compression, Compression::Gzip);
        assert_eq!(
            layer.media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(layer.digest, Digest::of_bytes(&gzip(tar)));
    }
    let committed = staging.commit(&s).unwrap();
    assert_eq!(committed.added.len(), 3, "config and two layer blobs");
}

#[test]
fn oci_ref_name_is_used_only_when_it_is_a_full_reference() {
    let (_d, s) = store();
    let want = two_layer();
    let full = load(
        &s,
        &oci(
            &want,
            false,
            json!({"org.opencontainers.image.ref.name": "busybox:1.36"}),
        ),
    )
    .unwrap();
    assert_eq!(tags(&full.images()[0]), ["busybox:1.36"]);
    let bare = load(
        &s,
        &oci(
            &want,
            false,
            json!({"org.opencontainers.image.ref.name": "latest"}),
        ),
    )
    .unwrap();
    assert!(bare.images()[0].repo_tags.is_empty());
    let none = load(&s, &oci(&want, false, json!({}))).unwrap();
    assert!(none.images()[0].repo_tags.is_empty());
}

#[test]
fn an_image_listed_once_per_tag_is_one_image_with_all_tags() {
    let (_d, s) = store();
    let want = two_layer();
    let (mut entries, desc) = oci_parts(&want, false, json!({}));
    let tagged = |name: &str| {
        let mut d = desc.clone();
        d["annotations"] = json!({"io.containerd.image.name": name});
        d
    };
    let index = json!({"schemaVersion": 2, "manifests": [tagged("busybox:latest"), tagged("busybox:1"), tagged("busybox:latest")]});
    entries.push(file("index.json", serde_json::to_vec(&index).unwrap()));
    let staging = load(&s, &outer(&entries)).unwrap();
    let [image] = staging.images() else {
        panic!("one image expected")
    };
    assert_eq!(tags(image), ["busybox:latest", "busybox:1"]);
}

#[test]
fn nested_index_is_narrowed_to_this_platform() {
    let (_d, s) = store();
    let want = two_layer();
    let (mut entries, mut desc) = oci_parts(&want, false, json!({}));
    desc["platform"] = json!({"os": "linux", "architecture": host_architecture()});
    let other_arch = if host_architecture() == "s390x" {
        "amd64"
    } else {
        "s390x"
    };
    let foreign = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", hex(b"not here")), "size": 8, "platform": {"os": "linux", "architecture": other_arch}});
    let attestation = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", hex(b"att")), "size": 3, "platform": {"os": "unknown", "architecture": "unknown"}, "annotations": {"vnd.docker.reference.type": "attestation-manifest"}});
    let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [foreign, desc, attestation]})).unwrap();
    let top = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{}", hex(&nested)), "size": nested.len(), "annotations": {"io.containerd.image.name": "busybox:multi"}});
    entries.push(file(&format!("blobs/sha256/{}", hex(&nested)), nested));
    entries.push(file(
        "index.json",
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [top]})).unwrap(),
    ));
    let staging = load(&s, &outer(&entries)).unwrap();
    let [image] = staging.images() else {
        panic!("one image expected")
    };
    assert_two_layer(image, &want);
    assert_eq!(tags(image), ["busybox:multi"]);
}

#[test]
fn gzip_compressed_archive_loads() {
    let (_d, s) = store();
    let want = two_layer();
    let staging = load(&s, &gzip(&legacy(&want, &["busybox:latest"], ""))).unwrap();
    assert_two_layer(&staging.images()[0], &want);
}

#[test]
fn blob_not_matching_its_name_is_refused() {
    let (_d, s) = store();
    let want = two_layer();
    let name = format!("blobs/sha256/{}", hex(&want.layers[0]));
    let bytes = outer(&[file(&name, b"tampered".to_vec()), file("index.json", "{}")]);
    match load(&s, &bytes).unwrap_err() {
        ArchiveError::DigestMismatch {
            path,
            expected,
            actual,
        } => {
            assert_eq!(path, name);
            assert_eq!(expected, Digest::of_bytes(&want.layers[0]));
            assert_eq!(actual, Digest::of_bytes(b"tampered"));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(tmp_is_empty(&s), "staging removed on failure");
}

/// A legacy archive whose config is stored as `config_name`.
fn legacy_named(image: &Img, config_name: &str) -> Vec<u8> {
    let layers: Vec<String> = (0..image.layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let mut entries: Vec<E> = image
        .layers
        .iter()
        .zip(&layers)
        .map(|(l, p)| file(p, l.clone()))
        .collect();
    entries.push(file(config_name, image.config.clone()));
    let manifest = json!([{"Config": config_name, "RepoTags": ["named:1"], "Layers": layers}]);
    entries.push(file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    outer(&entries)
}

#[test]
fn legacy_config_not_matching_its_name_is_refused() {
    let (_d, s) = store();
    let want = two_layer();
    let other = img(vec![layer_tar(&[("other", "x\n")])]);
    let name = format!("{}.json", hex(&other.config));
    let e = load(&s, &legacy_named(&want, &name)).unwrap_err();
    let ArchiveError::DigestMismatch {
        path,
        expected,
        actual,
    } = &e
    else {
        panic!("unexpected {e}")
    };
    assert_eq!(path, &name);
    assert_eq!(*expected, Digest::of_bytes(&other.config));
    assert_eq!(*actual, Digest::of_bytes(&want.config));
    let message = e.to_string();
    for part in [name.clone(), expected.to_string(), actual.to_string()] {
        assert!(message.contains(&part), "{message} names {part}");
    }
    assert!(tmp_is_empty(&s), "staging removed on failure");
    assert!(s.list().unwrap().is_empty(), "nothing stored");
}

#[test]
fn legacy_config_not_named_by_a_digest_is_stored_by_its_digest() {
    let (_d, s) = store();
    let want = two_layer();
    for name in [
        "config.json",
        "cfg/image.json",
        &format!("{}.json", "F".repeat(64)),
    ] {
        let staging = load(&s, &legacy_named(&want, name)).unwrap();
        assert_two_layer(&staging.images()[0], &want);
        let id = Digest::of_bytes(&want.config);
        assert!(staging.blobs().any(|d| *d == id), "{name}");
    }
}

#[test]
fn every_cut_of_an_archive_is_refused_as_truncated() {
    let (_d, s) = store();
    let want = two_layer();
    for bytes in [
        legacy(&want, &["busybox:latest"], ""),
        oci(&want, true, json!({})),
    ] {
        let end = bytes.len() - 512; // one zero block is a complete end marker
        let cuts = (0..end)
            .step_by(131)
            .chain((0..end).step_by(512))
            .chain((1..=20).map(|k| end - k));
        for cut in cuts {
            match load(&s, &bytes[..cut]) {
                Err(ArchiveError::Truncated { .. }) => {}
                Err(other) => panic!(
                    "cut at {cut}/{}: expected truncated, got {other}",
                    bytes.len()
                ),
                Ok(_) => panic!("cut at {cut}/{} loaded", bytes.len()),
            }
        }
        assert!(load(&s, &bytes[..end]).is_ok());
        assert!(load(&s, &bytes).is_ok());
    }
    let gz = gzip(&legacy(&want, &["busybox:latest"], ""));
    for cut in [0, 10, gz.len() / 3, gz.len() / 2, gz.len() - 9] {
        assert!(load(&s, &gz[..cut]).is_err(), "gzip cut at {cut} loaded");
    }
    assert!(tmp_is_empty(&s));
}

#[test]
fn escaping_entry_names_are_refused() {
    let (_d, s) = store();
    for bytes in [
        outer(&[file("../escape", "x")]),
        outer(&[file("a/../../escape", "x")]),
        outer(&[file("/etc/evil", "x")]),
        outer(&[E::Symlink("evil".into(), "/etc".into())]),
        outer(&[E::Symlink("a/evil".into(), "../../etc/passwd".into())]),
        outer(&[E::Hardlink("evil".into(), "../../etc/passwd".into())]),
    ] {
        match load(&s, &bytes) {
            Err(ArchiveError::UnsafePath { .. }) => {}
            other => panic!("expected unsafe path, got {other:?}"),
        }
    }
}

#[test]
fn missing_files_are_named() {
    let (_d, s) = store();
    let want = two_layer();
    let config_name = format!("{}.json", hex(&want.config));
    let manifest = json!([{"Config": config_name, "RepoTags": [], "Layers": ["l0/layer.tar", "l1/layer.tar"]}]);
    let bytes = outer(&[
        file("l0/layer.tar", want.layers[0].clone()),
        file(&config_name, want.config.clone()),
        file("manifest.json", serde_json::to_vec(&manifest).unwrap()),
    ]);
    match load(&s, &bytes).unwrap_err() {
        ArchiveError::Missing {
            path,
            referenced_by,
        } => {
            assert_eq!(path, "l1/layer.tar");
            assert_eq!(referenced_by, "manifest.json entry 0");
        }
        other => panic!("unexpected {other}"),
    }
    let e = load(&s, &outer(&[file("readme", "x")])).unwrap_err();
    assert!(matches!(e, ArchiveError::NoImages), "{e}");
}

#[test]
fn diff_ids_must_match_the_layers() {
    let (_d, s) = store();
    let good = two_layer();
    let mut swapped = img(vec![good.layers[1].clone(), good.layers[0].clone()]);
    swapped.layers = good.layers.clone();
    for gz in [false, true] {
        match load(&s, &oci(&swapped, gz, json!({}))).unwrap_err() {
            ArchiveError::DiffIdMismatch {
                index,
                expected,
                actual,
                ..
            } => {
                assert_eq!(index, 0);
                assert_eq!(
                    (expected, actual),
                    (
                        Digest::of_bytes(&good.layers[1]),
                        Digest::of_bytes(&good.layers[0])
                    )
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    let mut short = img(vec![good.layers[0].clone()]);
    short.layers = good.layers.clone();
    let e = load(&s, &legacy(&short, &[], "")).unwrap_err();
    assert!(
        matches!(
            e,
            ArchiveError::LayerCount {
                layers: 2,
                diff_ids: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn json_documents_are_limited_to_16_mib() {
    let (_d, s) = store();
    let mut big = b"[".to_vec();
    big.resize(MAX_JSON_SIZE as usize + 1, b' ');
    let e = load(&s, &outer(&[file("manifest.json", big)])).unwrap_err();
    assert!(
        matches!(e, ArchiveError::TooLarge { ref path, .. } if path == "manifest.json"),
        "{e}"
    );
}

fn oci_with(image: &Img, gz: bool, edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let (mut entries, desc) = oci_parts_with(image, gz, json!({}), edit);
    entries.push(file(
        "index.json",
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap(),
    ));
    outer(&entries)
}

#[test]
fn descriptor_size_and_media_type_are_checked() {
    let (_d, s) = store();
    let want = img(vec![layer_tar(&[("f", "x")])]);
    let e = load(&s, &oci_with(&want, false, |d| d["size"] = json!(1))).unwrap_err();
    assert!(
        matches!(e, ArchiveError::SizeMismatch { expected: 1, .. }),
        "{e}"
    );
    let e = load(
        &s,
        &oci_with(&want, false, |d| {
            d["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+zstd")
        }),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ArchiveError::Layer {
                source: LayerError::UnsupportedCompression { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("zstd"), "{e}");
    let e = load(
        &s,
        &oci_with(&want, false, |d| {
            d["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip")
        }),
    )
    .unwrap_err();
    assert!(matches!(e, ArchiveError::Malformed { .. }), "{e}");
    let e = load(
        &s,
        &oci_with(&want, false, |d| {
            d["digest"] = json!(format!("sha512:{}", "a".repeat(128)))
        }),
    )
    .unwrap_err();
    assert!(matches!(e, ArchiveError::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("only sha256"), "{e}");
}

#[test]
fn error_messages_name_the_object() {
    let (_d, s) = store();
    let e = load(&s, &outer(&[file("../escape", "x")])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "image archive entry \"../escape\" points outside the archive (absolute path or '..')"
    );
    let bytes = legacy(&two_layer(), &[], "");
    let e = load(&s, &bytes[..1000]).unwrap_err();
    assert!(
        e.to_string().starts_with("image archive is truncated: "),
        "{e}"
    );
}


/// One line of printable ASCII (entry names here are ASCII).
fn assert_one_printable_line(e: &ArchiveError) {
    let text = e.to_string();
    assert!(
        text.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        "{text:?}"
    );
}

#[test]
fn random_bytes_are_not_a_tar_archive() {
    let (_d, s) = store();
    for seed in 0..32 {
        for n in [512, 4096, 100_000] {
            let e = load(&s, &noise(n, seed)).unwrap_err();
            assert!(
                e.to_string().starts_with(
                    "image archive is not a tar archive (plain or gzip): its first 512 bytes are not a tar header ("
                ),
                "{n} bytes, seed {seed}: {e}"
            );
            assert_one_printable_line(&e);
        }
        // Shorter than one header: cut short, said in words.
        let e = load(&s, &noise(100, seed)).unwrap_err();
        assert!(matches!(e, ArchiveError::Truncated { .. }), "{e}");
        assert_one_printable_line(&e);
    }
    let mut gz = gzip(&noise(4096, 1));
    let e = load(&s, &gz).unwrap_err();
    assert!(
        matches!(e, ArchiveError::Tar(TarFault::NotTar { .. })),
        "gzip of noise: {e}"
    );
    gz.truncate(2);
    assert_one_printable_line(&load(&s, &gz).unwrap_err());
    assert!(tmp_is_empty(&s));
}

#[test]
fn a_corrupt_header_is_placed_after_the_entry_before_it() {
    let (_d, s) = store();
    let mut bytes = legacy(&two_layer(), &[], "");
    // The first entry is a directory (one header); the second header follows it.
    bytes[512..1024].copy_from_slice(&noise(512, 3));
    let e = load(&s, &bytes).unwrap_err();
    let first = hex(format!("v1 id {}", 0).as_bytes());
    match &e {
        ArchiveError::Tar(TarFault::Corrupt { offset, after, .. }) => {
            assert_eq!(*offset, 512);
            assert_eq!(after, &format!("\"{first}/\""));
        }
        other => panic!("unexpected {other}"),
    }
    assert_one_printable_line(&e);
}

#[test]
fn no_message_repeats_its_prefix_or_echoes_raw_names() {
    let (_d, s) = store();
    let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
    let want = img(vec![layer_tar(&[("f", "x")])]);
    let mut zstd_layer = want.layers[0].clone();
    zstd_layer.splice(0..0, zstd);
    let named_blob = format!("blobs/sha256/{}", hex(b"x"));
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            zstd.to_vec(),
            "image archive is zstd-compressed, which is not supported (plain tar and gzip are); decompress it first".to_string(),
        ),
        (
            outer(&[file("readme", "x")]),
            "image archive has neither manifest.json (docker save) nor index.json (OCI image layout)".to_string(),
        ),
        (
            outer(&[file("repositories", "{}")]),
            "image archive has only a 'repositories' file: the docker save format before Docker 1.10 is not supported".to_string(),
        ),
        (
            outer(&[file("blobs/sha256/nothex", "x")]),
            "image archive entry \"blobs/sha256/nothex\": a blob must be named by its sha256 digest".to_string(),
        ),
        (
            outer(&[file(
                "manifest.json",
                serde_json::to_vec(&json!([{"Config": "a\u{7}b", "Layers": []}])).unwrap(),
            )]),
            "image archive: \"a\\u{7}b\" is referenced by manifest.json entry 0 but is not in the archive".to_string(),
        ),
        (
            outer(&[
                file("l/layer.tar", zstd_layer),
                file("config.json", want.config.clone()),
                file(
                    "manifest.json",
                    serde_json::to_vec(&json!([{"Config": "config.json", "Layers": ["l/layer.tar"]}]))
                        .unwrap(),
                ),
            ]),
            "image archive: layer \"l/layer.tar\": the blob is zstd-compressed, which is not supported (plain tar and gzip are); decompress it first".to_string(),
        ),
        (
            outer(&[file(&named_blob, "y")]),
            format!(
                "image archive entry \"{named_blob}\": content does not match its digest: expected sha256:{}, got sha256:{}",
                hex(b"x"),
                hex(b"y")
            ),
        ),
    ];
    for (bytes, want) in &cases {
        let e = load(&s, bytes).unwrap_err();
        assert_eq!(e.to_string(), *want);
    }
    // A name that is not UTF-8 is escaped, not decoded lossily.
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..4].copy_from_slice(b"n\xff\x80x");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(1);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).unwrap();
    let e = load(&s, &b.into_inner().unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "image archive entry \"n\\xff\\x80x\": its name is not UTF-8"
    );
}

#[test]
fn dropping_staging_removes_it() {
    let (_d, s) = store();
    let staging = load(&s, &legacy(&two_layer(), &[], "")).unwrap();
    assert!(!tmp_is_empty(&s));
    drop(staging);
    assert!(tmp_is_empty(&s));
    assert!(s.list().unwrap().is_empty());
}
