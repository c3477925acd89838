//! Archives a correct loader must refuse, one fault each. Some faults are in the
//! archive itself and `hostctl load` must refuse them ([`RefusedBy::Load`]); the others
//! are in a layer's *content*, which the host passes unparsed to the storage driver:
//! applying that layer must fail, and in no case may anything be written outside the
//! container's rootfs ([`RefusedBy::Unpack`]). Layer cases sit on the busybox base, so a
//! driver that confines rather than refuses still yields an image tests can run to look.

use super::{
    layer::Layer,
    save::{Outer, SaveLayout, docker_save},
    spec::ImageSpec,
    tarw::Raw,
};

/// Where a fault must be caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBy {
    /// `hostctl load` refuses the archive.
    Load,
    /// Applying the layer (the storage driver) refuses the entry; nothing outside the
    /// rootfs is ever written.
    Unpack,
}

/// One hostile archive.
#[derive(Debug, Clone)]
pub struct HostileCase {
    /// A test-name-like label (`layer_symlink_escape`).
    pub name: &'static str,
    pub archive: Vec<u8>,
    pub refused_by: RefusedBy,
    /// What is wrong, in a loader's words.
    pub fault: &'static str,
}

/// The tag every hostile image carries.
pub const TAG: &str = "hostile:latest";

/// Every case.
pub fn all() -> Vec<HostileCase> {
    let case = |name, archive, refused_by, fault| HostileCase { name, archive, refused_by, fault };
    vec![
        case("blob_digest_mismatch", blob_digest_mismatch(), RefusedBy::Load, "a blob's content does not hash to its name"),
        case("truncated_mid_blob", truncated_mid_blob(), RefusedBy::Load, "the archive ends inside a layer"),
        case("outer_dotdot_entry", outer_dotdot_entry(), RefusedBy::Load, "an archive entry named ../escape"),
        case("config_diff_id_mismatch", config_diff_id_mismatch(), RefusedBy::Load, "the config's diff_ids do not match the layer"),
        case("config_name_mismatch", config_name_mismatch(), RefusedBy::Load, "a legacy config's content does not hash to the digest in its name"),
        case("layer_dotdot_entry", layer_dotdot_entry(), RefusedBy::Unpack, "a layer entry named ../escape"),
        case("layer_absolute_entry", layer_absolute_entry(), RefusedBy::Unpack, "a layer entry named /etc/evil"),
        case("layer_symlink_escape", layer_symlink_escape(), RefusedBy::Unpack, "a symlink evil -> /etc, then evil/passwd"),
        case("layer_symlink_dotdot", layer_symlink_dotdot(), RefusedBy::Unpack, "a symlink evil -> ../../.., then evil/etc/passwd"),
        case("layer_hardlink_escape", layer_hardlink_escape(), RefusedBy::Unpack, "a hardlink to ../../etc/passwd"),
    ]
}

fn small_image() -> ImageSpec {
    ImageSpec::new(TAG).layer(Layer::new().file("etc/motd", "hello\n"))
}

/// The ID whose `<hex>.json` name [`config_name_mismatch`] gives another config.
pub fn small_image_id() -> String {
    small_image().build().id
}

fn on_busybox(layer: Layer) -> Vec<u8> {
    docker_save(&[ImageSpec::busybox(TAG).layer(layer)], SaveLayout::Legacy)
}

/// Docker ≥ 25 layout whose layer blob was altered after it was named.
pub fn blob_digest_mismatch() -> Vec<u8> {
    let mut archive = docker_save(&[small_image()], SaveLayout::Docker25);
    let at = find(&archive, b"hello\n").expect("layer content is in the archive");
    archive[at] = b'j';
    archive
}

/// A legacy save of the busybox image cut in the middle of its layer.tar.
pub fn truncated_mid_blob() -> Vec<u8> {
    let archive = docker_save(&[ImageSpec::busybox(TAG)], SaveLayout::Legacy);
    let busybox = super::busybox::busybox_binary();
    let start = find(&archive, &busybox[..4096]).expect("busybox is in the layer");
    archive[..start + busybox.len() / 2].to_vec()
}

/// A legacy save with an extra outer entry `../escape`.
pub fn outer_dotdot_entry() -> Vec<u8> {
    let complete = docker_save(&[small_image()], SaveLayout::Legacy);
    let mut outer = Outer::new(false);
    outer.raw(&Raw::file("../escape", b"escaped\n"));
    let mut bytes = outer.finish();
    // Our entry, then the complete archive's entries (its end marker ends both).
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&complete);
    bytes
}

/// A config whose diff_ids name another layer.
pub fn config_diff_id_mismatch() -> Vec<u8> {
    let mut spec = small_image();
    spec.diff_ids_override = Some(vec![Layer::new().file("etc/motd", "other\n").diff_id()]);
    docker_save(&[spec], SaveLayout::Legacy)
}

/// A legacy save whose `<id>.json` holds another image's config (same layers, another
/// label): a loader that does not check the name would load it under another ID.
pub fn config_name_mismatch() -> Vec<u8> {
    let named = small_image();
    let name = format!("{}.json", &small_image_id()["sha256:".len()..]);
    let other = small_image().label("swapped", "yes").build().config;
    let saved = docker_save(&[named], SaveLayout::Legacy);
    let mut outer = Outer::new(false);
    let mut archive = tar::Archive::new(&saved[..]);
    for entry in archive.entries().expect("a tar built here") {
        let mut entry = entry.expect("a tar built here");
        let path = String::from_utf8(entry.path_bytes().into_owned()).expect("names built here are UTF-8");
        if entry.header().entry_type().is_dir() {
            outer.dir(&path);
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("a tar built here");
        outer.file(&path, if path == name { &other } else { &data });
    }
    outer.finish()
}

pub fn layer_dotdot_entry() -> Vec<u8> {
    on_busybox(Layer::new().verbatim_file("../escape", "escaped\n"))
}

pub fn layer_absolute_entry() -> Vec<u8> {
    on_busybox(Layer::new().verbatim_file("/etc/evil", "evil\n"))
}

pub fn layer_symlink_escape() -> Vec<u8> {
    on_busybox(Layer::new().symlink("evil", "/etc").file("evil/passwd", "evil::0:0::/:/bin/sh\n"))
}

pub fn layer_symlink_dotdot() -> Vec<u8> {
    on_busybox(Layer::new().symlink("evil", "../../..").file("evil/etc/passwd", "evil::0:0::/:/bin/sh\n"))
}

pub fn layer_hardlink_escape() -> Vec<u8> {
    on_busybox(Layer::new().verbatim_hardlink("evil", "../../etc/passwd"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::{digest, hex_of};
    use std::io::{self, Read};

    /// (name, link target, data) of each entry; `Err` if the tar ends early.
    fn entries(bytes: &[u8]) -> io::Result<Vec<(String, String, Vec<u8>)>> {
        let mut archive = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for e in archive.entries()? {
            let mut e = e?;
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
            let want = e.size();
            let mut data = Vec::new();
            e.read_to_end(&mut data)?;
            if data.len() as u64 != want {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{name} is short")));
            }
            out.push((name, link, data));
        }
        Ok(out)
    }

    fn top_layer(archive: &[u8]) -> Vec<(String, String, Vec<u8>)> {
        let outer = entries(archive).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&outer.iter().find(|e| e.0 == "manifest.json").unwrap().2).unwrap();
        let top = manifest[0]["Layers"].as_array().unwrap().last().unwrap().as_str().unwrap().to_string();
        entries(&outer.iter().find(|e| e.0 == top).unwrap().2).unwrap()
    }

    #[test]
    fn blob_digest_mismatch_has_a_blob_not_matching_its_name() {
        let outer = entries(&blob_digest_mismatch()).unwrap();
        let bad: Vec<_> = outer
            .iter()
            .filter(|e| e.0.starts_with("blobs/sha256/") && !e.2.is_empty() && hex_of(&e.2) != e.0["blobs/sha256/".len()..])
            .collect();
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn truncated_archive_ends_inside_a_layer() {
        let bytes = truncated_mid_blob();
        let err = entries(&bytes).unwrap_err();
        assert!(err.to_string().contains("layer.tar"), "{err}");
    }

    #[test]
    fn outer_dotdot_archive_starts_with_the_escape_entry() {
        let outer = entries(&outer_dotdot_entry()).unwrap();
        assert_eq!(outer[0].0, "../escape");
        assert!(outer.iter().any(|e| e.0 == "manifest.json"));
    }

    #[test]
    fn diff_id_mismatch_config_names_another_layer() {
        let outer = entries(&config_diff_id_mismatch()).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&outer.iter().find(|e| e.0 == "manifest.json").unwrap().2).unwrap();
        let config_name = manifest[0]["Config"].as_str().unwrap();
        let config: serde_json::Value = serde_json::from_slice(&outer.iter().find(|e| e.0 == config_name).unwrap().2).unwrap();
        let layer = &outer.iter().find(|e| e.0 == manifest[0]["Layers"][0].as_str().unwrap()).unwrap().2;
        assert_ne!(config["rootfs"]["diff_ids"][0], serde_json::json!(digest(layer)));
    }

    #[test]
    fn config_name_mismatch_names_its_config_by_another_digest() {
        let outer = entries(&config_name_mismatch()).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&outer.iter().find(|e| e.0 == "manifest.json").unwrap().2).unwrap();
        let config_name = manifest[0]["Config"].as_str().unwrap();
        let config = &outer.iter().find(|e| e.0 == config_name).unwrap().2;
        assert_eq!(config_name, format!("{}.json", &small_image_id()["sha256:".len()..]));
        assert_ne!(format!("{}.json", hex_of(config)), config_name);
        assert!(serde_json::from_slice::<serde_json::Value>(config).is_ok(), "the content is a config");
    }

    #[test]
    fn layer_cases_carry_their_hostile_entries() {
        let names = |a: &[u8]| top_layer(a).into_iter().map(|e| (e.0, e.1)).collect::<Vec<_>>();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(names(&layer_dotdot_entry()), [s("../escape", "")]);
        assert_eq!(names(&layer_absolute_entry()), [s("/etc/evil", "")]);
        assert_eq!(names(&layer_symlink_escape()), [s("evil", "/etc"), s("evil/passwd", "")]);
        assert_eq!(names(&layer_symlink_dotdot()), [s("evil", "../../.."), s("evil/etc/passwd", "")]);
        assert_eq!(names(&layer_hardlink_escape()), [s("evil", "../../etc/passwd")]);
    }

    #[test]
    fn all_lists_every_case_once() {
        let cases = all();
        let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
        names.dedup();
        assert_eq!(names.len(), 10);
        assert_eq!(cases.iter().filter(|c| c.refused_by == RefusedBy::Load).count(), 5);
    }
}
