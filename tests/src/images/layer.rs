//! [`Layer`]: a layer tar described entry by entry (directories, files with mode and
//! owner, symlinks, hardlinks, character devices, OCI whiteouts `.wh.NAME` and opaque
//! markers `.wh..wh..opq`), written as plain tar or gzip. Paths are given without a
//! leading `/` and written bare (`etc/passwd`, as Docker writes layers) or `./`-prefixed
//! (as `tar -C rootfs -cf - .` does); `verbatim_*` entries bypass that, for hostile names.

use std::{io::Write, sync::Arc};

use flate2::{Compression as Level, write::GzEncoder};
use tar::EntryType;

use super::{
    digest,
    tarw::{self, Raw},
};

/// How entry names are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PathStyle {
    /// `etc/passwd`
    #[default]
    Bare,
    /// `./etc/passwd`, after a `./` entry for the root.
    DotSlash,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

impl Compression {
    /// The OCI media type of a layer blob compressed this way.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File(Arc<[u8]>),
    Symlink(String),
    Hardlink(String),
    CharDevice(u32, u32),
}

#[derive(Debug, Clone)]
struct Entry {
    path: String,
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    verbatim: bool,
}

/// A layer tar, entry by entry, in the order added.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    entries: Vec<Entry>,
    style: PathStyle,
}

impl Layer {
    pub fn new() -> Layer {
        Layer::default()
    }

    pub fn path_style(mut self, style: PathStyle) -> Layer {
        self.style = style;
        self
    }

    fn push(mut self, path: &str, kind: Kind, mode: u32) -> Layer {
        self.entries.push(Entry {
            path: path.trim_start_matches('/').trim_end_matches('/').to_string(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            verbatim: false,
        });
        self
    }

    /// A directory, mode 0755.
    pub fn dir(self, path: &str) -> Layer {
        self.dir_mode(path, 0o755)
    }

    /// A directory with a mode (e.g. `0o1777` for tmp).
    pub fn dir_mode(self, path: &str, mode: u32) -> Layer {
        self.push(path, Kind::Dir, mode)
    }

    /// A regular file, mode 0644, owned by root.
    pub fn file(self, path: &str, content: impl Into<Vec<u8>>) -> Layer {
        self.file_mode(path, content, 0o644)
    }

    pub fn file_mode(self, path: &str, content: impl Into<Vec<u8>>, mode: u32) -> Layer {
        self.push(path, Kind::File(content.into().into()), mode)
    }

    /// A regular file sharing its (large) content with other layers.
    pub fn file_shared(self, path: &str, content: Arc<[u8]>, mode: u32) -> Layer {
        self.push(path, Kind::File(content), mode)
    }

    /// A regular file with a mode and owner.
    pub fn file_owned(self, path: &str, content: impl Into<Vec<u8>>, mode: u32, uid: u64, gid: u64) -> Layer {
        let mut layer = self.file_mode(path, content, mode);
        let last = layer.entries.last_mut().expect("just pushed");
        (last.uid, last.gid) = (uid, gid);
        layer
    }

    /// A symlink; the target is written as given (relative or absolute).
    pub fn symlink(self, path: &str, target: &str) -> Layer {
        self.push(path, Kind::Symlink(target.to_string()), 0o777)
    }

    /// A hardlink to an earlier entry (the target is an archive path, as given).
    pub fn hardlink(self, path: &str, target: &str) -> Layer {
        self.push(path, Kind::Hardlink(target.to_string()), 0o644)
    }

    /// A character device node (e.g. 1, 3 for /dev/null).
    pub fn char_device(self, path: &str, major: u32, minor: u32) -> Layer {
        self.push(path, Kind::CharDevice(major, minor), 0o666)
    }

    /// Deletes `path` of a lower layer: writes `dir/.wh.name`.
    pub fn whiteout(self, path: &str) -> Layer {
        let path = path.trim_start_matches('/').trim_end_matches('/');
        let marker = match path.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/.wh.{name}"),
            None => format!(".wh.{path}"),
        };
        self.file(&marker, Vec::new())
    }

    /// Hides everything lower layers had in `dir`: writes `dir/.wh..wh..opq`.
    pub fn opaque(self, dir: &str) -> Layer {
        let dir = dir.trim_start_matches('/').trim_end_matches('/');
        self.file(&format!("{dir}/.wh..wh..opq"), Vec::new())
    }

    /// A regular file whose name is written exactly as given (`../escape`, `/etc/evil`).
    pub fn verbatim_file(mut self, name: &str, content: impl Into<Vec<u8>>) -> Layer {
        self.entries.push(Entry {
            path: name.to_string(),
            kind: Kind::File(content.into().into()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            verbatim: true,
        });
        self
    }

    /// A hardlink whose name and target are written exactly as given.
    pub fn verbatim_hardlink(mut self, name: &str, target: &str) -> Layer {
        self.entries.push(Entry {
            path: name.to_string(),
            kind: Kind::Hardlink(target.to_string()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            verbatim: true,
        });
        self
    }

    /// The entry names as they will be written, in order.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.style == PathStyle::DotSlash {
            out.push("./".to_string());
        }
        for e in &self.entries {
            out.push(self.name_of(e));
        }
        out
    }

    fn name_of(&self, e: &Entry) -> String {
        if e.verbatim {
            return e.path.clone();
        }
        let prefix = match self.style {
            PathStyle::Bare => "",
            PathStyle::DotSlash => "./",
        };
        let slash = if matches!(e.kind, Kind::Dir) { "/" } else { "" };
        format!("{prefix}{}{slash}", e.path)
    }

    /// The uncompressed tar.
    pub fn tar(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        if self.style == PathStyle::DotSlash {
            tarw::append(&mut b, &Raw::dir("./"));
        }
        for e in &self.entries {
            let name = self.name_of(e);
            let hardlink_target;
            let (kind, data, link, device): (EntryType, &[u8], &str, _) = match &e.kind {
                Kind::Dir => (EntryType::Directory, &[], "", None),
                Kind::File(content) => (EntryType::Regular, content, "", None),
                Kind::Symlink(target) => (EntryType::Symlink, &[], target.as_str(), None),
                Kind::Hardlink(target) => {
                    hardlink_target = match (e.verbatim, self.style) {
                        (false, PathStyle::DotSlash) => format!("./{}", target.trim_start_matches('/')),
                        _ => target.clone(),
                    };
                    (EntryType::Link, &[], hardlink_target.as_str(), None)
                }
                Kind::CharDevice(major, minor) => (EntryType::Char, &[], "", Some((*major, *minor))),
            };
            tarw::append(
                &mut b,
                &Raw {
                    name: &name,
                    kind,
                    mode: e.mode,
                    uid: e.uid,
                    gid: e.gid,
                    link,
                    data,
                    device,
                },
            );
        }
        tarw::finish(b)
    }

    /// The gzip-compressed tar.
    pub fn tar_gz(&self) -> Vec<u8> {
        gzip(&self.tar())
    }

    /// The blob: the tar, compressed as asked.
    pub fn blob(&self, compression: Compression) -> Vec<u8> {
        match compression {
            Compression::None => self.tar(),
            Compression::Gzip => self.tar_gz(),
        }
    }

    /// `sha256:<hex>` of the uncompressed tar.
    pub fn diff_id(&self) -> String {
        digest(&self.tar())
    }
}

/// gzip at a fast level (tests want speed, not size).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Level::fast());
    e.write_all(bytes).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, EntryType, u32, u64, String, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let link = e.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap()).unwrap_or_default();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, h.entry_type(), h.mode().unwrap(), h.uid().unwrap(), link, data)
            })
            .collect()
    }

    fn sample() -> Layer {
        Layer::new()
            .dir("etc")
            .dir_mode("tmp", 0o1777)
            .file("etc/motd", "hi\n")
            .file_owned("home/user/.profile", "x", 0o600, 1000, 1000)
            .symlink("bin/sh", "busybox")
            .hardlink("etc/motd.link", "etc/motd")
            .char_device("dev/null", 1, 3)
            .whiteout("etc/hostname")
            .whiteout("gone")
            .opaque("srv/data")
    }

    #[test]
    fn layer_parses_back_with_every_entry_kind() {
        let got = entries(&sample().tar());
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/", "tmp/", "etc/motd", "home/user/.profile", "bin/sh", "etc/motd.link", "dev/null",
                "etc/.wh.hostname", ".wh.gone", "srv/data/.wh..wh..opq",
            ]
        );
        assert_eq!(got[1].1, EntryType::Directory);
        assert_eq!(got[1].2, 0o1777);
        assert_eq!(got[2].5, b"hi\n");
        assert_eq!((got[3].2, got[3].3), (0o600, 1000));
        assert_eq!((got[4].1, got[4].4.as_str()), (EntryType::Symlink, "busybox"));
        assert_eq!((got[5].1, got[5].4.as_str()), (EntryType::Link, "etc/motd"));
        assert_eq!(got[6].1, EntryType::Char);
        assert!(got[7].5.is_empty());
    }

    #[test]
    fn dot_slash_style_prefixes_names_and_link_targets() {
        let layer = sample().path_style(PathStyle::DotSlash);
        let got = entries(&layer.tar());
        assert_eq!(got[0].0, "./");
        assert!(got.iter().all(|e| e.0.starts_with("./")), "{:?}", layer.names());
        assert_eq!(got.iter().find(|e| e.1 == EntryType::Link).unwrap().4, "./etc/motd");
        assert_eq!(layer.names(), got.iter().map(|e| e.0.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn verbatim_names_and_long_names_survive() {
        let long = format!("a/{}", "b".repeat(150));
        let layer = Layer::new()
            .verbatim_file("../escape", "x")
            .verbatim_file("/etc/evil", "x")
            .verbatim_hardlink("evil", "../../etc/passwd")
            .file(&long, "long");
        let got = entries(&layer.tar());
        assert_eq!(got[0].0, "../escape");
        assert_eq!(got[1].0, "/etc/evil");
        assert_eq!(got[2].4, "../../etc/passwd");
        assert_eq!((got[3].0.as_str(), got[3].5.as_slice()), (long.as_str(), &b"long"[..]));
    }

    #[test]
    fn gzip_blob_decompresses_to_the_tar_and_diff_id_is_its_digest() {
        let layer = sample();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&layer.tar_gz()[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, layer.tar());
        assert_eq!(layer.diff_id(), digest(&layer.tar()));
        assert_eq!(layer.tar(), layer.tar(), "reproducible");
    }
}
