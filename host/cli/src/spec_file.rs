//! `hostctl run -f spec.toml`: a container described in TOML. Every key is optional (the
//! command line can supply or override anything); an unknown key, a wrong type or a bad
//! value is an error naming `file:line:col` and the key.
//!
//! ```toml
//! name = "web"
//! image = "busybox"
//! command = ["httpd", "-f", "-p", "8080"]   # or a string, run by /bin/sh -c
//! entrypoint = ["/bin/sh", "-c"]
//! env = { GREETING = "hello" }              # or ["GREETING=hello"]
//! workdir = "/srv"
//! hostname = "web"
//! user = "nobody"
//! labels = { tier = "front" }
//! rm = true                                 # remove it when it exits (--rm)
//! detach = true                             # -d
//! network = "web"                           # a network, "none" or "host" (default: bridge)
//! ports = ["8080:80"]                       # -p
//! restart = "on-failure:3"                  # no, always, unless-stopped, on-failure[:N]
//! volumes = ["data:/data", "/srv/www:/www:ro"] # -v
//! security-opt = ["seccomp=profile.json"]   # --security-opt (a relative profile is beside this file)
//! cap-add = ["NET_ADMIN"]                   # --cap-add (cap-drop = ["ALL"]: --cap-drop)
//! privileged = false                        # --privileged
//! read-only = true                          # --read-only
//! devices = ["/dev/fuse", "/dev/net/tun:/dev/tun:r"] # --device
//! ulimits = ["nofile=1024:2048"]            # --ulimit
//! init = true                               # --init
//! [resources]
//! memory = "64m"
//! memory-swap = "128m"                      # or -1: unlimited swap
//! memory-reservation = "32m"
//! cpus = 0.5                                # or cpu-period/cpu-quota (microseconds)
//! cpu-shares = 512
//! cpuset-cpus = "0-1"                       # cpuset-mems = "0"
//! pids-limit = 100
//! shm-size = "128m"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use hostctl_api::toml_file::{self, TomlError};
use hostctl_api::types::ContainerCreate;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use toml::Spanned;

mod options;

/// A command: a list, or a string for `/bin/sh -c` (Docker's shell form).
#[derive(Debug, Clone, PartialEq)]
pub enum CommandLine {
    Exec(Vec<String>),
    Shell(String),
}

impl CommandLine {
    pub fn into_args(self) -> Vec<String> {
        match self {
            CommandLine::Exec(args) => args,
            CommandLine::Shell(line) => vec!["/bin/sh".into(), "-c".into(), line],
        }
    }
}

/// `env` as a table or as `K=V` strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Env {
    Table(BTreeMap<String, String>),
    List(Vec<Spanned<String>>),
}

// CommandLine and Env take one of two shapes. serde's `untagged` would do, but its error
// names the Rust enum and not what was expected; these visitors say it in the file's
// words, and a wrong element is reported at its own key (`env.A`, `command[1]`).

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = CommandLine;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings or a string (run by /bin/sh -c)")
            }
            fn visit_str<E: de::Error>(self, line: &str) -> Result<CommandLine, E> {
                Ok(CommandLine::Shell(line.to_owned()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<CommandLine, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element()? {
                    args.push(arg);
                }
                Ok(CommandLine::Exec(args))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for Env {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Env;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of \"K=V\" strings or a table of strings")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Env, A::Error> {
                let mut list = Vec::new();
                while let Some(entry) = seq.next_element()? {
                    list.push(entry);
                }
                Ok(Env::List(list))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Env, A::Error> {
                let mut table = BTreeMap::new();
                while let Some((name, value)) = map.next_entry()? {
                    table.insert(name, value);
                }
                Ok(Env::Table(table))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Resources {
    pub memory: Option<Spanned<String>>,
    pub cpus: Option<Spanned<f64>>,
    pub pids_limit: Option<i64>,
    pub memory_swap: Option<Spanned<options::MemorySwap>>,
    pub memory_reservation: Option<Spanned<String>>,
    pub cpu_shares: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub shm_size: Option<Spanned<String>>,
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpecFile {
    pub name: Option<String>,
    pub image: Option<String>,
    pub command: Option<CommandLine>,
    pub entrypoint: Option<CommandLine>,
    pub env: Option<Env>,
    pub workdir: Option<String>,
    pub hostname: Option<String>,
    pub user: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub rm: Option<bool>,
    pub detach: Option<bool>,
    pub network: Option<Spanned<String>>,
    pub restart: Option<Spanned<String>>,
    pub volumes: Option<Vec<Spanned<String>>>,
    pub ports: Option<Vec<Spanned<String>>>,
    pub security_opt: Option<Vec<Spanned<String>>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub privileged: Option<bool>,
    pub read_only: Option<bool>,
    pub devices: Option<Vec<Spanned<String>>>,
    pub ulimits: Option<Vec<Spanned<String>>>,
    pub init: Option<bool>,
    #[serde(default)]
    pub resources: Resources,
}

/// A spec file turned into a request, plus the run options it sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    pub name: Option<String>,
    pub create: ContainerCreate,
    pub rm: Option<bool>,
    pub detach: Option<bool>,
}

/// Read and check `path`.
pub fn read(path: &Path) -> Result<Spec, TomlError> {
    let text = toml_file::read_text(path)?;
    let file: SpecFile = toml_file::parse(path, &text)?;
    let at = |span: std::ops::Range<usize>, key: &str, message: String| toml_file::error_at(path, &text, span.start, key, message);
    let mut create = ContainerCreate::default();
    options::apply(&file, &mut create.host_config, &at)?;
    create.image = file.image.unwrap_or_default();
    create.cmd = file.command.map(CommandLine::into_args).unwrap_or_default();
    create.entrypoint = file.entrypoint.map(CommandLine::into_args);
    create.env = match file.env {
        Some(Env::Table(table)) => table.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        Some(Env::List(list)) => {
            if let Some((i, entry)) = list.iter().enumerate().find(|(_, e)| !e.get_ref().contains('=')) {
                return Err(at(entry.span(), &format!("env[{i}]"), format!("{:?}: expected K=V", entry.get_ref())));
            }
            list.into_iter().map(Spanned::into_inner).collect()
        }
        None => Vec::new(),
    };
    create.working_dir = file.workdir;
    create.hostname = file.hostname;
    create.user = file.user;
    create.labels = file.labels;
    if let Some(memory) = file.resources.memory {
        let bytes = hostctl_api::units::parse_bytes(memory.get_ref()).map_err(|e| at(memory.span(), "resources.memory", e))?;
        create.host_config.memory = bytes as i64;
    }
    if let Some(cpus) = file.resources.cpus {
        create.host_config.nano_cpus = nano_cpus(*cpus.get_ref()).map_err(|e| at(cpus.span(), "resources.cpus", e))?;
    }
    if let Some(pids) = file.resources.pids_limit {
        create.host_config.pids_limit = pids;
    }
    if let Some(network) = file.network {
        create.host_config.network_mode = network.into_inner();
    }
    for port in file.ports.unwrap_or_default() {
        let (p, binding) = hostctl_api::types::parse_port(port.get_ref()).map_err(|e| at(port.span(), "ports", e))?;
        create.host_config.port_bindings.entry(p).or_default().push(binding);
    }
    for volume in file.volumes.unwrap_or_default() {
        let text = volume.get_ref();
        let parts: Vec<&str> = text.split(':').collect();
        if !(2..=3).contains(&parts.len()) || !parts[1].starts_with('/') {
            return Err(at(volume.span(), "volumes", format!("{text:?}: expected NAME:/path[:ro] or /host/dir:/path[:ro]")));
        }
        create.host_config.binds.push(text.clone());
    }
    for opt in file.security_opt.unwrap_or_default() {
        let resolved = crate::security_opt::resolve(opt.get_ref(), path.parent()).map_err(|e| at(opt.span(), "security-opt", e))?;
        create.host_config.security_opt.push(resolved);
    }
    if let Some(restart) = file.restart {
        let policy = hostctl_api::types::RestartPolicy::parse(restart.get_ref());
        if policy.maximum_retry_count < 0 {
            return Err(at(restart.span(), "restart", format!("{:?}: the maximum retry count must be a number", restart.get_ref())));
        }
        create.host_config.restart_policy = Some(policy);
    }
    Ok(Spec { name: file.name, create, rm: file.rm, detach: file.detach })
}

/// `--cpus 0.5` as Docker's NanoCpus.
pub fn nano_cpus(cpus: f64) -> Result<i64, String> {
    if !cpus.is_finite() || cpus <= 0.0 {
        return Err(format!("{cpus}: expected a positive number of CPUs, like 0.5"));
    }
    Ok((cpus * 1e9).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn parse(text: &str) -> Result<Spec, TomlError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.toml");
        std::fs::write(&path, text).unwrap();
        read(&path)
    }

    /// The error line for `text`, with the file's name alone (`web.toml:…`).
    pub(super) fn error(text: &str) -> String {
        let err = parse(text).unwrap_err();
        TomlError { path: "web.toml".into(), ..err }.to_string()
    }

    #[test]
    fn a_full_spec_becomes_a_request() {
        let spec = parse(
            "name = \"web\"\nimage = \"busybox\"\ncommand = \"echo hi\"\nenv = { A = \"1\" }\nworkdir = \"/srv\"\nrm = true\n[resources]\nmemory = \"64m\"\ncpus = 0.5\npids-limit = 10\n",
        )
        .unwrap();
        assert_eq!(spec.name.as_deref(), Some("web"));
        assert_eq!(spec.create.cmd, ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(spec.create.env, ["A=1"]);
        assert_eq!(spec.create.host_config.memory, 64 << 20);
        assert_eq!(spec.create.host_config.nano_cpus, 500_000_000);
        assert_eq!(spec.create.host_config.pids_limit, 10);
        assert_eq!(spec.rm, Some(true));
    }

    #[test]
    fn command_and_env_take_either_shape() {
        let spec = parse("command = [\"echo\", \"hi\"]\nenv = [\"A=1\", \"B=2\"]\n").unwrap();
        assert_eq!(spec.create.cmd, ["echo", "hi"]);
        assert_eq!(spec.create.env, ["A=1", "B=2"]);
        let spec = parse("entrypoint = \"exec x\"\nenv = {}\n").unwrap();
        assert_eq!(spec.create.entrypoint.unwrap(), ["/bin/sh", "-c", "exec x"]);
        assert!(spec.create.env.is_empty());
    }

    #[test]
    fn an_unknown_key_names_its_place_and_key() {
        assert_eq!(
            error("image = \"busybox\"\n\n[resources]\nmemroy = \"1g\"\n"),
            "web.toml:4:1: resources.memroy: unknown key, expected one of memory, cpus, pids-limit, memory-swap, memory-reservation, cpu-shares, cpu-quota, cpu-period, cpuset-cpus, cpuset-mems, shm-size"
        );
        assert!(error("colour = 1\n").starts_with("web.toml:1:1: colour: unknown key, expected one of name, image, command,"));
    }

    #[test]
    fn security_opt_reads_a_profile_beside_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.json"), "{ \"defaultAction\": \"SCMP_ACT_ALLOW\" }").unwrap();
        let path = dir.path().join("web.toml");
        std::fs::write(&path, "security-opt = [\"seccomp=p.json\", \"no-new-privileges=false\"]\n").unwrap();
        let spec = read(&path).unwrap();
        assert_eq!(spec.create.host_config.security_opt, [r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#, "no-new-privileges=false"]);
        let err = TomlError { path: "web.toml".into(), ..parse("security-opt = [\"seccomp=missing.json\"]\n").unwrap_err() }.to_string();
        assert!(err.starts_with("web.toml:1:17: security-opt: --security-opt seccomp=missing.json: reading the profile"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_its_place_and_key_in_words() {
        assert_eq!(error("image = \"busybox\"\nrm = \"yes\"\n"), "web.toml:2:6: rm: expected a boolean, found a string \"yes\"");
        assert_eq!(error("[resources]\npids-limit = \"x\"\n"), "web.toml:2:14: resources.pids-limit: expected an integer, found a string \"x\"");
        assert_eq!(error("image = \"busybox\"\n[resources]\nmemory = 64\n"), "web.toml:3:10: resources.memory: expected a string, found an integer");
        assert_eq!(error("[resources]\ncpus = \"half\"\n"), "web.toml:2:8: resources.cpus: expected a number, found a string \"half\"");
        assert_eq!(error("volumes = \"data:/data\"\n"), "web.toml:1:11: volumes: expected a list, found a string \"data:/data\"");
    }

    #[test]
    fn a_wrong_command_or_env_says_what_either_shape_is() {
        assert_eq!(error("env = 5\n"), "web.toml:1:7: env: expected a list of \"K=V\" strings or a table of strings, found an integer");
        assert_eq!(error("env = { A = 1 }\n"), "web.toml:1:13: env.A: expected a string, found an integer");
        assert_eq!(error("env = [\"A=1\", true]\n"), "web.toml:1:15: env[1]: expected a string, found a boolean");
        assert_eq!(error("command = 5\n"), "web.toml:1:11: command: expected a list of strings or a string (run by /bin/sh -c), found an integer");
        assert_eq!(error("command = [\"echo\", 1]\n"), "web.toml:1:20: command[1]: expected a string, found an integer");
    }

    #[test]
    fn a_duplicate_key_is_named() {
        assert_eq!(error("image = \"busybox\"\nimage = \"other\"\n"), "web.toml:2:1: image: duplicate key");
    }

    #[test]
    fn a_bad_value_names_its_place_and_key() {
        assert_eq!(error("image = \"busybox\"\n[resources]\nmemory = \"64q\"\n"), "web.toml:3:10: resources.memory: \"64q\": expected a size like 64m or 1g");
        assert_eq!(error("restart = \"on-failure:x\"\n"), "web.toml:1:11: restart: \"on-failure:x\": the maximum retry count must be a number");
        assert_eq!(error("volumes = [\"data\"]\n"), "web.toml:1:12: volumes: \"data\": expected NAME:/path[:ro] or /host/dir:/path[:ro]");
        assert_eq!(error("env = [\"A=1\", \"HOSTV\"]\n"), "web.toml:1:15: env[1]: \"HOSTV\": expected K=V");
        assert_eq!(parse("restart = \"on-failure:3\"\n").unwrap().create.host_config.restart_policy.unwrap().maximum_retry_count, 3);
    }
}
