//! `hostctl create`: make a container without starting it, and the flags `run` shares.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use hostctl_api::types::{ContainerCreate, HostConfig};
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
    /// Add Linux capabilities (NET_ADMIN or CAP_NET_ADMIN, or ALL)
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities (ALL drops every one before --cap-add)
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add a host device to the container (HOST[:CONTAINER][:rwm])
    #[arg(long = "device")]
    pub devices: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD], e.g. nofile=1024:2048)
    #[arg(long = "ulimit")]
    pub ulimits: Vec<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", allow_negative_numbers = true)]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", allow_negative_numbers = true)]
    pub cpu_period: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Size of /dev/shm [default: 64m]
    #[arg(long = "shm-size", allow_hyphen_values = true)]
    pub shm_size: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
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
        self.security_options(&mut create.host_config).map_err(invalid)?;
        Ok(Request { name: self.name.clone().or(spec.name), create, detach: spec.detach })
    }
}

impl ContainerFlags {
    /// The security and resource flags over what the spec file set: lists add to the
    /// file's (a `--device` for a container path, or a `--ulimit` for a name, the file
    /// also has replaces it), the rest override it.
    fn security_options(&self, hc: &mut HostConfig) -> Result<(), String> {
        use hostctl_api::options::{normalize_capability, parse_device, parse_memory_swap, parse_ulimit};
        let size = |flag: &str, text: &str| {
            let bytes = hostctl_api::units::parse_bytes(text).map_err(|e| format!("{flag} {e}"))?;
            i64::try_from(bytes).map_err(|_| format!("{flag} {text:?}: too large"))
        };
        for (names, list) in [(&self.cap_add, &mut hc.cap_add), (&self.cap_drop, &mut hc.cap_drop)] {
            if !names.is_empty() {
                list.get_or_insert_with(Vec::new).extend(names.iter().map(|n| normalize_capability(n)));
            }
        }
        hc.privileged |= self.privileged;
        hc.readonly_rootfs |= self.read_only;
        for text in &self.devices {
            let device = parse_device(text).map_err(|e| format!("--device {text}: {e}"))?;
            hc.devices.retain(|d| d.path_in_container != device.path_in_container);
            hc.devices.push(device);
        }
        for text in &self.ulimits {
            let ulimit = parse_ulimit(text).map_err(|e| format!("--ulimit {text}: {e}"))?;
            hc.ulimits.retain(|u| u.name != ulimit.name);
            hc.ulimits.push(ulimit);
        }
        if let Some(shares) = self.cpu_shares {
            hc.cpu_shares = shares;
        }
        if let Some(quota) = self.cpu_quota {
            hc.cpu_quota = quota;
        }
        if let Some(period) = self.cpu_period {
            hc.cpu_period = period;
        }
        if let Some(cpus) = &self.cpuset_cpus {
            hc.cpuset_cpus = cpus.clone();
        }
        if let Some(mems) = &self.cpuset_mems {
            hc.cpuset_mems = mems.clone();
        }
        if let Some(swap) = &self.memory_swap {
            hc.memory_swap = parse_memory_swap(swap).map_err(|e| format!("--memory-swap {e}"))?;
        }
        if let Some(reservation) = &self.memory_reservation {
            hc.memory_reservation = size("--memory-reservation", reservation)?;
        }
        if let Some(shm) = &self.shm_size {
            hc.shm_size = size("--shm-size", shm)?;
        }
        if self.init {
            hc.init = Some(true);
        }
        Ok(())
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
    fn security_and_resource_flags_reach_the_request_in_dockers_syntax() {
        let cli = Cli::try_parse_from([
            "run", "--cap-add", "net_admin", "--cap-drop", "all", "--privileged", "--read-only", "--init",
            "--device", "/dev/fuse", "--device", "/dev/net/tun:/dev/tun:r", "--ulimit", "nofile=1024:2048",
            "-c", "512", "--cpu-quota", "-1", "--cpu-period", "100000", "--cpuset-cpus", "0-1", "--cpuset-mems", "0",
            "-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m", "--shm-size", "16m", "busybox",
        ])
        .unwrap();
        let hc = cli.flags.request().unwrap().create.host_config;
        assert_eq!((hc.cap_add.unwrap(), hc.cap_drop.unwrap()), (vec!["CAP_NET_ADMIN".to_owned()], vec!["ALL".to_owned()]));
        assert!(hc.privileged && hc.readonly_rootfs && hc.init == Some(true));
        assert_eq!(hc.devices.len(), 2);
        assert_eq!((hc.devices[1].path_in_container.as_str(), hc.devices[1].cgroup_permissions.as_str()), ("/dev/tun", "r"));
        assert_eq!((hc.ulimits[0].soft, hc.ulimits[0].hard), (1024, 2048));
        assert_eq!((hc.cpu_shares, hc.cpu_quota, hc.cpu_period), (512, -1, 100_000));
        assert_eq!((hc.cpuset_cpus.as_str(), hc.cpuset_mems.as_str()), ("0-1", "0"));
        assert_eq!((hc.memory_swap, hc.memory_reservation, hc.shm_size), (-1, 32 << 20, 16 << 20));
        let plain = Cli::try_parse_from(["run", "busybox"]).unwrap().flags.request().unwrap().create.host_config;
        assert_eq!((plain.cap_add, plain.init, plain.shm_size), (None, None, 0), "unset is Docker's unset");
    }

    #[test]
    fn bad_security_flags_are_refused_naming_the_flag() {
        let refused = |args: &[&str]| {
            let mut argv = vec!["run"];
            argv.extend_from_slice(args);
            argv.push("busybox");
            Cli::try_parse_from(argv).unwrap().flags.request().unwrap_err().to_string()
        };
        assert_eq!(refused(&["--device", "/dev/fuse:rwx"]), "--device /dev/fuse:rwx: rwx is not an absolute path");
        assert_eq!(refused(&["--ulimit", "nofile=2:1"]), "--ulimit nofile=2:1: ulimit soft limit must be less than or equal to hard limit: 2 > 1");
        assert_eq!(refused(&["--memory-swap", "1x"]), "--memory-swap \"1x\": expected a size like 128m, or -1 for unlimited swap");
        assert_eq!(refused(&["--shm-size", "-1"]), "--shm-size \"-1\": expected a size like 64m or 1g");
    }

    #[test]
    fn flags_add_to_the_files_lists_and_replace_its_entries_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("spec.toml");
        std::fs::write(&spec, "image = \"busybox\"\ncap-add = [\"NET_ADMIN\"]\nulimits = [\"nofile=10:20\", \"nproc=5\"]\ndevices = [\"/dev/fuse\"]\n").unwrap();
        let path = spec.to_str().unwrap();
        let args = ["run", "-f", path, "--cap-add", "SYS_TIME", "--ulimit", "nofile=30:40", "--device", "/dev/zero:/dev/fuse", "--shm-size", "1m"];
        let hc = Cli::try_parse_from(args).unwrap().flags.request().unwrap().create.host_config;
        assert_eq!(hc.cap_add.unwrap(), ["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
        assert_eq!(hc.ulimits.iter().map(|u| format!("{}={}:{}", u.name, u.soft, u.hard)).collect::<Vec<_>>(), ["nproc=5:5", "nofile=30:40"]);
        assert_eq!(hc.devices.len(), 1);
        assert_eq!(hc.devices[0].path_on_host, "/dev/zero");
        assert_eq!(hc.shm_size, 1 << 20);
    }

    #[test]
    fn a_bare_env_name_takes_the_clients_value_or_is_left_out() {
        let lookup = |name: &str| (name == "HOSTV").then(|| "from the client".to_owned());
        let flags = ["A=1", "HOSTV", "UNSET", "EMPTY=", "B=x=y"].map(String::from);
        assert_eq!(env_from_flags(&flags, lookup), ["A=1", "HOSTV=from the client", "EMPTY=", "B=x=y"]);
    }
}
