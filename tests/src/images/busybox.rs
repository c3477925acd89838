//! The busybox root filesystem every test image starts from: Debian's `busybox-static`
//! (`/bin/busybox`, one static binary) plus a symlink `bin/<applet> -> busybox` for each
//! applet it lists, and the few files and directories a container expects (`etc/passwd`,
//! `etc/group`, `tmp` 1777, `proc`, `sys`, `dev`, ...). `scripts/busybox-image` builds
//! the same tree with shell tools, for the README's `hostctl import`; a test below holds
//! the two to the same content.

use std::{
    path::Path,
    process::Command,
    sync::{Arc, OnceLock},
};

use super::layer::Layer;

/// Where Debian's busybox-static puts the binary.
pub const BUSYBOX: &str = "/bin/busybox";

pub const ETC_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub const ETC_GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";
pub const ETC_HOSTNAME: &str = "busybox\n";
pub const ETC_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
pub const ETC_OS_RELEASE: &str = "NAME=\"BusyBox\"\nID=busybox\nPRETTY_NAME=\"BusyBox (hostctl test image)\"\n";

/// Directories of the rootfs and their modes, parents first.
pub const DIRS: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o755),
    ("root", 0o700),
    ("sbin", 0o755),
    ("sys", 0o755),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("var", 0o755),
];

/// The files under `etc/`, with their contents (all mode 0644).
pub const ETC_FILES: &[(&str, &str)] = &[
    ("etc/passwd", ETC_PASSWD),
    ("etc/group", ETC_GROUP),
    ("etc/hostname", ETC_HOSTNAME),
    ("etc/hosts", ETC_HOSTS),
    ("etc/resolv.conf", ""),
    ("etc/os-release", ETC_OS_RELEASE),
];

/// The bytes of `/bin/busybox`, read once. Panics with the install command if missing.
pub fn busybox_binary() -> Arc<[u8]> {
    static BINARY: OnceLock<Arc<[u8]>> = OnceLock::new();
    BINARY
        .get_or_init(|| match std::fs::read(BUSYBOX) {
            Ok(bytes) => bytes.into(),
            Err(e) => panic!("{BUSYBOX}: {e}; install it with `apt-get install -y busybox-static`"),
        })
        .clone()
}

/// The applets `busybox --list` names (without `busybox` itself), read once.
pub fn busybox_applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} is missing; install it with `apt-get install -y busybox-static`"
        );
        let out = Command::new(BUSYBOX).arg("--list").output().expect("running busybox --list");
        assert!(out.status.success(), "busybox --list failed: {out:?}");
        String::from_utf8(out.stdout)
            .expect("applet names are ASCII")
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
            .map(str::to_string)
            .collect()
    })
}

/// The busybox rootfs as one layer (bare paths; see [`Layer::path_style`]).
pub fn busybox_rootfs() -> Layer {
    let mut layer = Layer::new();
    for (dir, mode) in DIRS {
        layer = layer.dir_mode(dir, *mode);
    }
    layer = layer.file_shared("bin/busybox", busybox_binary(), 0o755);
    for applet in busybox_applets() {
        layer = layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    for (path, content) in ETC_FILES {
        layer = layer.file(path, *content);
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{collections::BTreeMap, io::Read};

    /// name (no `./`, no trailing `/`) -> (type, mode for non-links, link target, sha of content)
    type Tree = BTreeMap<String, (char, u32, String, String)>;

    fn tree(tar_bytes: &[u8]) -> Tree {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut out = Tree::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let raw = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let name = raw.trim_start_matches("./").trim_end_matches('/').to_string();
            if name.is_empty() || name == "." {
                continue;
            }
            let h = e.header().clone();
            let kind = h.entry_type().as_byte() as char;
            let link = e.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap()).unwrap_or_default();
            let mode = if kind == '2' { 0 } else { h.mode().unwrap() & 0o7777 };
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.insert(name, (kind, mode, link, crate::images::digest(&data)));
        }
        out
    }

    #[test]
    fn rootfs_has_busybox_every_applet_and_the_basics() {
        let t = tree(&busybox_rootfs().tar());
        assert_eq!(t["bin/busybox"].3, crate::images::digest(&std::fs::read(BUSYBOX).unwrap()));
        assert_eq!(t["bin/busybox"].1, 0o755);
        assert!(busybox_applets().len() > 100);
        for applet in busybox_applets() {
            assert_eq!(t[&format!("bin/{applet}")].2, "busybox", "{applet}");
        }
        for must in ["bin/sh", "bin/ls", "bin/cat", "etc/passwd", "etc/group", "proc", "sys", "dev", "root"] {
            assert!(t.contains_key(must), "{must}");
        }
        assert_eq!(t["tmp"].1, 0o1777);
        assert_eq!(t["root"].1, 0o700);
        assert_eq!(t["etc/passwd"].3, crate::images::digest(ETC_PASSWD.as_bytes()));
    }

    #[test]
    fn busybox_image_script_builds_the_same_tree() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/busybox-image");
        let dir = tempfile::tempdir().unwrap();
        let out_path = dir.path().join("rootfs.tar");
        let out = Command::new("bash").arg(&script).arg(&out_path).env("TMPDIR", dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), out_path.to_str().unwrap());
        let from_script = tree(&std::fs::read(&out_path).unwrap());
        let from_builder = tree(&busybox_rootfs().tar());
        for (name, want) in &from_builder {
            assert_eq!(from_script.get(name), Some(want), "{name}");
        }
        let extra: Vec<_> = from_script.keys().filter(|k| !from_builder.contains_key(*k)).collect();
        assert!(extra.is_empty(), "script adds {extra:?}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["rootfs.tar"], "the script cleans its temp dir");
    }
}
