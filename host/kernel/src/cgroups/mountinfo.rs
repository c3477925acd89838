//! Where the cgroup hierarchies are: the `cgroup` (v1) and `cgroup2` mounts of
//! `/proc/self/mountinfo`, and this process's own cgroups from `/proc/self/cgroup`.
//! Nothing here is hard-coded: a v1 hierarchy is whatever mount carries a controller in
//! its super options (`cpu` and `cpuacct` may share one mount or not), the unified
//! hierarchy is the first `cgroup2` mount.

use std::path::{Path, PathBuf};

/// Controllers a v1 mount can carry (named hierarchies such as `name=systemd` and mount
/// options such as `clone_children` are not controllers).
const V1_CONTROLLERS: &[&str] = &[
    "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory", "misc", "net_cls",
    "net_prio", "perf_event", "pids", "rdma",
];

/// One cgroup filesystem mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// Which cgroup of the hierarchy the mount shows at its mount point (`/` on a host;
    /// a container may see only its own subtree).
    pub root: String,
    /// The v1 controllers it carries; empty for cgroup2.
    pub controllers: Vec<String>,
}

/// The cgroup mounts of a mount table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMounts {
    /// v1 hierarchies with at least one controller, first mount of each.
    pub v1: Vec<CgroupMount>,
    /// The unified (cgroup2) hierarchy, if mounted.
    pub unified: Option<CgroupMount>,
}

impl CgroupMounts {
    /// Parse the text of `/proc/<pid>/mountinfo`.
    pub fn parse(mountinfo: &str) -> CgroupMounts {
        let mut mounts = CgroupMounts::default();
        for line in mountinfo.lines() {
            let Some(entry) = Entry::parse(line) else { continue };
            match entry.fstype {
                "cgroup2" if mounts.unified.is_none() => {
                    mounts.unified = Some(CgroupMount {
                        mount_point: PathBuf::from(unescape(entry.mount_point)),
                        root: unescape(entry.root),
                        controllers: Vec::new(),
                    });
                }
                "cgroup" => {
                    let controllers: Vec<String> = entry
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o))
                        .map(str::to_owned)
                        .collect();
                    let seen = mounts.v1.iter().any(|m| m.controllers == controllers);
                    if !controllers.is_empty() && !seen {
                        mounts.v1.push(CgroupMount {
                            mount_point: PathBuf::from(unescape(entry.mount_point)),
                            root: unescape(entry.root),
                            controllers,
                        });
                    }
                }
                _ => {}
            }
        }
        mounts
    }

    /// The v1 mount carrying `controller`.
    pub fn v1_with(&self, controller: &str) -> Option<&CgroupMount> {
        self.v1.iter().find(|m| m.controllers.iter().any(|c| c == controller))
    }
}

impl CgroupMount {
    /// The directory of cgroup `path` (absolute in the hierarchy) under this mount.
    /// A path outside what the mount shows is taken as relative to the mount's root, as
    /// runc does inside a container that sees only its own subtree.
    pub fn dir_of(&self, path: &str) -> PathBuf {
        let inside = match path.strip_prefix(self.root.trim_end_matches('/')) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => path,
        };
        self.mount_point.join(inside.trim_start_matches('/'))
    }
}

/// The fields of one mountinfo line this module needs.
struct Entry<'a> {
    root: &'a str,
    mount_point: &'a str,
    fstype: &'a str,
    super_options: &'a str,
}

impl<'a> Entry<'a> {
    /// `id parent maj:min root mount_point options [optional...] - fstype source super_options`
    fn parse(line: &'a str) -> Option<Entry<'a>> {
        let fields: Vec<&str> = line.split(' ').collect();
        let dash = fields.iter().position(|f| *f == "-")?;
        if dash < 6 || fields.len() < dash + 4 {
            return None;
        }
        Some(Entry { root: fields[3], mount_point: fields[4], fstype: fields[dash + 1], super_options: fields[dash + 3] })
    }
}

/// This process's cgroup in the hierarchy that `mount` shows, from the text of
/// `/proc/self/cgroup` (`N:controllers:/path`, `0::/path` for cgroup2).
pub fn own_cgroup(proc_cgroup: &str, mount: &CgroupMount) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if mount.controllers.is_empty() {
            controllers.is_empty()
        } else {
            let listed: Vec<&str> = controllers.split(',').collect();
            mount.controllers.iter().all(|c| listed.contains(&c.as_str()))
        };
        matches.then(|| path.to_owned())
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let code = std::str::from_utf8(&bytes[i + 1..i + 4]).ok().and_then(|c| u8::from_str_radix(c, 8).ok());
            if let Some(b) = code {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` is a plain absolute or relative cgroup path (no `..`, no NUL).
pub(crate) fn is_plain_cgroup_path(path: &str) -> bool {
    !path.contains('\0') && Path::new(path).components().all(|c| !matches!(c, std::path::Component::ParentDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This project's machines: v1 controllers on separate mounts (cpu and cpuacct too),
    /// `name=systemd`, cgroup2 at /sys/fs/cgroup/unified.
    const HYBRID: &str = "\
23 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A current systemd distribution: only cgroup2.
    const PURE_V2: &str = "\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// Debian 10/11 with systemd's legacy layout: cpu and cpuacct share one mount.
    const COMBINED: &str = "\
27 22 0:24 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
28 27 0:25 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
29 27 0:26 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
33 27 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
34 27 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
35 27 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
36 27 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,memory
";

    #[test]
    fn hybrid_has_separate_cpu_and_cpuacct_and_a_unified_mount() {
        let m = CgroupMounts::parse(HYBRID);
        assert_eq!(m.v1_with("cpu").unwrap().mount_point, Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(m.v1_with("cpuacct").unwrap().mount_point, Path::new("/sys/fs/cgroup/cpuacct"));
        assert_eq!(m.v1_with("memory").unwrap().controllers, ["memory"]);
        assert_eq!(m.v1_with("pids").unwrap().mount_point, Path::new("/sys/fs/cgroup/pids"));
        assert!(m.v1.iter().all(|h| !h.controllers.is_empty()), "name=systemd is not a controller hierarchy");
        assert_eq!(m.v1.len(), 6);
        assert_eq!(m.unified.unwrap().mount_point, Path::new("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn pure_v2_has_no_v1_hierarchies() {
        let m = CgroupMounts::parse(PURE_V2);
        assert!(m.v1.is_empty());
        let unified = m.unified.unwrap();
        assert_eq!(unified.mount_point, Path::new("/sys/fs/cgroup"));
        assert_eq!(unified.dir_of("/hostctl/abc"), Path::new("/sys/fs/cgroup/hostctl/abc"));
    }

    #[test]
    fn combined_cpu_cpuacct_is_one_hierarchy_and_duplicates_are_ignored() {
        let m = CgroupMounts::parse(COMBINED);
        let cpu = m.v1_with("cpu").unwrap();
        assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(cpu.controllers, ["cpu", "cpuacct"]);
        assert_eq!(m.v1_with("cpuacct").unwrap(), cpu);
        assert_eq!(m.v1.len(), 3, "the second memory mount is the same hierarchy");
    }

    #[test]
    fn a_mount_showing_a_subtree_strips_its_root() {
        let line = "50 40 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let m = CgroupMounts::parse(line);
        let memory = m.v1_with("memory").unwrap();
        assert_eq!(memory.dir_of("/docker/abc/child"), Path::new("/sys/fs/cgroup/memory/child"));
        assert_eq!(memory.dir_of("/hostctl/x"), Path::new("/sys/fs/cgroup/memory/hostctl/x"));
    }

    #[test]
    fn escaped_mount_points_are_unescaped() {
        let line = "50 40 0:32 / /mnt/cgroup\\040v2 rw - cgroup2 cgroup2 rw\n";
        assert_eq!(CgroupMounts::parse(line).unified.unwrap().mount_point, Path::new("/mnt/cgroup v2"));
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("trailing\\"), "trailing\\");
    }

    #[test]
    fn own_cgroup_matches_controllers_or_the_unified_line() {
        let proc_cgroup = "4:memory:/process_api/979a\n2:cpu,cpuacct:/\n0::/init.scope\n";
        let m = CgroupMounts::parse(COMBINED);
        assert_eq!(own_cgroup(proc_cgroup, m.v1_with("memory").unwrap()).as_deref(), Some("/process_api/979a"));
        assert_eq!(own_cgroup(proc_cgroup, m.v1_with("cpu").unwrap()).as_deref(), Some("/"));
        assert_eq!(own_cgroup(proc_cgroup, m.unified.as_ref().unwrap()).as_deref(), Some("/init.scope"));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert_eq!(CgroupMounts::parse("nonsense\n1 2 3\n- - -\n"), CgroupMounts::default());
    }
}
