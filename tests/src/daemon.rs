//! A real `hostctl daemon` per test: its own data root, socket, pidfile, plugin dir and
//! log under one temp dir, started from the release binary, talked to with the real CLI.
//!
//! [`TestDaemon::stop`] checks that nothing is left mounted under the test's dir; a
//! daemon still running when the value is dropped is stopped, and leftovers unmounted so
//! one failing test does not break the next.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::kernel::{cgroups_under, mounts_under, processes_mentioning, remove_cgroups, unmount_all_under};
use crate::plugins;

/// The `hostctl` binary under test: `$HOSTCTL_BIN`, else the release build beside the
/// test binary (`cargo build --release -p hostctl`).
pub fn hostctl_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("HOSTCTL_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("hostctl");
    assert!(bin.exists(), "{} is missing: run `cargo build --release -p hostctl` first", bin.display());
    static FRESH: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    if let Some(newer) = FRESH.get_or_init(|| newer_source(&bin)) {
        panic!("{} is older than {}: run `cargo build --release -p hostctl` (cargo test does not rebuild it)", bin.display(), newer.display());
    }
    bin
}

/// A source file of the binary (`host/*/src`, `host/*/Cargo.toml`, `wit/`) changed after
/// `bin` was built. Every host crate is a dependency of the binary, so any such change
/// relinks it; tests and benches under host/ do not, and are not looked at.
fn newer_source(bin: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let root = crate::plugins::repo_root();
    let mut stack = vec![root.join("wit")];
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("host")).into_iter().flatten().flatten() {
        stack.push(krate.path().join("src"));
        files.push(krate.path().join("Cargo.toml"));
    }
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.into_iter().find(|f| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|m| m > built))
}

/// How to start a [`TestDaemon`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Install the bundled plugins (default true).
    pub bundled: bool,
    /// Install the sandbox probe with this manifest text appended.
    pub probe: Option<String>,
    /// Extra TOML for the daemon's config file.
    pub config: String,
}

impl Default for Options {
    fn default() -> Self {
        Options { bundled: true, probe: None, config: String::new() }
    }
}

/// A running daemon for one test.
pub struct TestDaemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    cgroup_parent: String,
    /// The default network's bridge device the harness named (and deletes at drop).
    default_bridge: Option<String>,
    /// The bridges of the daemon's networks when it was last stopped.
    bridges: Vec<String>,
}

impl TestDaemon {
    /// A daemon with the bundled plugins and the default config.
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Self {
        let dir = tempfile::Builder::new().prefix("hostctl-test-").tempdir().expect("creating the test dir");
        if options.bundled {
            plugins::install_bundled(&dir.path().join("plugins"));
        }
        if let Some(extra) = &options.probe {
            plugins::install_probe(&dir.path().join("plugins"), extra);
        }
        // Each daemon's containers get cgroups under a parent of their own, so a test can
        // count what it left.
        let name = dir.path().file_name().expect("a temp dir has a name").to_string_lossy().into_owned();
        let cgroup_parent = name.clone();
        let parent_line = format!("cgroup-parent = \"{cgroup_parent}\"\n");
        let header = "[containers]\n";
        let mut config = match options.config.find(header) {
            _ if options.config.contains("cgroup-parent") => options.config.clone(),
            Some(at) => format!("{}{parent_line}{}", &options.config[..at + header.len()], &options.config[at + header.len()..]),
            None => format!("{}\n{header}{parent_line}", options.config),
        };
        // And a default bridge of their own (`hc-t-` and the temp dir's random suffix),
        // deleted when the test ends: the daemon keeps it, as Docker keeps docker0.
        let default_bridge = (!config.contains("default-bridge")).then(|| format!("hc-t-{}", &name["hostctl-test-".len()..]));
        if let Some(bridge) = &default_bridge {
            let line = format!("default-bridge = \"{bridge}\"\n");
            config = match config.find("[networks]\n") {
                Some(at) => format!("{}{line}{}", &config[..at + "[networks]\n".len()], &config[at + "[networks]\n".len()..]),
                None => format!("{config}\n[networks]\n{line}"),
            };
        }
        std::fs::write(dir.path().join("hostctl.toml"), config).expect("writing the config");
        let mut daemon = TestDaemon { dir, child: None, cgroup_parent, default_bridge, bridges: Vec::new() };
        daemon.spawn().unwrap_or_else(|log| panic!("the daemon did not start:\n{log}"));
        daemon
    }

    /// A daemon with the bundled plugins, the default config and `busybox:latest` loaded
    /// (from Debian's busybox-static, as a `docker save` archive).
    pub fn with_busybox() -> Self {
        Self::with_busybox_and(Options::default())
    }

    /// [`TestDaemon::with_busybox`], started with `options`.
    pub fn with_busybox_and(options: Options) -> Self {
        let daemon = Self::start_with(options);
        let path = daemon.dir().join("busybox.tar");
        let archive = crate::images::docker_save(&[crate::images::busybox_image("busybox:latest")], crate::images::SaveLayout::Legacy);
        std::fs::write(&path, archive).expect("writing the busybox archive");
        daemon.ok(&["load", "-q", "-i", path.to_str().expect("a UTF-8 temp path")]);
        daemon
    }

    /// The test's directory (data root, socket, plugins, log all live below it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir().join("root")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir().join("hostctl.sock")
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.dir().join("plugins")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir().join("hostctl.toml")
    }

    /// The default `bridge` network's device, when the harness named it.
    pub fn default_bridge(&self) -> Option<&str> {
        self.default_bridge.as_deref()
    }

    /// The cgroup parent of this daemon's containers (relative to each hierarchy's root).
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// `-H` for the CLI.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("daemon.log")).unwrap_or_default()
    }

    /// The command line that starts this daemon (in the foreground).
    pub fn daemon_command(&self) -> Command {
        let mut cmd = Command::new(hostctl_bin());
        cmd.arg("daemon")
            .arg("--config")
            .arg(self.config_path())
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--socket")
            .arg(self.socket())
            .arg("--plugin-dir")
            .arg(self.plugin_dir())
            .arg("--log-level")
            .arg("debug");
        cmd
    }

    /// Start the daemon; on failure, the log.
    fn spawn(&mut self) -> Result<(), String> {
        // Daemons of tests running side by side (in this process and in others) start one
        // at a time: each creates its default network at start, and two picking a free
        // subnet at the same moment would pick the same one. (A lock on the directory of
        // the tests' sources: it exists, and nothing is left behind.)
        let start_lock = std::fs::File::open(crate::plugins::repo_root().join("tests")).expect("opening tests/ to lock it");
        start_lock.lock().expect("locking tests/");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir().join("daemon.log")).expect("opening the log");
        let mut child = self
            .daemon_command()
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting hostctl daemon");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(status) = child.try_wait().expect("polling the daemon") {
                return Err(format!("exited with {status}\n{}", self.log()));
            }
            if self.hostctl(&["version"]).status.success() {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("did not answer within 60s\n{}", self.log()))
    }

    /// Run the CLI against this daemon.
    pub fn hostctl(&self, args: &[&str]) -> Output {
        Command::new(hostctl_bin()).arg("-H").arg(self.host()).args(args).stdin(Stdio::null()).output().expect("running hostctl")
    }

    /// Run the CLI and require success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.hostctl(args);
        assert!(
            out.status.success(),
            "hostctl {args:?} failed ({}):\n{}\n--- daemon log ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Run the CLI and require failure; (exit code, stderr).
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.hostctl(args);
        assert!(!out.status.success(), "hostctl {args:?} succeeded:\n{}", String::from_utf8_lossy(&out.stdout));
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// SIGTERM the daemon and wait for it; then require that nothing is mounted under the
    /// test dir, no container cgroup and no shim or container process is left, and the
    /// socket and pidfile are gone. (Containers outlive their daemon by design: a test
    /// removes them before it stops the daemon.)
    pub fn stop(&mut self) {
        if self.child.is_some() {
            self.bridges = self.bridge_devices();
        }
        self.terminate();
        let leaked = mounts_under(self.dir());
        assert!(leaked.is_empty(), "mounts left after the daemon stopped: {leaked:?}");
        let cgroups = cgroups_under(&self.cgroup_parent);
        assert!(cgroups.is_empty(), "cgroups left after the daemon stopped: {cgroups:?}");
        let processes = processes_mentioning(self.dir());
        assert!(processes.is_empty(), "processes left after the daemon stopped: {processes:?}");
        assert!(!self.socket().exists(), "the socket outlived the daemon");
        assert!(!self.socket().with_extension("pid").exists(), "the pidfile outlived the daemon");
    }

    /// Stop and start again on the same data root.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|log| panic!("the daemon did not restart:\n{log}"));
    }

    /// Kill the daemon with SIGKILL (no clean-up), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again after [`TestDaemon::kill`] or [`TestDaemon::stop`].
    pub fn start_again(&mut self) {
        self.spawn().unwrap_or_else(|log| panic!("the daemon did not start again:\n{log}"));
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if child.try_wait().expect("polling the daemon").is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the daemon ignored SIGTERM for 30s\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl TestDaemon {
    /// The bridge devices of this daemon's bridge networks (while it serves).
    fn bridge_devices(&self) -> Vec<String> {
        let ids = self.hostctl(&["network", "ls", "-q"]);
        let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout).split_whitespace().map(str::to_owned).collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["network", "inspect"];
        args.extend(ids.iter().map(String::as_str));
        let out = self.hostctl(&args);
        let docs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        docs.as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["Driver"] == "bridge")
            .filter_map(|n| n["Options"]["com.docker.network.bridge.name"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        // A test that failed before removing its networks: their bridges go too (those
        // of the networks it had when it last stopped the daemon, or now).
        let bridges = if self.child.is_some() { self.bridge_devices() } else { std::mem::take(&mut self.bridges) };
        self.terminate();
        for bridge in bridges {
            crate::kernel::delete_link(&bridge);
        }
        // What a failed test left: its shims (by pid), its containers' cgroups (and the
        // processes in them), its mounts. All of it this test's own.
        for pid in processes_mentioning(self.dir.path()) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
        remove_cgroups(&self.cgroup_parent);
        unmount_all_under(self.dir.path());
        if let Some(bridge) = &self.default_bridge {
            crate::kernel::delete_link(bridge);
        }
    }
}
