//! `apply` against tars built here, with the fake host: the files written, the host
//! calls made, and the refusals, with the messages a user would read.

use std::io::Write;

use hostctl_sdk::ErrorKind;
use sha2::{Digest, Sha256};
use tar::{Builder, EntryType, Header};

use super::*;
use crate::testutil::{FakeHost, TempRoot};

/// A tar under construction; `raw` entries bypass the builder's path checks.
struct Tar(Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Tar(Builder::new(Vec::new()))
    }

    fn header(ty: EntryType, mode: u32, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(ty);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        header
    }

    /// An entry whose name is written into the header as is.
    fn raw(
        mut self,
        name: &str,
        ty: EntryType,
        mode: u32,
        data: &[u8],
        link: Option<&str>,
    ) -> Self {
        let mut header = Self::header(ty, mode, data.len() as u64);
        let bytes = name.as_bytes();
        header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        if let Some(link) = link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name, EntryType::Regular, 0o644, data, None)
    }

    fn dir(self, name: &str) -> Self {
        self.raw(name, EntryType::Directory, 0o755, b"", None)
    }

    fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(name, EntryType::Symlink, 0o777, b"", Some(target))
    }

    fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(name, EntryType::Link, 0o644, b"", Some(target))
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A driver root holding an empty layer `x`.
fn layer() -> (TempRoot, FakeHost) {
    let tmp = TempRoot::new();
    std::fs::create_dir_all(tmp.root.fs("x/diff")).unwrap();
    let host = FakeHost::at(&tmp);
    (tmp, host)
}

fn read(tmp: &TempRoot, rel: &str) -> String {
    std::fs::read_to_string(tmp.root.fs(rel)).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

#[test]
fn unpacks_files_dirs_and_links_and_reports_size_and_diff_id() {
    let (tmp, host) = layer();
    let tar = Tar::new()
        .dir("./")
        .dir("./bin/")
        .file("./bin/busybox", b"#!busybox")
        .symlink("./bin/sh", "/bin/busybox")
        .hardlink("./bin/ash", "./bin/busybox")
        .file("etc/hostname", b"box\n")
        .bytes();
    let applied = unpack(&tmp.root, &host, "x", &tar[..]).unwrap();
    assert_eq!(applied.size, 9 + 4);
    assert_eq!(applied.diff_id, sha256(&tar));
    assert_eq!(read(&tmp, "x/diff/bin/busybox"), "#!busybox");
    assert_eq!(read(&tmp, "x/diff/bin/ash"), "#!busybox");
    assert_eq!(read(&tmp, "x/diff/etc/hostname"), "box\n");
    assert_eq!(
        std::fs::read_link(tmp.root.fs("x/diff/bin/sh"))
            .unwrap()
            .to_str(),
        Some("/bin/busybox")
    );
    assert!(host.called("symlink x/diff/bin/sh -> /bin/busybox"));
    assert!(
        host.called("chmod x/diff 755"),
        "the root entry's mode goes to diff/"
    );
    assert!(host.called("chmod x/diff/bin/busybox 644"));
    assert!(
        host.called("chmod x/diff/etc 755"),
        "a missing parent is made 0755"
    );
    let mtime = std::fs::metadata(tmp.root.fs("x/diff/bin/busybox"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(mtime, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let dir_mtime = std::fs::metadata(tmp.root.fs("x/diff/bin"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        dir_mtime,
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        "directory mtimes are set last"
    );
}

#[test]
fn gzip_layers_hash_their_uncompressed_bytes() {
    let (tmp, host) = layer();
    let tar = Tar::new().file("a", b"data").bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let applied = unpack(&tmp.root, &host, "x", &gz.finish().unwrap()[..]).unwrap();
    assert_eq!(applied.diff_id, sha256(&tar));
    assert_eq!(read(&tmp, "x/diff/a"), "data");
}

#[test]
fn trailing_padding_is_part_of_the_diff_id() {
    let (tmp, host) = layer();
    let mut tar = Tar::new().file("a", b"data").bytes();
    tar.extend(vec![0u8; 10 * 512]);
    assert_eq!(
        unpack(&tmp.root, &host, "x", &tar[..]).unwrap().diff_id,
        sha256(&tar)
    );
}

#[test]
fn zstd_layers_are_refused() {
    let (tmp, host) = layer();
    let err = unpack(
        &tmp.root,
        &host,
        "x",
        &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0][..],
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert_eq!(err.message, "zstd layers are not supported");
}

#[test]
fn garbage_is_an_invalid_layer() {
    let (tmp, host) = layer();
    let err = unpack(&tmp.root, &host, "x", &[7u8; 1024][..]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(
        err.message.starts_with("reading the layer tar"),
        "{}",
        err.message
    );
}

#[test]
fn entries_leaving_the_layer_are_refused() {
    for (name, reason) in [
        ("../etc/passwd", "path leaves the layer"),
        ("/etc/passwd", "absolute path leaves the layer"),
    ] {
        let (tmp, host) = layer();
        let tar = Tar::new().file(name, b"root::0:0").bytes();
        let err = unpack(&tmp.root, &host, "x", &tar[..]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(err.message, format!("layer entry \"{name}\": {reason}"));
    }
}

#[test]
fn writes_through_a_symlinked_parent_are_refused() {
    let (tmp, host) = layer();
    let tar = Tar::new()
        .symlink("evil", "../../y/diff")
        .file("evil/passwd", b"x")
        .bytes();
    let err = unpack(&tmp.root, &host, "x", &tar[..]).unwrap_err();
    assert_eq!(
        err.message,
        "layer entry \"evil/passwd\": parent \"evil\" is a symlink"
    );
}

#[test]
fn hardlinks_must_point_at_this_layer() {
    for (target, reason) in [
        (
            "missing",
            "hardlink target \"missing\" does not exist in this layer",
        ),
        (
            "../../y/diff/f",
            "hardlink target \"../../y/diff/f\": path leaves the layer",
        ),
        ("dir", "hardlink target \"dir\" is a directory"),
    ] {
        let (tmp, host) = layer();
        let tar = Tar::new().dir("dir").hardlink("h", target).bytes();
        let err = unpack(&tmp.root, &host, "x", &tar[..]).unwrap_err();
        assert_eq!(err.message, format!("layer entry \"h\": {reason}"));
    }
    let (tmp, host) = layer();
    let tar = Tar::new()
        .symlink("s", "/")
        .hardlink("h", "s/etc/passwd")
        .bytes();
    let err = unpack(&tmp.root, &host, "x", &tar[..]).unwrap_err();
    assert_eq!(
        err.message,
        "layer entry \"h\": hardlink target \"s/etc/passwd\": parent \"s\" is a symlink"
    );
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let (tmp, host) = layer();
    let tar = Tar::new()
        .dir("etc")
        .file("etc/motd", b"hi")
        .file("etc/.wh.motd", b"")
        .file("var/.wh..wh..opq", b"")
        .file(".wh..wh.plnk/123", b"aufs")
        .file("usr/.wh.share", b"")
        .bytes();
    unpack(&tmp.root, &host, "x", &tar[..]).unwrap();
    assert!(host.called("whiteout x/diff/etc/motd"));
    assert!(host.called("opaque x/diff/var"));
    assert!(host.called("whiteout x/diff/usr/share"));
    assert!(
        tmp.root.fs("x/diff/var").is_dir(),
        "an opaque directory is made if missing"
    );
    assert!(
        !tmp.root.fs("x/diff/.wh..wh.plnk").exists(),
        "aufs metadata is skipped"
    );
    assert!(!tmp.root.fs("x/diff/etc/.wh.motd").exists());
}

#[test]
fn whiteouts_of_nothing_are_refused() {
    let (tmp, host) = layer();
    let tar = Tar::new().file("etc/.wh.", b"").bytes();
    let err = unpack(&tmp.root, &host, "x", &tar[..]).unwrap_err();
    assert_eq!(
        err.message,
        "layer entry \"etc/.wh.\": whiteout names no file"
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    let (tmp, host) = layer();
    let tar = Tar::new()
        .dir("a")
        .file("a/inner", b"x")
        .file("a", b"now a file")
        .file("b", b"first")
        .dir("b")
        .file("c", b"old")
        .file("c", b"new")
        .dir("d")
        .file("d/keep", b"k")
        .dir("d")
        .bytes();
    unpack(&tmp.root, &host, "x", &tar[..]).unwrap();
    assert_eq!(read(&tmp, "x/diff/a"), "now a file");
    assert!(tmp.root.fs("x/diff/b").is_dir());
    assert_eq!(read(&tmp, "x/diff/c"), "new");
    assert_eq!(
        read(&tmp, "x/diff/d/keep"),
        "k",
        "a directory merges into a directory"
    );
}

#[test]
fn owners_modes_and_xattrs_go_through_the_host() {
    let (tmp, host) = layer();
    let mut builder = Builder::new(Vec::new());
    let mut header = Tar::header(EntryType::Regular, 0o4755, 3);
    header.set_uid(1000);
    header.set_gid(50);
    builder
        .append_pax_extensions([
            ("SCHILY.xattr.security.capability", &b"cap"[..]),
            ("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..]),
            ("mtime", &b"1600000000.5"[..]),
        ])
        .unwrap();
    builder
        .append_data(&mut header, "bin/ping", &b"elf"[..])
        .unwrap();
    let tar = builder.into_inner().unwrap();
    unpack(&tmp.root, &host, "x", &tar[..]).unwrap();
    let calls = host.calls.borrow();
    let at = |call: &str| {
        calls
            .iter()
            .position(|c| c == call)
            .unwrap_or_else(|| panic!("no {call}: {calls:?}"))
    };
    assert!(
        at("chown x/diff/bin/ping 1000:50") < at("chmod x/diff/bin/ping 4755"),
        "chown clears setuid: it goes first"
    );
    assert!(at("chmod x/diff/bin/ping 4755") < at("xattr x/diff/bin/ping security.capability=cap"));
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("xattr") && c.contains("trusted."))
    );
    let mtime = std::fs::metadata(tmp.root.fs("x/diff/bin/ping"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime,
        UNIX_EPOCH + Duration::new(1_600_000_000, 500_000_000)
    );
}

#[test]
fn root_owned_entries_are_not_chowned() {
    let (tmp, host) = layer();
    let tar = Tar::new().file("f", b"").bytes();
    unpack(&tmp.root, &host, "x", &tar[..]).unwrap();
    assert!(!host.calls.borrow().iter().any(|c| c.starts_with("chown")));
}

#[test]
fn long_names_survive() {
    let (tmp, host) = layer();
    let name = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    let mut builder = Builder::new(Vec::new());
    let mut header = Tar::header(EntryType::Regular, 0o644, 2);
    builder.append_data(&mut header, &name, &b"ok"[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    unpack(&tmp.root, &host, "x", &tar[..]).unwrap();
    assert_eq!(read(&tmp, &format!("x/diff/{name}")), "ok");
}

#[test]
fn devices_and_fifos_are_made_by_the_host() {
    let (tmp, host) = layer();
    let mut builder = Builder::new(Vec::new());
    let mut null = Tar::header(EntryType::Char, 0o666, 0);
    null.set_device_major(1).unwrap();
    null.set_device_minor(3).unwrap();
    builder
        .append_data(&mut null, "dev/null", &b""[..])
        .unwrap();
    let mut fifo = Tar::header(EntryType::Fifo, 0o600, 0);
    builder
        .append_data(&mut fifo, "run/fifo", &b""[..])
        .unwrap();
    let mut wh = Tar::header(EntryType::Char, 0, 0);
    wh.set_device_major(0).unwrap();
    wh.set_device_minor(0).unwrap();
    builder.append_data(&mut wh, "gone", &b""[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    unpack(&tmp.root, &host, "x", &tar[..]).unwrap();
    assert!(host.called("mknod x/diff/dev/null char 666 1:3"));
    assert!(host.called("chmod x/diff/dev/null 666"));
    assert!(host.called("mknod x/diff/run/fifo fifo 600 0:0"));
    assert!(
        host.called("whiteout x/diff/gone"),
        "a 0:0 char device is an overlay whiteout already"
    );
}

#[test]
fn a_non_directory_root_entry_is_refused() {
    let (tmp, host) = layer();
    let tar = Tar::new().file(".", b"").bytes();
    let err = unpack(&tmp.root, &host, "x", &tar[..]).unwrap_err();
    assert_eq!(
        err.message,
        "layer entry \".\": the layer root must be a directory"
    );
}

#[test]
fn pax_times_parse() {
    assert_eq!(
        parse_pax_time("12"),
        Some(UNIX_EPOCH + Duration::from_secs(12))
    );
    assert_eq!(
        parse_pax_time("12.25"),
        Some(UNIX_EPOCH + Duration::new(12, 250_000_000))
    );
    assert_eq!(
        parse_pax_time("1.1234567891"),
        Some(UNIX_EPOCH + Duration::new(1, 123_456_789))
    );
    assert_eq!(
        parse_pax_time("-1.5"),
        UNIX_EPOCH.checked_sub(Duration::new(1, 500_000_000))
    );
    assert_eq!(parse_pax_time(""), None);
    assert_eq!(parse_pax_time("1e3"), None);
    assert_eq!(parse_pax_time(".5"), None);
}

#[test]
fn links_replace_earlier_entries_too() {
    let (tmp, host) = layer();
    let tar = Tar::new()
        .file("s", b"file first")
        .symlink("s", "/target")
        .dir("d")
        .file("d/child", b"c")
        .symlink("d", "elsewhere")
        .file("h", b"old")
        .file("src", b"new")
        .hardlink("h", "src")
        .symlink("back", "x")
        .file("back", b"a file again")
        .bytes();
    unpack(&tmp.root, &host, "x", &tar[..]).unwrap();
    assert_eq!(
        std::fs::read_link(tmp.root.fs("x/diff/s"))
            .unwrap()
            .to_str(),
        Some("/target")
    );
    assert_eq!(
        std::fs::read_link(tmp.root.fs("x/diff/d"))
            .unwrap()
            .to_str(),
        Some("elsewhere")
    );
    assert_eq!(read(&tmp, "x/diff/h"), "new");
    assert_eq!(read(&tmp, "x/diff/back"), "a file again");
}

#[test]
fn a_directory_replaced_by_a_symlink_is_no_parent() {
    let (tmp, host) = layer();
    let tar = Tar::new()
        .dir("d")
        .file("d/a", b"")
        .symlink("d", "../../y/diff")
        .file("d/b", b"")
        .bytes();
    let err = unpack(&tmp.root, &host, "x", &tar[..]).unwrap_err();
    assert_eq!(
        err.message,
        "layer entry \"d/b\": parent \"d\" is a symlink"
    );
}
