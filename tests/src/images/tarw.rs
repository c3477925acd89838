//! Writing tar entries verbatim. The `tar` crate's path setters refuse `..` and absolute
//! names, which is right for producers and wrong for a test that must build the hostile
//! archives a loader has to refuse. Here names and link targets go into the header as
//! given (GNU long-name entries carry the ones over 100 bytes), with a fixed mtime so
//! every build of an image has the same digests.

use tar::{Builder, EntryType, Header};

/// The mtime of every entry (2023-11-14T22:13:20Z): images are reproducible.
pub const MTIME: u64 = 1_700_000_000;

/// One entry to write.
pub(crate) struct Raw<'a> {
    pub name: &'a str,
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: &'a str,
    pub data: &'a [u8],
    pub device: Option<(u32, u32)>,
}

impl<'a> Raw<'a> {
    pub fn file(name: &'a str, data: &'a [u8]) -> Raw<'a> {
        Raw {
            name,
            kind: EntryType::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            link: "",
            data,
            device: None,
        }
    }

    pub fn dir(name: &'a str) -> Raw<'a> {
        Raw {
            kind: EntryType::Directory,
            mode: 0o755,
            ..Raw::file(name, &[])
        }
    }
}

/// Appends `entry` with its name and link target exactly as given.
pub(crate) fn append(builder: &mut Builder<Vec<u8>>, entry: &Raw<'_>) {
    if entry.name.len() > 100 {
        long_name(builder, EntryType::GNULongName, entry.name);
    }
    if entry.link.len() > 100 {
        long_name(builder, EntryType::GNULongLink, entry.link);
    }
    let mut header = Header::new_gnu();
    header.set_entry_type(entry.kind);
    let old = header.as_old_mut();
    let n = entry.name.len().min(100);
    old.name[..n].copy_from_slice(&entry.name.as_bytes()[..n]);
    let l = entry.link.len().min(100);
    old.linkname[..l].copy_from_slice(&entry.link.as_bytes()[..l]);
    header.set_mode(entry.mode);
    header.set_uid(entry.uid);
    header.set_gid(entry.gid);
    header.set_mtime(MTIME);
    header.set_size(entry.data.len() as u64);
    if let Some((major, minor)) = entry.device {
        header.set_device_major(major).expect("gnu header has device fields");
        header.set_device_minor(minor).expect("gnu header has device fields");
    }
    header.set_cksum();
    builder.append(&header, entry.data).expect("writing to a Vec cannot fail");
}

fn long_name(builder: &mut Builder<Vec<u8>>, kind: EntryType, name: &str) {
    let mut data = name.as_bytes().to_vec();
    data.push(0);
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder.append(&header, &data[..]).expect("writing to a Vec cannot fail");
}

/// A finished tar (two zero blocks at the end).
pub(crate) fn finish(builder: Builder<Vec<u8>>) -> Vec<u8> {
    builder.into_inner().expect("writing to a Vec cannot fail")
}
