//! The daemon's configuration: `/etc/hostctl/hostctl.toml` (or `--config`), every key
//! optional with the default documented here, unknown keys refused with `file:line:col`.
//! Command-line flags override the file.
//!
//! ```toml
//! data-root = "/var/lib/hostctl"          # state, images, layers, plugin cache
//! socket = "/run/hostctl/hostctl.sock"    # the API's Unix socket
//! pidfile = "/run/hostctl/hostctl.pid"    # default: the socket's path with .pid
//! log-level = "info"                      # error, warn, info, debug, trace
//! log-file = "/var/log/hostctl.log"       # default: stderr (and this file when detached)
//!
//! [plugins]
//! dir = "/usr/local/lib/hostctl/plugins"  # one subdirectory per installed plugin
//! memory-limit = "256m"                   # per call, unless a manifest sets its own
//! call-timeout-ms = 10000                 # per call (streaming calls: without progress)
//!
//! [storage]
//! driver = "overlay2-store"               # the storage plugin to lay out images with
//!
//! [volumes]
//! driver = "volume-local"                 # the volume plugin of volumes created without
//!                                         # a driver (Docker's `local` means volume-local)
//!
//! [containers]
//! cgroup-parent = "hostctl"               # containers' cgroups: /<parent>/<id> in each hierarchy
//! cgroup-version = "auto"                 # auto (v1 when a v1 hierarchy has memory, as runc),
//!                                         # v1, or v2: the unified hierarchy even on a hybrid
//!                                         # host (device rules as a BPF program; a limit whose
//!                                         # controller it lacks is refused)
//! init-path = "/usr/bin/tini-static"      # the static init `--init` binds at /sbin/docker-init
//!                                         # (Debian's tini; Docker's docker-init is tini too)
//!
//! [restart]
//! plugin = "restart"                      # the restart policy plugin
//!
//! [networks]
//! default-bridge = "hc-bridge0"           # the bridge device of the default `bridge` network
//! default-subnet = "172.30.0.0/16"        # default: the bridge driver picks a free /16
//!
//! [events]
//! host = "node1"                          # default: the kernel's hostname; names this
//!                                         # host in NATS subjects
//! log-max-size = "16m"                    # the event log (<data-root>/events/), which
//!                                         # `events --since` replays and `seq` goes on
//!                                         # from: both of its files together, at least 16k
//!
//! [events.nats]                           # default: no NATS, the embedded bus alone
//! url = "nats://127.0.0.1:4222"           # also publish every event here, on
//!                                         # hostctl.events.<host>.<type>.<action>
//! buffer = 2048                           # events held while NATS is unreachable;
//!                                         # more are dropped, counted and logged
//! ```

use std::path::{Path, PathBuf};

use hostctl_api::toml_file::{self, TomlError};
use serde::Deserialize;

/// Where the config is read from when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/hostctl/hostctl.toml";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub data_root: PathBuf,
    pub socket: PathBuf,
    pub pidfile: Option<PathBuf>,
    pub log_level: String,
    pub log_file: Option<PathBuf>,
    pub plugins: PluginsConfig,
    pub storage: StorageConfig,
    pub volumes: VolumesConfig,
    pub containers: ContainersSection,
    pub restart: RestartSection,
    pub networks: NetworksSection,
    pub events: EventsConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginsConfig {
    pub dir: PathBuf,
    pub memory_limit: String,
    pub call_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct StorageConfig {
    pub driver: String,
}

/// `[events]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventsConfig {
    /// The host's name in NATS subjects; `None`: the kernel's hostname.
    pub host: Option<String>,
    /// The event log's bound, a size like `16m` (checked when the bus opens it).
    pub log_max_size: String,
    pub nats: NatsConfig,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { host: None, log_max_size: crate::events::log::DEFAULT_MAX_SIZE.into(), nats: NatsConfig::default() }
    }
}

/// `[events.nats]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NatsConfig {
    /// `None`: no NATS.
    pub url: Option<String>,
    pub buffer: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_root: "/var/lib/hostctl".into(),
            socket: hostctl_api::DEFAULT_SOCKET.into(),
            pidfile: None,
            log_level: "info".into(),
            log_file: None,
            plugins: PluginsConfig::default(),
            storage: StorageConfig::default(),
            volumes: VolumesConfig::default(),
            containers: ContainersSection::default(),
            restart: RestartSection::default(),
            networks: NetworksSection::default(),
            events: EventsConfig::default(),
        }
    }
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig { dir: "/usr/local/lib/hostctl/plugins".into(), memory_limit: "256m".into(), call_timeout_ms: 10_000 }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { driver: "overlay2-store".into() }
    }
}

/// `[volumes]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct VolumesConfig {
    /// The volume plugin of volumes created without a driver.
    pub driver: String,
}

impl Default for VolumesConfig {
    fn default() -> Self {
        VolumesConfig { driver: "volume-local".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ContainersSection {
    pub cgroup_parent: String,
    #[serde(deserialize_with = "cgroup_version")]
    pub cgroup_version: hostctl_kernel::cgroups::VersionChoice,
    /// The init `--init` runs as PID 1: a static binary, as it runs in any image.
    pub init_path: PathBuf,
}

/// `auto`, `v1` or `v2`; anything else is refused with its place in the file.
fn cgroup_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<hostctl_kernel::cgroups::VersionChoice, D::Error> {
    String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetworksSection {
    pub default_bridge: String,
    pub default_subnet: Option<String>,
}

impl Default for NetworksSection {
    fn default() -> Self {
        NetworksSection { default_bridge: "hc-bridge0".into(), default_subnet: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RestartSection {
    pub plugin: String,
}

impl Default for RestartSection {
    fn default() -> Self {
        RestartSection { plugin: "restart".into() }
    }
}

impl Default for ContainersSection {
    fn default() -> Self {
        ContainersSection { cgroup_parent: "hostctl".into(), cgroup_version: Default::default(), init_path: "/usr/bin/tini-static".into() }
    }
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig { url: None, buffer: crate::events::nats::DEFAULT_BUFFER }
    }
}

impl Config {
    /// Read `path`; a missing file is the default config only when it is the default path.
    pub fn load(path: Option<&Path>) -> Result<Config, TomlError> {
        match path {
            Some(path) => toml_file::read(path),
            None if Path::new(DEFAULT_CONFIG).exists() => toml_file::read(Path::new(DEFAULT_CONFIG)),
            None => Ok(Config::default()),
        }
    }

    /// The pidfile: configured, or the socket's path with `.pid`.
    pub fn pidfile(&self) -> PathBuf {
        self.pidfile.clone().unwrap_or_else(|| self.socket.with_extension("pid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(toml_file::parse::<Config>(Path::new("c.toml"), "").unwrap(), Config::default());
    }

    #[test]
    fn keys_override_defaults() {
        let c: Config = toml_file::parse(Path::new("c.toml"), "data-root = \"/x\"\n[plugins]\ncall-timeout-ms = 5\n").unwrap();
        assert_eq!(c.data_root, Path::new("/x"));
        assert_eq!(c.plugins.call_timeout_ms, 5);
        assert_eq!(c.plugins.dir, PluginsConfig::default().dir);
        assert_eq!(c.pidfile(), Path::new("/run/hostctl/hostctl.pid"));
    }

    #[test]
    fn the_init_is_debians_static_tini_unless_configured() {
        assert_eq!(Config::default().containers.init_path, Path::new("/usr/bin/tini-static"));
        let c: Config = toml_file::parse(Path::new("c.toml"), "[containers]\ninit-path = \"/opt/tini\"\n").unwrap();
        assert_eq!((c.containers.init_path.as_path(), c.containers.cgroup_parent.as_str()), (Path::new("/opt/tini"), "hostctl"));
    }

    #[test]
    fn events_default_to_the_bus_alone() {
        let c: Config = toml_file::parse(Path::new("c.toml"), "[events]\n").unwrap();
        assert_eq!((c.events.host, c.events.nats.url, c.events.nats.buffer), (None, None, 2048));
        assert_eq!(c.events.log_max_size, "16m");
        let c: Config = toml_file::parse(Path::new("c.toml"), "[events]\nhost = \"n1\"\nlog-max-size = \"64k\"\n[events.nats]\nurl = \"nats://127.0.0.1:4222\"\n").unwrap();
        assert_eq!(c.events.host.as_deref(), Some("n1"));
        assert_eq!(c.events.log_max_size, "64k");
        assert_eq!(c.events.nats.url.as_deref(), Some("nats://127.0.0.1:4222"));
        let err = toml_file::parse::<Config>(Path::new("c.toml"), "[events.nats]\nurl = \"nats://x\"\nsubject = \"y\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
    }

    #[test]
    fn the_cgroup_version_is_auto_v1_or_v2() {
        use hostctl_kernel::cgroups::VersionChoice;
        assert_eq!(Config::default().containers.cgroup_version, VersionChoice::Auto);
        let c: Config = toml_file::parse(Path::new("c.toml"), "[containers]\ncgroup-version = \"v2\"\n").unwrap();
        assert_eq!(c.containers.cgroup_version, VersionChoice::V2);
        let err = toml_file::parse::<Config>(Path::new("c.toml"), "[containers]\ncgroup-version = \"v3\"\n").unwrap_err();
        assert_eq!(err.to_string(), "c.toml:2:18: containers.cgroup-version: cgroup version \"v3\": expected auto, v1 or v2");
    }

    #[test]
    fn unknown_key_is_refused_with_its_place() {
        let err = toml_file::parse::<Config>(Path::new("c.toml"), "[storage]\ndriver = \"x\"\ncolour = 1\n").unwrap_err();
        assert_eq!(err.to_string(), "c.toml:3:1: storage.colour: unknown key, expected driver");
    }

    #[test]
    fn a_wrong_type_is_refused_with_its_place_and_key_in_words() {
        let err = |text: &str| toml_file::parse::<Config>(Path::new("c.toml"), text).unwrap_err().to_string();
        assert_eq!(err("[plugins]\ncall-timeout-ms = \"x\"\n"), "c.toml:2:19: plugins.call-timeout-ms: expected a non-negative integer, found a string \"x\"");
        assert_eq!(err("data-root = 5\n"), "c.toml:1:13: data-root: expected a string, found an integer");
        assert_eq!(err("[events.nats]\nbuffer = -1\n"), "c.toml:2:10: events.nats.buffer: expected a non-negative integer, found -1");
        assert_eq!(err("log-level = \"info\"\nlog-level = \"debug\"\n"), "c.toml:2:1: log-level: duplicate key");
    }
}
