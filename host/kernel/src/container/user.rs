//! Who the container's process runs as. Docker's `User` string (`name`, `name:group`,
//! `uid`, `uid:gid`) is resolved inside the container, after pivot_root, from its own
//! `/etc/passwd` and `/etc/group`, the way moby's `user.GetExecUser` does: a name must
//! exist; a number need not (then the group is 0 and home `/`); supplementary groups
//! are the groups listing the user, unless a group was given explicitly. The spec's
//! `additionalGids` (`--group-add`) are added in every case.

/// What the spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRequest {
    /// `process.user` as numbers.
    Ids { uid: u32, gid: u32, additional: Vec<u32> },
    /// Docker's `User` string (the `io.hostctl.user` annotation).
    Docker { user: String, additional: Vec<u32> },
}

/// The credentials the process gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (`setgroups`), possibly empty.
    pub groups: Vec<u32>,
    /// For `HOME` when the environment has none.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter(|l| !l.starts_with('#')).filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6).then_some(())?;
        Some(PasswdEntry { name: f[0], uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5] })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter(|l| !l.starts_with('#')).filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 3).then_some(())?;
        let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
        Some(GroupEntry { name: f[0], gid: f[2].parse().ok()?, members })
    })
}

impl UserRequest {
    /// Resolve against the container's `/etc/passwd` and `/etc/group` (`None`: the file
    /// does not exist). Errors read as Docker's.
    pub fn resolve(&self, passwd: Option<&str>, group: Option<&str>) -> Result<ExecUser, String> {
        let (user, additional) = match self {
            UserRequest::Ids { uid, gid, additional } => {
                let home = passwd
                    .and_then(|p| passwd_entries(p).find(|e| e.uid == *uid).map(|e| e.home.to_owned()))
                    .unwrap_or_else(|| "/".into());
                let mut groups = additional.clone();
                groups.dedup();
                return Ok(ExecUser { uid: *uid, gid: *gid, groups, home });
            }
            UserRequest::Docker { user, additional } => (user.as_str(), additional),
        };
        let (user_arg, group_arg) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        let mut exec = ExecUser { uid: 0, gid: 0, groups: Vec::new(), home: "/".into() };
        let mut name = None;
        let found = passwd.and_then(|p| {
            passwd_entries(p).find(|e| e.name == user_arg).or_else(|| {
                let uid: u32 = user_arg.parse().ok()?;
                passwd_entries(p).find(|e| e.uid == uid)
            })
        });
        match (found, user_arg.parse::<u32>()) {
            (Some(entry), _) => {
                exec.uid = entry.uid;
                exec.gid = entry.gid;
                exec.home = entry.home.to_owned();
                name = Some(entry.name.to_owned());
            }
            (None, Ok(uid)) => exec.uid = uid,
            (None, Err(_)) if user_arg.is_empty() => {}
            (None, Err(_)) => return Err(format!("unable to find user {user_arg}: no matching entries in passwd file")),
        }
        match group_arg.filter(|g| !g.is_empty()) {
            Some(group_arg) => {
                let found = group.and_then(|g| group_entries(g).find(|e| e.name == group_arg).map(|e| e.gid));
                exec.gid = match (found, group_arg.parse::<u32>()) {
                    (Some(gid), _) | (None, Ok(gid)) => gid,
                    (None, Err(_)) => {
                        return Err(format!("unable to find group {group_arg}: no matching entries in group file"));
                    }
                };
            }
            None => {
                if let (Some(name), Some(group)) = (&name, group) {
                    exec.groups =
                        group_entries(group).filter(|e| e.members.contains(&name.as_str())).map(|e| e.gid).collect();
                }
            }
        }
        for gid in additional {
            if !exec.groups.contains(gid) {
                exec.groups.push(*gid);
            }
        }
        Ok(exec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nweb:x:1000:1000::/home/web:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\naudio:x:29:web,other\nvideo:x:44:other\n";

    fn docker(user: &str) -> Result<ExecUser, String> {
        UserRequest::Docker { user: user.into(), additional: vec![] }.resolve(Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn a_name_takes_uid_gid_home_and_the_groups_listing_it() {
        let u = docker("web").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/web"));
        assert_eq!(u.groups, [29]);
        let nobody = docker("nobody").unwrap();
        assert_eq!((nobody.uid, nobody.gid), (65534, 65534));
        assert!(nobody.groups.is_empty());
    }

    #[test]
    fn an_explicit_group_replaces_the_primary_and_drops_implicit_groups() {
        let u = docker("web:video").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 44));
        assert!(u.groups.is_empty());
        assert_eq!(docker("web:123").unwrap().gid, 123);
    }

    #[test]
    fn unknown_numbers_are_fine_unknown_names_are_not() {
        let u = docker("4242").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        assert_eq!(docker("4242:77").unwrap().gid, 77);
        assert_eq!(docker("1000").unwrap().home, "/home/web", "a known uid takes its entry");
        assert_eq!(docker("nosuch").unwrap_err(), "unable to find user nosuch: no matching entries in passwd file");
        assert_eq!(docker("web:nosuch").unwrap_err(), "unable to find group nosuch: no matching entries in group file");
    }

    #[test]
    fn missing_files_allow_numeric_ids_only() {
        let req = |u: &str| UserRequest::Docker { user: u.into(), additional: vec![5] }.resolve(None, None);
        let u = req("10:20").unwrap();
        assert_eq!((u.uid, u.gid, u.groups), (10, 20, vec![5]));
        assert!(req("nobody").is_err());
    }

    #[test]
    fn numeric_spec_ids_are_taken_as_given() {
        let req = UserRequest::Ids { uid: 1000, gid: 5, additional: vec![7, 8] };
        let u = req.resolve(Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid, u.groups, u.home.as_str()), (1000, 5, vec![7, 8], "/home/web"));
    }
}
