//! `hostctl create`: make a container without starting it, and the flags `run` shares.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use hostctl_api::types::ContainerCreate;
use hostctl_api::{ApiError, Client, ErrorKind};

use crate::spec_file;

/// What `create` and `run` take to describe a container. A value given here overrides
/// the spec file's (`-f`).
#[derive(Debug, Clone, Args)]
pub struct ContainerFlags {
    /// Read the container's description from a TOML file (flags override it)
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (K=V, or K for K's value here)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set metadata on the container (K=V)
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Connect to a network: a network's name, "none" (only lo) or "host" [default: bridge]
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Publish a container's port to the host ([ip:]host-port:container-port[/proto])
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Bind a volume or a host directory (NAME:/path[:ro] or /host/dir:/path[:ro])
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Restart policy: no, always, unless-stopped, on-failure[:max-retries]
    #[arg(long)]
    pub restart: Option<String>,
    /// Security options: seccomp=unconfined|builtin|PROFILE.json, no-new-privileges[=false]
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "IMAGE [COMMAND] [ARG...]")]
    pub args: Vec<String>,
}

/// A container request, from the spec file overridden by the flags.
#[derive(Debug, Clone)]
pub struct Request {
    pub name: Option<String>,
    pub create: ContainerCreate,
    pub detach: Option<bool>,
}

impl ContainerFlags {
    /// The request these flags and their `-f` file describe; every error is an invalid
    /// argument, found before anything is sent to the daemon.
    pub fn request(&self) -> Result<Request, ApiError> {
        let invalid = |m: String| ApiError::new(ErrorKind::InvalidArgument, m);
        let spec = match &self.file {
            Some(path) => spec_file::read(path).map_err(|e| invalid(e.to_string()))?,
            None => spec_file::Spec::default(),
        };
        let mut create = spec.create;
        if let Some((image, command)) = self.args.split_first() {
            create.image = image.clone();
            if !command.is_empty() {
                create.cmd = command.to_vec();
            }
        }
        if create.image.is_empty() {
            return Err(invalid("an IMAGE is required (on the command line, or `image` in the -f file)".into()));
        }
        create.env.extend(env_from_flags(&self.env, |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())));
        for label in &self.labels {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            create.labels.insert(k.to_owned(), v.to_owned());
        }
        if let Some(w) = &self.workdir {
            create.working_dir = Some(w.clone());
        }
        if let Some(h) = &self.hostname {
            create.hostname = Some(h.clone());
        }
        if let Some(u) = &self.user {
            create.user = Some(u.clone());
        }
        if let Some(e) = &self.entrypoint {
            create.entrypoint = Some(if e.is_empty() { Vec::new() } else { vec![e.clone()] });
        }
        if let Some(m) = &self.memory {
            create.host_config.memory = hostctl_api::units::parse_bytes(m).map_err(|e| invalid(format!("--memory {e}")))? as i64;
        }
        if let Some(c) = self.cpus {
            create.host_config.nano_cpus = spec_file::nano_cpus(c).map_err(|e| invalid(format!("--cpus {e}")))?;
        }
        if let Some(p) = self.pids_limit {
            create.host_config.pids_limit = p;
        }
        if let Some(n) = &self.network {
            create.host_config.network_mode = n.clone();
        }
        for p in &self.publish {
            let (port, binding) = hostctl_api::types::parse_port(p).map_err(invalid)?;
            create.host_config.port_bindings.entry(port).or_default().push(binding);
        }
        // A -v for a path the file mounts something at replaces the file's mount.
        let target = |bind: &str| bind.split(':').nth(1).map(str::to_owned);
        let flagged: Vec<String> = self.volumes.iter().filter_map(|v| target(v)).collect();
        create.host_config.binds.retain(|bind| !target(bind).is_some_and(|t| flagged.contains(&t)));
        create.host_config.binds.extend(self.volumes.iter().cloned());
        if let Some(r) = &self.restart {
            create.host_config.restart_policy = Some(hostctl_api::types::RestartPolicy::parse(r));
        }
        let flagged = self.security_opt.iter().map(|o| crate::security_opt::resolve(o, None)).collect::<Result<Vec<_>, _>>().map_err(invalid)?;
        create.host_config.security_opt = crate::security_opt::merge(std::mem::take(&mut create.host_config.security_opt), &flagged);
        create.host_config.auto_remove = self.rm || spec.rm.unwrap_or(false);
        Ok(Request { name: self.name.clone().or(spec.name), create, detach: spec.detach })
    }
}

/// `-e` values as Docker takes them: `K=V` as given; a bare `K` with `K`'s value in the
/// client's environment (`lookup`), or left out when `K` is not set there.
pub fn env_from_flags(flags: &[String], lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    flags
        .iter()
        .filter_map(|flag| if flag.contains('=') { Some(flag.clone()) } else { lookup(flag).map(|value| format!("{flag}={value}")) })
        .collect()
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub container: ContainerFlags,
}

pub async fn run(client: &Client, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let request = args.container.request()?;
    let created = client.create_container(request.name.as_deref(), &request.create).await?;
    println!("{}", created.id);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    #[command(disable_help_flag = true)]
    struct Cli {
        #[command(flatten)]
        flags: ContainerFlags,
    }

    #[test]
    fn a_volume_flag_replaces_the_files_mount_at_the_same_path() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("spec.toml");
        std::fs::write(&spec, "image = \"busybox\"\nvolumes = [\"data:/data\", \"/srv:/srv:ro\"]\n").unwrap();
        let cli = Cli::try_parse_from(["run", "-f", spec.to_str().unwrap(), "-v", "other:/data", "-v", "logs:/logs"]).unwrap();
        assert_eq!(cli.flags.request().unwrap().create.host_config.binds, ["/srv:/srv:ro", "other:/data", "logs:/logs"]);
    }

    #[test]
    fn a_bare_env_name_takes_the_clients_value_or_is_left_out() {
        let lookup = |name: &str| (name == "HOSTV").then(|| "from the client".to_owned());
        let flags = ["A=1", "HOSTV", "UNSET", "EMPTY=", "B=x=y"].map(String::from);
        assert_eq!(env_from_flags(&flags, lookup), ["A=1", "HOSTV=from the client", "EMPTY=", "B=x=y"]);
    }
}
