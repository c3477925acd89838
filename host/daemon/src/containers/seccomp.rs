//! A container's seccomp profile and `no_new_privs`, from Docker's `--security-opt`
//! strings (`HostConfig.SecurityOpt`), parsed once at create into [`SecurityOptions`]
//! and stored with the container:
//! - `seccomp=unconfined` (no filter), `seccomp=builtin` (Docker's default, as without
//!   the option), `seccomp=<profile JSON>` (the CLI reads `seccomp=FILE.json` and sends
//!   the file's content, as Docker's CLI does);
//! - `no-new-privileges` / `no-new-privileges=<bool>` (Go's `ParseBool`). hostctl's
//!   default is **on** (Docker's daemon defaults to off): `=false` turns it off.
//!
//! Other keys Docker knows (`apparmor`, `label`, `writable-cgroups`, …) are refused by
//! name, as is anything else: a 400 naming the option. At start, [`linux_seccomp`]
//! renders the profile ([`profile`]: Docker's default by default) against the spec's
//! final bounding set; a privileged container gets no default filter (Docker's rule),
//! but a profile it was given explicitly. [`check`] compiles a given profile at create,
//! so what would fail at start is refused then. [`precompiled`] compiles each distinct
//! rendered filter once per daemon, for the spec's annotation the shim then installs
//! without compiling again (see the kernel crate's `seccomp`).

pub mod profile;

use oci_spec::runtime::{LinuxSeccomp, Spec};
use serde::{Deserialize, Serialize};

use profile::{Host, Profile};

/// Which seccomp profile a container runs under.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile given as JSON.
    Profile(Box<Profile>),
}

/// The security options of a container, as parsed at create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityOptions {
    #[serde(default)]
    pub seccomp: Seccomp,
    #[serde(default = "on")]
    pub no_new_privileges: bool,
}

fn on() -> bool {
    true
}

impl Default for SecurityOptions {
    fn default() -> Self {
        SecurityOptions { seccomp: Seccomp::Default, no_new_privileges: true }
    }
}

impl SecurityOptions {
    /// Parse `HostConfig.SecurityOpt`; a later option of the same key wins, as in Docker.
    pub fn parse(options: &[String]) -> Result<SecurityOptions, String> {
        let mut parsed = SecurityOptions::default();
        for opt in options {
            parsed.apply(opt)?;
        }
        Ok(parsed)
    }

    fn apply(&mut self, opt: &str) -> Result<(), String> {
        if opt == "no-new-privileges" {
            self.no_new_privileges = true;
            return Ok(());
        }
        // Docker still takes `key:value`, the form before 17.04.
        let split = if opt.contains('=') { opt.split_once('=') } else { opt.split_once(':') };
        let Some((key, value)) = split else {
            return Err(refused(opt, "expected KEY=VALUE (seccomp=…, no-new-privileges[=true|false])"));
        };
        match key {
            "seccomp" => self.seccomp = seccomp(value).map_err(|reason| format!("--security-opt seccomp=…: {reason}"))?,
            "no-new-privileges" => self.no_new_privileges = parse_bool(value).ok_or_else(|| refused(opt, "expected true or false"))?,
            "apparmor" | "label" | "writable-cgroups" | "systempaths" => {
                return Err(refused(opt, &format!("{key} is not supported by hostctl (seccomp and no-new-privileges are)")));
            }
            _ => return Err(refused(opt, "unknown option (hostctl knows seccomp=… and no-new-privileges[=…])")),
        }
        Ok(())
    }
}

fn refused(opt: &str, reason: &str) -> String {
    format!("invalid --security-opt {opt:?}: {reason}")
}

fn seccomp(value: &str) -> Result<Seccomp, String> {
    match value {
        "unconfined" => Ok(Seccomp::Unconfined),
        "builtin" => Ok(Seccomp::Default),
        json if json.trim_start().starts_with('{') => {
            let de = &mut serde_json::Deserializer::from_str(json);
            let profile: Profile = serde_path_to_error::deserialize(de).map_err(|e| match e.path().to_string().as_str() {
                "." => format!("profile: {}", e.inner()),
                path => format!("profile: {path}: {}", e.inner()),
            })?;
            Ok(Seccomp::Profile(Box::new(profile)))
        }
        other => Err(format!(
            "{:?}: expected unconfined, builtin or a profile's JSON (the CLI sends a file's content)",
            other.chars().take(64).collect::<String>()
        )),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The `linux.seccomp` of a container with `options` whose spec gives the bounding
/// set (`process.capabilities.bounding`), as Docker's `WithSeccomp`: none when
/// unconfined, none by default for a `privileged` container, else the profile rendered
/// for this host.
pub fn linux_seccomp(options: &SecurityOptions, spec_bounding: &[String], privileged: bool) -> Result<Option<LinuxSeccomp>, String> {
    let profile = match &options.seccomp {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Default if privileged => return Ok(None),
        Seccomp::Default => Profile::docker_default(),
        Seccomp::Profile(profile) => profile,
    };
    profile.render(spec_bounding, &Host::this()).map_err(|e| format!("seccomp profile: {e}"))
}

/// `seccomp` compiled, as the text of the kernel crate's `PRECOMPILED_ANNOTATION`;
/// compiled once per distinct filter (the last few are kept, by their JSON).
pub fn precompiled(seccomp: &LinuxSeccomp) -> Result<String, String> {
    use std::sync::Mutex;
    const KEPT: usize = 8;
    static CACHE: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let key = serde_json::to_string(seccomp).map_err(|e| e.to_string())?;
    if let Some((_, text)) = CACHE.lock().expect("not poisoned").iter().find(|(k, _)| *k == key) {
        return Ok(text.clone());
    }
    let filter = hostctl_kernel::container::seccomp::compile(seccomp).map_err(|e| format!("seccomp profile: {e}"))?;
    let text = filter.encode(seccomp);
    let mut cache = CACHE.lock().expect("not poisoned");
    if cache.len() == KEPT {
        cache.remove(0);
    }
    cache.push((key, text.clone()));
    Ok(text)
}

/// The bounding set of `spec` as `CAP_…` names.
pub fn bounding_of(spec: &Spec) -> Vec<String> {
    let bounding = spec.process().as_ref().and_then(|p| p.capabilities().as_ref()).and_then(|c| c.bounding().clone());
    bounding.into_iter().flatten().filter_map(|c| serde_json::to_value(c).ok()?.as_str().map(str::to_owned)).collect()
}

/// Check a profile given with `options` as start will use it, so what would fail there
/// is refused at create: Docker's checks of its shape, then every rule (whatever its
/// `includes`/`excludes`) compiled by the kernel crate.
pub fn check(options: &SecurityOptions) -> Result<(), String> {
    let Seccomp::Profile(profile) = &options.seccomp else { return Ok(()) };
    let host = Host::this();
    let fail = |e: String| format!("--security-opt seccomp=…: profile: {e}");
    profile.render(&[], &host).map_err(fail)?;
    if let Some(every) = profile.render_every_rule(&host).map_err(fail)? {
        hostctl_kernel::container::seccomp::compile(&every).map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> Result<SecurityOptions, String> {
        SecurityOptions::parse(&options.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn no_options_mean_dockers_profile_and_no_new_privileges_on() {
        assert_eq!(parse(&[]).unwrap(), SecurityOptions { seccomp: Seccomp::Default, no_new_privileges: true });
        let old_record: SecurityOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(old_record, SecurityOptions::default(), "a record from before the field reads as the default");
    }

    #[test]
    fn dockers_option_strings_parse_to_typed_values() {
        assert_eq!(parse(&["seccomp=unconfined"]).unwrap().seccomp, Seccomp::Unconfined);
        assert_eq!(parse(&["seccomp:unconfined"]).unwrap().seccomp, Seccomp::Unconfined, "the old separator");
        assert_eq!(parse(&["seccomp=unconfined", "seccomp=builtin"]).unwrap().seccomp, Seccomp::Default, "the last wins");
        assert!(!parse(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        assert!(!parse(&["no-new-privileges=0"]).unwrap().no_new_privileges);
        assert!(parse(&["no-new-privileges=false", "no-new-privileges"]).unwrap().no_new_privileges);
        let json = r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":30}]}"#;
        let Seccomp::Profile(profile) = parse(&[json]).unwrap().seccomp else { panic!("a profile") };
        assert_eq!(profile.syscalls[0].errno_ret, Some(30));
    }

    #[test]
    fn a_bad_or_unsupported_option_is_refused_by_name() {
        assert_eq!(
            parse(&["apparmor=docker-default"]).unwrap_err(),
            "invalid --security-opt \"apparmor=docker-default\": apparmor is not supported by hostctl (seccomp and no-new-privileges are)"
        );
        assert!(parse(&["label=disable"]).unwrap_err().contains("label is not supported"));
        assert!(parse(&["colour=blue"]).unwrap_err().starts_with("invalid --security-opt \"colour=blue\": unknown option"));
        assert!(parse(&["no-new-privileges=maybe"]).unwrap_err().ends_with("expected true or false"));
        assert!(parse(&["disable"]).unwrap_err().starts_with("invalid --security-opt \"disable\": expected KEY=VALUE"));
        let path = parse(&["seccomp=/etc/profile.json"]).unwrap_err();
        assert!(path.starts_with("--security-opt seccomp=…: \"/etc/profile.json\": expected unconfined, builtin or a profile's JSON"), "{path}");
        let bad_action = parse(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_NOPE"}]}"#]).unwrap_err();
        assert!(bad_action.starts_with("--security-opt seccomp=…: profile: syscalls[0].action: unknown variant `SCMP_ACT_NOPE`"), "{bad_action}");
        let typo = parse(&[r#"seccomp={"defualtAction":"SCMP_ACT_ALLOW"}"#]).unwrap_err();
        assert!(typo.contains("unknown field `defualtAction`"), "{typo}");
    }

    #[test]
    fn a_profile_that_would_fail_at_start_is_refused_at_create() {
        let notify = parse(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#]).unwrap();
        let err = check(&notify).unwrap_err();
        assert!(err.starts_with("--security-opt seccomp=…: profile: syscalls[0].action: SCMP_ACT_NOTIFY needs a seccomp agent"), "{err}");
        let errno_on_allow = parse(&[r#"seccomp={"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":5}]}"#]).unwrap();
        assert!(check(&errno_on_allow).unwrap_err().contains("syscalls[0].errnoRet: SCMP_ACT_ALLOW returns no errno"));
        assert!(check(&SecurityOptions::default()).is_ok());
        let fine = parse(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":30}]}"#]).unwrap();
        assert!(check(&fine).is_ok());
    }

    #[test]
    fn unconfined_and_privileged_get_no_filter_but_an_explicit_profile_stays() {
        let caps = vec!["CAP_CHOWN".to_owned()];
        let unconfined = SecurityOptions { seccomp: Seccomp::Unconfined, no_new_privileges: true };
        assert_eq!(linux_seccomp(&unconfined, &caps, false).unwrap(), None);
        assert_eq!(linux_seccomp(&SecurityOptions::default(), &caps, true).unwrap(), None, "privileged: no default profile");
        assert!(linux_seccomp(&SecurityOptions::default(), &caps, false).unwrap().is_some());
        let own = parse(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#]).unwrap();
        assert!(linux_seccomp(&own, &caps, true).unwrap().is_some(), "privileged with its own profile keeps it, as Docker");
    }
}
