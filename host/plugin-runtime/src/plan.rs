//! Checking a storage driver's mount plan before the host performs it.
//!
//! A plan is what the driver asks for; [`check`] turns it into [`MountSpec`]s the kernel
//! layer can perform, refusing anything outside the driver's grants: a filesystem type
//! not in `[capabilities] mounts`, an overlay option that is not a known plain flag, a
//! path that is absolute or climbs with `..`. (Paths that resolve outside the root through
//! symlinks are refused later, by the kernel layer's `openat2(RESOLVE_BENEATH)`.)

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
            if !grants.mounts.contains(&MountCapability::Bind) {
                return Err("bind mounts were not granted (add \"bind\" to [capabilities] mounts)".into());
            }
            let mut read_only = false;
            for option in &m.options {
                match option.as_str() {
                    "ro" => read_only = true,
                    "rw" => read_only = false,
                    other => return Err(format!("bind option {other:?} is not allowed")),
                }
            }
            Ok(MountSpec::Bind { source: relative(&m.source)?, target: m.target.clone(), read_only })
        }
        other => Err(format!("filesystem type {other:?} is not one a storage driver may mount")),
    }
}

/// A path relative to the driver root, without `..`.
fn relative(path: &str) -> Result<String, String> {
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

    #[test]
    fn tmpfs_is_not_a_storage_mount() {
        let m = PlannedMount { fstype: "tmpfs".into(), source: "tmpfs".into(), target: "x".into(), options: vec![] };
        assert!(check(&[m], &grants(&[MountCapability::Overlay, MountCapability::Bind])).is_err());
    }
}
