//! Volume names and driver options, checked as Docker's `local` driver checks them.
//!
//! A name is `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. Options are `type`, `device` and `o`
//! (`docker volume create -o type=tmpfs -o device=tmpfs -o o=size=64m`); together they
//! say what the data directory is:
//! - no options: a plain directory;
//! - `type=tmpfs device=tmpfs [o=size=64m,mode=1777,uid=1000,gid=1000,nr_inodes=1k,ro,nosuid,nodev,noexec]`:
//!   a tmpfs the host mounts on it;
//! - `type=none o=bind[,ro] device=/host/dir`: a bind of a host directory.
//!
//! Anything else (another key, a filesystem this driver does not mount, a relative bind
//! device) is refused at create, so a volume that exists can always be mounted.

use hostctl_sdk::{Error, Result};

/// The longest name: keys of the host's kv store are at most 256 bytes (`v/<name>`).
pub const MAX_NAME: usize = 200;

/// What a volume's data directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// A plain directory: nothing to mount.
    Directory,
    /// A tmpfs with these options (`size=64m`, `mode=1777`, `nosuid`, ...).
    Tmpfs { options: Vec<String> },
    /// A bind of host directory `device`.
    Bind { device: String, read_only: bool },
}

impl Backing {
    /// Whether the data directory is a mount while the volume is in use.
    pub fn is_mount(&self) -> bool {
        !matches!(self, Backing::Directory)
    }
}

/// Refuse a name Docker's local driver would refuse.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || name.len() < 2 {
        return Err(Error::invalid(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; if you intended to pass a host directory, use an absolute path"
        )));
    }
    if name.len() > MAX_NAME {
        return Err(Error::invalid(format!("volume name of {} bytes: at most {MAX_NAME}", name.len())));
    }
    Ok(())
}

/// The backing `options` describe, or why they are refused.
pub fn parse(options: &[(String, String)]) -> Result<Backing> {
    let mut given = [None, None, None];
    for (key, value) in options {
        let slot = match key.as_str() {
            "type" => 0,
            "device" => 1,
            "o" => 2,
            other => return Err(Error::invalid(format!("invalid option: {other:?} (volume-local takes type, device and o)"))),
        };
        if given[slot].is_some() {
            return Err(Error::invalid(format!("option {key:?} is given twice")));
        }
        given[slot] = Some(value.as_str()).filter(|v| !v.is_empty());
    }
    let [kind, device, o] = given;
    if kind.is_none() && device.is_none() && o.is_none() {
        return Ok(Backing::Directory);
    }
    let kind = kind.ok_or_else(|| Error::invalid("missing required option: \"type\""))?;
    let device = device.ok_or_else(|| Error::invalid("missing required option: \"device\""))?;
    let o: Vec<&str> = o.map(|o| o.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    match kind {
        "tmpfs" => {
            if device != "tmpfs" {
                return Err(Error::invalid(format!("type=tmpfs needs device=tmpfs, not {device:?}")));
            }
            for option in &o {
                check_tmpfs_option(option)?;
            }
            Ok(Backing::Tmpfs { options: o.iter().map(|s| s.to_string()).collect() })
        }
        "none" => {
            let mut bind = false;
            let mut read_only = false;
            for option in &o {
                match *option {
                    "bind" => bind = true,
                    "ro" => read_only = true,
                    "rw" => read_only = false,
                    "rbind" => return Err(Error::invalid("o=rbind is not supported by volume-local: use o=bind")),
                    other => return Err(Error::invalid(format!("o={other:?} is not a bind option (bind, ro, rw)"))),
                }
            }
            if !bind {
                return Err(Error::invalid("type=none needs o=bind (volume-local binds host directories)"));
            }
            if !device.starts_with('/') || device.contains('\0') {
                return Err(Error::invalid(format!("device {device:?} must be an absolute host path for a bind")));
            }
            if device.split('/').any(|c| c == "..") {
                return Err(Error::invalid(format!("device {device:?} must not contain \"..\"")));
            }
            Ok(Backing::Bind { device: device.to_owned(), read_only })
        }
        other => Err(Error::invalid(format!(
            "type {other:?} is not supported by volume-local: use type=tmpfs (device=tmpfs) or type=none (o=bind, device=/host/dir)"
        ))),
    }
}

/// One entry of a tmpfs volume's `o`: a flag, or a size, mode, owner or inode count.
fn check_tmpfs_option(option: &str) -> Result<()> {
    let number = |v: &str, radix: u32| !v.is_empty() && u64::from_str_radix(v, radix).is_ok();
    let sized = |v: &str| number(v.strip_suffix(['k', 'K', 'm', 'M', 'g', 'G', '%']).unwrap_or(v), 10);
    let ok = match option.split_once('=') {
        None => matches!(option, "ro" | "rw" | "nosuid" | "nodev" | "noexec"),
        Some(("size" | "nr_inodes", v)) => sized(v),
        Some(("mode", v)) => number(v, 8) && u32::from_str_radix(v, 8).is_ok_and(|m| m <= 0o7777),
        Some(("uid" | "gid", v)) => v.parse::<u32>().is_ok(),
        Some(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "tmpfs option {option:?} is not one of size=, mode=, uid=, gid=, nr_inodes=, ro, rw, nosuid, nodev, noexec"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn refused(pairs: &[(&str, &str)]) -> String {
        let err = parse(&opts(pairs)).unwrap_err();
        assert_eq!(err.kind, hostctl_sdk::ErrorKind::InvalidArgument);
        err.message
    }

    #[test]
    fn names_follow_dockers_pattern() {
        for good in ["data", "my_vol.1-x", "0a", &"a".repeat(MAX_NAME)] {
            check_name(good).unwrap();
        }
        for bad in ["", "a", "-x", ".x", "a/b", "a b", "/srv/data", "ü1", &"a".repeat(MAX_NAME + 1)] {
            assert_eq!(check_name(bad).unwrap_err().kind, hostctl_sdk::ErrorKind::InvalidArgument, "{bad:?}");
        }
        assert!(check_name("/srv").unwrap_err().message.contains("absolute path"));
    }

    #[test]
    fn no_options_is_a_directory() {
        assert_eq!(parse(&[]).unwrap(), Backing::Directory);
        assert!(!Backing::Directory.is_mount());
    }

    #[test]
    fn tmpfs_takes_its_size_mode_and_owner() {
        let backing = parse(&opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=64m,mode=1777,uid=1000,gid=1000,nosuid")])).unwrap();
        assert_eq!(backing, Backing::Tmpfs { options: ["size=64m", "mode=1777", "uid=1000", "gid=1000", "nosuid"].map(String::from).to_vec() });
        assert_eq!(parse(&opts(&[("type", "tmpfs"), ("device", "tmpfs")])).unwrap(), Backing::Tmpfs { options: vec![] });
    }

    #[test]
    fn a_bind_needs_an_absolute_device_and_o_bind() {
        let backing = parse(&opts(&[("type", "none"), ("o", "bind,ro"), ("device", "/srv/data")])).unwrap();
        assert_eq!(backing, Backing::Bind { device: "/srv/data".into(), read_only: true });
        assert!(refused(&[("type", "none"), ("o", "bind"), ("device", "srv/data")]).contains("absolute"));
        assert!(refused(&[("type", "none"), ("o", "bind"), ("device", "/srv/../etc")]).contains(".."));
        assert!(refused(&[("type", "none"), ("device", "/srv/data")]).contains("o=bind"));
        assert!(refused(&[("type", "none"), ("o", "rbind"), ("device", "/srv")]).contains("rbind"));
    }

    #[test]
    fn bad_options_are_refused_with_the_reason() {
        assert!(refused(&[("colour", "red")]).contains("invalid option: \"colour\""));
        assert!(refused(&[("type", "tmpfs")]).contains("missing required option: \"device\""));
        assert!(refused(&[("device", "tmpfs")]).contains("missing required option: \"type\""));
        assert!(refused(&[("type", "tmpfs"), ("device", "/dev/sda")]).contains("device=tmpfs"));
        assert!(refused(&[("type", "nfs"), ("device", ":/x")]).contains("not supported"));
        for bad in ["size=64q", "mode=8", "uid=x", "mpol=bind", "exec"] {
            assert!(refused(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", bad)]).contains("tmpfs option"), "{bad}");
        }
        assert!(refused(&[("type", "tmpfs"), ("type", "none")]).contains("twice"));
    }
}
