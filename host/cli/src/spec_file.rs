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
//! [resources]
//! memory = "64m"
//! cpus = 0.5
//! pids-limit = 100
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use hostctl_api::toml_file::{self, TomlError};
use hostctl_api::types::ContainerCreate;
use serde::Deserialize;
use toml::Spanned;

/// A command: a list, or a string for `/bin/sh -c` (Docker's shell form).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Env {
    Table(BTreeMap<String, String>),
    List(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Resources {
    pub memory: Option<Spanned<String>>,
    pub cpus: Option<Spanned<f64>>,
    pub pids_limit: Option<i64>,
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
    let text = std::fs::read_to_string(path).map_err(|e| TomlError { path: path.to_owned(), line: 0, column: 0, message: format!("cannot read: {e}") })?;
    let file: SpecFile = toml_file::parse(path, &text)?;
    let at = |span: std::ops::Range<usize>, message: String| toml_file::error_at(path, &text, span.start, message);
    let mut create = ContainerCreate { image: file.image.unwrap_or_default(), ..Default::default() };
    create.cmd = file.command.map(CommandLine::into_args).unwrap_or_default();
    create.entrypoint = file.entrypoint.map(CommandLine::into_args);
    create.env = match file.env {
        Some(Env::Table(table)) => table.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        Some(Env::List(list)) => list,
        None => Vec::new(),
    };
    create.working_dir = file.workdir;
    create.hostname = file.hostname;
    create.user = file.user;
    create.labels = file.labels;
    if let Some(memory) = file.resources.memory {
        let bytes = hostctl_api::units::parse_bytes(memory.get_ref()).map_err(|e| at(memory.span(), format!("resources.memory: {e}")))?;
        create.host_config.memory = bytes as i64;
    }
    if let Some(cpus) = file.resources.cpus {
        create.host_config.nano_cpus = nano_cpus(*cpus.get_ref()).map_err(|e| at(cpus.span(), format!("resources.cpus: {e}")))?;
    }
    if let Some(pids) = file.resources.pids_limit {
        create.host_config.pids_limit = pids;
    }
    if let Some(network) = file.network {
        create.host_config.network_mode = network.into_inner();
    }
    for port in file.ports.unwrap_or_default() {
        let (p, binding) = hostctl_api::types::parse_port(port.get_ref()).map_err(|e| at(port.span(), format!("ports: {e}")))?;
        create.host_config.port_bindings.entry(p).or_default().push(binding);
    }
    for volume in file.volumes.unwrap_or_default() {
        let text = volume.get_ref();
        let parts: Vec<&str> = text.split(':').collect();
        if !(2..=3).contains(&parts.len()) || !parts[1].starts_with('/') {
            return Err(at(volume.span(), format!("volumes: {text:?}: expected NAME:/path[:ro] or /host/dir:/path[:ro]")));
        }
        create.host_config.binds.push(text.clone());
    }
    if let Some(restart) = file.restart {
        let policy = hostctl_api::types::RestartPolicy::parse(restart.get_ref());
        if policy.maximum_retry_count < 0 {
            return Err(at(restart.span(), format!("restart {:?}: the maximum retry count must be a number", restart.get_ref())));
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

    fn parse(text: &str) -> Result<Spec, TomlError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.toml");
        std::fs::write(&path, text).unwrap();
        read(&path)
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
    fn an_unknown_key_names_its_place() {
        let err = parse("image = \"busybox\"\n\n[resources]\nmemroy = \"1g\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (4, 1), "{err}");
        assert!(err.message.contains("memroy"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_its_place() {
        let err = parse("image = \"busybox\"\nrm = \"yes\"\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn a_bad_value_names_its_place_and_key() {
        let err = parse("image = \"busybox\"\n[resources]\nmemory = \"64q\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 10), "{err}");
        assert!(err.to_string().contains("resources.memory"), "{err}");
        let err = parse("restart = \"on-failure:x\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (1, 11), "{err}");
        assert_eq!(parse("restart = \"on-failure:3\"\n").unwrap().create.host_config.restart_policy.unwrap().maximum_retry_count, 3);
    }
}
