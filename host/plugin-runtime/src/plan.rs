//! Checking a driver's mount plan before the host performs it.
//!
//! A plan is what the driver asks for; [`check`] (storage drivers) and [`check_volume`]
//! (volume drivers) turn it into [`MountSpec`]s the kernel layer can perform, refusing
//! anything outside the driver's grants: a filesystem type not in `[capabilities] mounts`,
//! an overlay or tmpfs option that is not a known plain one, a path inside the root that
//! is absolute or climbs with `..`, a host directory to bind whose real path is not in
//! `bind-sources`. (Paths that resolve outside the root through symlinks are refused
//! later, by the kernel layer's `openat2(RESOLVE_BENEATH)`; a host directory is opened
//! there without following symlinks, so its real path is the one checked here.)

use std::path::{Path, PathBuf};

use hostctl_kernel::mount::MountSpec;

use crate::manifest::{Capabilities, MountCapability};

/// Overlay options a driver may pass: flags that change behaviour, never paths.
const OVERLAY_FLAGS: &[&str] = &[
    "index=on", "index=off", "redirect_dir=on", "redirect_dir=off", "redirect_dir=follow",
    "redirect_dir=nofollow", "metacopy=on", "metacopy=off", "xino=on", "xino=off",
    "xino=auto", "nfs_export=on", "nfs_export=off", "volatile", "userxattr",
];

/// One mount as a driver described it.
#[derive(Debug, Clone)]
pub struct PlannedMount {
    pub fstype: String,
    pub source: String,
    pub target: String,
    pub options: Vec<String>,
}

/// Check `mounts` against `grants`; the error is the reason, for the guest's name to be
/// put in front of.
pub fn check(mounts: &[PlannedMount], grants: &Capabilities) -> Result<Vec<MountSpec>, String> {
    mounts.iter().map(|m| check_one(m, grants)).collect()
}

fn check_one(m: &PlannedMount, grants: &Capabilities) -> Result<MountSpec, String> {
    relative(&m.target)?;
    match m.fstype.as_str() {
        "overlay" => {
            if !grants.mounts.contains(&MountCapability::Overlay) {
                return Err("overlay mounts were not granted (add \"overlay\" to [capabilities] mounts)".into());
            }
            let (mut lowerdirs, mut upperdir, mut workdir, mut flags) = (Vec::new(), None, None, Vec::new());
            for option in &m.options {
                match option.split_once('=') {
                    Some(("lowerdir", dirs)) => {
                        for dir in dirs.split(':') {
                            lowerdirs.push(relative(dir)?);
                        }
                    }
                    Some(("upperdir", dir)) => upperdir = Some(relative(dir)?),
                    Some(("workdir", dir)) => workdir = Some(relative(dir)?),
                    _ if OVERLAY_FLAGS.contains(&option.as_str()) => flags.push(option.clone()),
                    _ => return Err(format!("overlay option {option:?} is not allowed")),
                }
            }
            if lowerdirs.is_empty() {
                return Err("an overlay mount needs lowerdir".into());
            }
            if upperdir.is_some() != workdir.is_some() {
                return Err("an overlay mount needs both upperdir and workdir, or neither".into());
            }
            Ok(MountSpec::Overlay { target: m.target.clone(), lowerdirs, upperdir, workdir, flags })
        }
        "bind" => {
            let read_only = check_bind(m, grants)?;
            Ok(MountSpec::Bind { source: relative(&m.source)?, target: m.target.clone(), read_only })
        }
        other => Err(format!("filesystem type {other:?} is not one a storage driver may mount")),
    }
}

/// Check a volume driver's `mounts` against `grants`. A bind's source is either a
/// directory inside the driver's root (relative) or a host directory (absolute), which
/// `resolve` turns into its real path (symlinks and `..` resolved) before it is matched
/// against `bind-sources`: a symlink cannot smuggle in a directory the grants do not name.
pub fn check_volume(
    mounts: &[PlannedMount],
    grants: &Capabilities,
    resolve: impl Fn(&Path) -> Result<PathBuf, String>,
) -> Result<Vec<MountSpec>, String> {
    mounts.iter().map(|m| check_volume_mount(m, grants, &resolve)).collect()
}

fn check_volume_mount(m: &PlannedMount, grants: &Capabilities, resolve: &impl Fn(&Path) -> Result<PathBuf, String>) -> Result<MountSpec, String> {
    let target = relative(&m.target)?;
    if target.split('/').all(|c| c.is_empty() || c == ".") {
        return Err(format!("target {target:?} is the driver's root itself; mount on a directory beneath it"));
    }
    match m.fstype.as_str() {
        "tmpfs" => {
            if !grants.mounts.contains(&MountCapability::Tmpfs) {
                return Err("tmpfs mounts were not granted (add \"tmpfs\" to [capabilities] mounts)".into());
            }
            for option in &m.options {
                tmpfs_option(option)?;
            }
            Ok(MountSpec::Tmpfs { target, options: m.options.clone() })
        }
        "bind" => {
            let read_only = check_bind(m, grants)?;
            if !m.source.starts_with('/') {
                return Ok(MountSpec::Bind { source: relative(&m.source)?, target, read_only });
            }
            if m.source.contains('\0') {
                return Err(format!("bind source {:?} is not a valid path", m.source));
            }
            let real = resolve(Path::new(&m.source))?;
            let shown = real.to_str().ok_or_else(|| format!("bind source {:?} is not valid UTF-8", real.display()))?;
            if !grants.may_bind_from(shown) {
                let really = if shown == m.source { String::new() } else { format!(" (really {shown:?})") };
                return Err(format!(
                    "bind source {:?}{really} is not in the plugin's bind-sources {:?}",
                    m.source, grants.bind_sources
                ));
            }
            Ok(MountSpec::HostBind { source: real, target, read_only })
        }
        other => Err(format!("filesystem type {other:?} is not one a volume driver may mount (tmpfs or bind)")),
    }
}

/// A bind mount's grant and options (`ro` or `rw`, the last one wins): whether it is
/// read-only.
fn check_bind(m: &PlannedMount, grants: &Capabilities) -> Result<bool, String> {
    if !grants.mounts.contains(&MountCapability::Bind) {
        return Err("bind mounts were not granted (add \"bind\" to [capabilities] mounts)".into());
    }
    let mut read_only = false;
    for option in &m.options {
        match option.as_str() {
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => return Err(format!("bind option {other:?} is not allowed (ro or rw)")),
        }
    }
    Ok(read_only)
}

/// A tmpfs option a volume may ask for: a flag, or a size, mode, owner or inode count.
fn tmpfs_option(option: &str) -> Result<(), String> {
    let number = |v: &str, radix: u32| !v.is_empty() && u64::from_str_radix(v, radix).is_ok();
    let sized = |v: &str| {
        let digits = v.strip_suffix(['k', 'K', 'm', 'M', 'g', 'G', '%']).unwrap_or(v);
        number(digits, 10)
    };
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
        Err(format!("tmpfs option {option:?} is not allowed (ro, rw, nosuid, nodev, noexec, size=, mode=, uid=, gid=, nr_inodes=)"))
    }
}

/// A path relative to the driver root, without `..`.
pub(crate) fn relative(path: &str) -> Result<String, String> {
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") || path.contains('\0') {
        return Err(format!("path {path:?} must be relative to the driver's root, without `..`"));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::MountCapability;

    fn grants(mounts: &[MountCapability]) -> Capabilities {
        Capabilities { mounts: mounts.iter().copied().collect(), ..Default::default() }
    }

    fn overlay(options: &[&str]) -> PlannedMount {
        PlannedMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            target: "c/merged".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn overlay_plan_becomes_a_spec() {
        let specs = check(&[overlay(&["lowerdir=l/A:l/B", "upperdir=c/diff", "workdir=c/work", "index=off"])], &grants(&[MountCapability::Overlay])).unwrap();
        assert_eq!(
            specs[0].to_string(),
            "overlay at c/merged lowerdir=l/A:l/B upperdir=c/diff workdir=c/work index=off"
        );
    }

    #[test]
    fn ungranted_fstype_is_refused() {
        let err = check(&[overlay(&["lowerdir=l/A"])], &grants(&[MountCapability::Bind])).unwrap_err();
        assert!(err.contains("not granted"), "{err}");
    }

    #[test]
    fn paths_leaving_the_root_are_refused() {
        for bad in ["lowerdir=/etc", "lowerdir=l/A:../../etc", "upperdir=/tmp"] {
            let err = check(&[overlay(&[bad, "workdir=w"])], &grants(&[MountCapability::Overlay])).unwrap_err();
            assert!(err.contains("relative"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_overlay_options_are_refused() {
        let err = check(&[overlay(&["lowerdir=l/A", "nosuid,dev"])], &grants(&[MountCapability::Overlay])).unwrap_err();
        assert!(err.contains("not allowed"), "{err}");
    }

    fn volume_mount(fstype: &str, source: &str, options: &[&str]) -> PlannedMount {
        PlannedMount {
            fstype: fstype.into(),
            source: source.into(),
            target: "v/_data".into(),
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn volume_grants(bind_sources: &[&str]) -> Capabilities {
        Capabilities {
            mounts: [MountCapability::Tmpfs, MountCapability::Bind].into_iter().collect(),
            bind_sources: bind_sources.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// A resolver that follows one fake symlink, `/srv/link` -> `/etc`.
    fn resolve(path: &Path) -> Result<PathBuf, String> {
        Ok(match path.to_str() {
            Some("/srv/link") => PathBuf::from("/etc"),
            _ => path.to_owned(),
        })
    }

    #[test]
    fn tmpfs_volume_plan_becomes_a_spec() {
        let specs = check_volume(&[volume_mount("tmpfs", "tmpfs", &["size=64m", "mode=1777", "uid=1000", "nosuid"])], &volume_grants(&[]), resolve).unwrap();
        assert_eq!(specs[0].to_string(), "tmpfs at v/_data size=64m mode=1777 uid=1000 nosuid");
    }

    #[test]
    fn tmpfs_needs_its_grant_and_known_options() {
        let bind_only = Capabilities { mounts: [MountCapability::Bind].into_iter().collect(), ..Default::default() };
        let err = check_volume(&[volume_mount("tmpfs", "tmpfs", &[])], &bind_only, resolve).unwrap_err();
        assert!(err.contains("not granted"), "{err}");
        for bad in ["size=64q", "mode=99999", "mode=abc", "uid=-1", "mpol=bind", "size=1m,uid=0", "exec"] {
            let err = check_volume(&[volume_mount("tmpfs", "tmpfs", &[bad])], &volume_grants(&[]), resolve).unwrap_err();
            assert!(err.contains("not allowed"), "{bad}: {err}");
        }
    }

    #[test]
    fn host_binds_are_checked_on_their_real_path() {
        let grants = volume_grants(&["/srv/*"]);
        let specs = check_volume(&[volume_mount("bind", "/srv/data", &["ro"])], &grants, resolve).unwrap();
        assert_eq!(specs[0].to_string(), "bind host /srv/data at v/_data ro");
        let err = check_volume(&[volume_mount("bind", "/etc", &[])], &grants, resolve).unwrap_err();
        assert!(err.contains("bind-sources"), "{err}");
        let err = check_volume(&[volume_mount("bind", "/srv/link", &[])], &grants, resolve).unwrap_err();
        assert!(err.contains("really \"/etc\""), "{err}");
        let err = check_volume(&[volume_mount("bind", "/srv/data", &["rbind"])], &grants, resolve).unwrap_err();
        assert!(err.contains("not allowed"), "{err}");
    }

    #[test]
    fn volume_targets_stay_beneath_the_root() {
        for target in ["/etc", "../x", ".", ""] {
            let m = PlannedMount { target: target.into(), ..volume_mount("tmpfs", "tmpfs", &[]) };
            assert!(check_volume(&[m], &volume_grants(&[]), resolve).is_err(), "{target:?}");
        }
        let overlay = volume_mount("overlay", "overlay", &["lowerdir=a"]);
        assert!(check_volume(&[overlay], &volume_grants(&[]), resolve).is_err());
    }

    #[test]
    fn tmpfs_is_not_a_storage_mount() {
        let m = PlannedMount { fstype: "tmpfs".into(), source: "tmpfs".into(), target: "x".into(), options: vec![] };
        assert!(check(&[m], &grants(&[MountCapability::Overlay, MountCapability::Bind])).is_err());
    }
}
