//! Real image archives for tests, built from Debian's `busybox-static` (no registry is
//! reachable; nothing is downloaded). The pieces, bottom up:
//!
//! - [`Layer`] ([`layer`]): a layer tar entry by entry (files, dirs, links, devices,
//!   whiteouts, opaque markers), bare or `./` names, plain or gzip;
//! - [`busybox_rootfs`] ([`busybox`]): `/bin/busybox`, its applet links and the basics
//!   a container expects, as one layer (also what `scripts/busybox-image` builds);
//! - [`ImageSpec`] / [`BuiltImage`] ([`spec`]): an image's layers and config, with
//!   every digest computed;
//! - [`docker_save`] and [`oci_layout`] ([`save`]): the archives `hostctl load` reads,
//!   in legacy and Docker ≥ 25 `docker save` layouts (entries bare or `./`-prefixed) and
//!   as an OCI image layout;
//! - [`hostile`]: archives a correct loader must refuse, each with one fault.
//!
//! Ready-made images: [`busybox_image`] and the three-layer [`multi_layer_image`],
//! whose final filesystem is described by [`multi_layer`].
//!
//! Everything is deterministic (fixed mtimes, fixed `created`), so building the same
//! spec twice gives the same image ID.

pub mod busybox;
pub mod hostile;
pub mod layer;
pub mod save;
pub mod spec;
mod tarw;

use sha2::{Digest as _, Sha256};

pub use busybox::{busybox_applets, busybox_binary, busybox_rootfs};
pub use layer::{Compression, Layer, PathStyle};
pub use save::{OciNaming, OciOptions, SaveLayout, docker_save, docker_save_dot_slash, oci_layout, oci_layout_with};
pub use spec::{BuiltImage, BuiltLayer, ImageSpec};

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex_of(bytes))
}

/// The bare hex sha256 of `bytes`.
pub fn hex_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The busybox rootfs as a one-layer image tagged `tag`, `Cmd ["sh"]`.
pub fn busybox_image(tag: &str) -> ImageSpec {
    ImageSpec::busybox(tag)
}

/// What [`multi_layer_image`]'s layers add, delete and hide.
pub mod multi_layer {
    /// Files the container sees, with their content.
    pub const PRESENT: &[(&str, &str)] = &[
        ("/added.txt", "added by the top layer\n"),
        ("/srv/data/new.txt", "new\n"),
        ("/etc/passwd", super::busybox::ETC_PASSWD),
    ];
    /// Files of lower layers the container must not see: a whiteout removes
    /// `/etc/os-release` (from the busybox base); an opaque marker hides the old
    /// contents of `/srv/data`.
    pub const ABSENT: &[&str] = &["/etc/os-release", "/srv/data/old1.txt", "/srv/data/old2.txt"];
}

/// Three layers: the busybox base; `srv/data/{old1,old2}.txt`; then `added.txt`, a
/// whiteout of `etc/os-release` and `srv/data` made opaque with only `new.txt` in it.
/// See [`multi_layer`] for what a container must see.
pub fn multi_layer_image(tag: &str) -> ImageSpec {
    ImageSpec::busybox(tag)
        .layer(
            Layer::new()
                .dir("srv")
                .dir("srv/data")
                .file("srv/data/old1.txt", "old 1\n")
                .file("srv/data/old2.txt", "old 2\n"),
        )
        .layer(
            Layer::new()
                .file("added.txt", "added by the top layer\n")
                .whiteout("etc/os-release")
                .dir("srv/data")
                .opaque("srv/data")
                .file("srv/data/new.txt", "new\n"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_sha256sum() {
        // printf 'hello\n' | sha256sum
        assert_eq!(digest(b"hello\n"), "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    }

    #[test]
    fn multi_layer_image_has_whiteout_and_opaque_markers_over_the_base() {
        let image = multi_layer_image("multi:latest").build();
        assert_eq!(image.layers.len(), 3);
        let names = |i: usize| {
            let mut archive = tar::Archive::new(&image.layers[i].tar[..]);
            archive
                .entries()
                .unwrap()
                .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
                .collect::<Vec<_>>()
        };
        assert!(names(0).contains(&"etc/os-release".to_string()));
        let top = names(2);
        for want in ["added.txt", "etc/.wh.os-release", "srv/data/.wh..wh..opq", "srv/data/new.txt"] {
            assert!(top.contains(&want.to_string()), "{want} in {top:?}");
        }
        assert_eq!(image.id, multi_layer_image("other:tag").build().id, "tags are not part of the config");
    }
}
