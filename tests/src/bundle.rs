//! A container bundle for the shim's tests, as the daemon writes one: the busybox rootfs
//! unpacked with `tar -x` into a temp dir, a `config.json` built with `oci-spec` in
//! Docker's default shape (its mounts, masked and read-only paths, capability set,
//! no_new_privs, new pid/mount/uts/ipc/network namespaces), the bundle's own `hostname`
//! and `hosts` files, and a cgroup parent of its own (`/hostctl-test-…`).
//!
//! [`TestBundle::start`] runs the real `hostctl shim start`; [`TestBundle::request`]
//! talks to the shim's socket. [`TestBundle::assert_clean`] checks, after the container
//! has exited, that the shim is gone and left no mount, cgroup or process; dropping the
//! bundle cleans up after a failed test (its shim and container by pid, its cgroups, its
//! mounts).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hostctl_shim::bundle::Bundle;
use hostctl_shim::protocol::{ExitInfo, Request, Response, StartFailed, Started};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxResources, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use crate::daemon::hostctl_bin;
use crate::kernel::{cgroups_under, mounts_under, processes_mentioning, remove_cgroups, unmount_all_under};

/// Docker's default capabilities (`CapBnd: 00000000a80425fb`).
pub use hostctl_kernel::container::capabilities::DOCKER_DEFAULT as DOCKER_CAPABILITIES;

/// Docker's masked paths.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The hostname every test container gets.
pub const HOSTNAME: &str = "shimbox";

/// A bundle and everything a test made for it.
pub struct TestBundle {
    dir: tempfile::TempDir,
    id: String,
    cgroup_parent: String,
    /// The cgroup version the spec asks for.
    cgroup_version: hostctl_kernel::cgroups::VersionChoice,
    /// What `start` reported, to clean up after a failed test.
    started: Option<Started>,
}

/// A spec to edit before [`TestBundle::write`].
pub struct SpecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// Docker's `User` string, for the `io.hostctl.user` annotation.
    pub user: Option<String>,
    /// `--network host`: no network namespace, /sys bound from the host.
    pub host_network: bool,
    pub resources: Option<LinuxResources>,
    /// Docker's `/sys/fs/cgroup` mount.
    pub cgroup_mount: bool,
    /// The daemon's `[containers] cgroup-version`, as the spec's annotation carries it.
    pub cgroup_version: hostctl_kernel::cgroups::VersionChoice,
}

impl SpecOptions {
    pub fn new(args: &[&str]) -> Self {
        SpecOptions {
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(), format!("HOSTNAME={HOSTNAME}")],
            cwd: "/".into(),
            user: None,
            host_network: false,
            resources: None,
            cgroup_mount: false,
            cgroup_version: hostctl_kernel::cgroups::VersionChoice::Auto,
        }
    }
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> oci_spec::runtime::Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .expect("a valid mount")
}

impl TestBundle {
    /// Unpack the busybox rootfs and write `config.json` from `options`.
    pub fn new(options: SpecOptions) -> TestBundle {
        let dir = tempfile::Builder::new().prefix("hostctl-test-").tempdir().expect("a temp dir");
        let name = dir.path().file_name().expect("named").to_string_lossy().into_owned();
        let cgroup_version = options.cgroup_version;
        let bundle = TestBundle { id: "c1".into(), cgroup_parent: format!("/{name}"), cgroup_version, dir, started: None };
        std::fs::create_dir(bundle.rootfs()).expect("rootfs dir");
        std::fs::create_dir(bundle.bundle().dir()).expect("bundle dir");
        let mut tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(bundle.rootfs())
            .stdin(Stdio::piped())
            .spawn()
            .expect("running tar");
        tar.stdin.take().expect("piped").write_all(&crate::images::busybox_rootfs().tar()).expect("feeding tar");
        assert!(tar.wait().expect("tar").success(), "tar -x failed");
        std::fs::write(bundle.bundle().hostname_file(), format!("{HOSTNAME}\n")).expect("hostname file");
        std::fs::write(bundle.bundle().hosts_file(), format!("127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n")).expect("hosts");
        bundle.write_spec(&bundle.spec(&options));
        bundle
    }

    /// The spec the daemon would write for `options`.
    pub fn spec(&self, options: &SpecOptions) -> Spec {
        let caps: Capabilities = DOCKER_CAPABILITIES
            .iter()
            .map(|c| serde_json::from_value::<Capability>(serde_json::Value::String((*c).into())).expect("known"))
            .collect();
        let process = ProcessBuilder::default()
            .terminal(false)
            .user(UserBuilder::default().uid(0u32).gid(0u32).build().expect("user"))
            .args(options.args.clone())
            .env(options.env.clone())
            .cwd(options.cwd.as_str())
            .capabilities(
                LinuxCapabilitiesBuilder::default()
                    .bounding(caps.clone())
                    .effective(caps.clone())
                    .permitted(caps)
                    .inheritable(Capabilities::new())
                    .ambient(Capabilities::new())
                    .build()
                    .expect("capabilities"),
            )
            .no_new_privileges(true)
            .rlimits(Vec::new())
            .build()
            .expect("process");
        let sys = if options.host_network {
            mount("/sys", "bind", "/sys", &["rbind", "nosuid", "noexec", "nodev", "ro"])
        } else {
            mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"])
        };
        let mut mounts = vec![
            mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
            mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
            mount("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            sys,
            mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
            mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        ];
        if options.cgroup_mount {
            mounts.push(mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]));
        }
        let bundle = self.bundle();
        for (file, dest) in [(bundle.hostname_file(), "/etc/hostname"), (bundle.hosts_file(), "/etc/hosts")] {
            mounts.push(mount(dest, "bind", &file.to_string_lossy(), &["rbind", "rprivate"]));
        }
        let mut namespaces = vec![LinuxNamespaceType::Pid, LinuxNamespaceType::Mount, LinuxNamespaceType::Uts, LinuxNamespaceType::Ipc];
        if !options.host_network {
            namespaces.push(LinuxNamespaceType::Network);
        }
        let mut linux = LinuxBuilder::default()
            .namespaces(
                namespaces.into_iter().map(|t| LinuxNamespaceBuilder::default().typ(t).build().expect("ns")).collect::<Vec<_>>(),
            )
            .cgroups_path(format!("{}/{}", self.cgroup_parent, self.id))
            .masked_paths(MASKED_PATHS.iter().map(|p| p.to_string()).collect::<Vec<_>>())
            .readonly_paths(READONLY_PATHS.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        if let Some(resources) = &options.resources {
            linux = linux.resources(resources.clone());
        }
        let mut annotations = HashMap::new();
        if let Some(user) = &options.user {
            annotations.insert("io.hostctl.user".to_string(), user.clone());
        }
        if options.cgroup_version != hostctl_kernel::cgroups::VersionChoice::Auto {
            annotations.insert(hostctl_kernel::cgroups::VERSION_ANNOTATION.to_string(), options.cgroup_version.to_string());
        }
        SpecBuilder::default()
            .version("1.0.2")
            .root(RootBuilder::default().path(self.rootfs()).readonly(false).build().expect("root"))
            .process(process)
            .hostname(HOSTNAME)
            .mounts(mounts)
            .linux(linux.build().expect("linux"))
            .annotations(annotations)
            .build()
            .expect("spec")
    }

    /// Write `spec` as the bundle's `config.json`.
    pub fn write_spec(&self, spec: &Spec) {
        spec.save(self.bundle().config()).expect("writing config.json");
    }

    /// The test's directory (bundle and rootfs below it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir().join("rootfs")
    }

    pub fn bundle(&self) -> Bundle {
        Bundle::new(self.dir().join("bundle"))
    }

    /// The parent of the container's cgroup (relative to each hierarchy's root).
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// The container's cgroup directory in the hierarchy holding `controller`.
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        let hierarchies = hostctl_kernel::cgroups::Hierarchies::detect().and_then(|h| h.choose(self.cgroup_version));
        let hierarchies = hierarchies.expect("cgroup hierarchies");
        let cgroup = hierarchies.locate(&format!("{}/{}", self.cgroup_parent, self.id)).expect("a cgroup path");
        cgroup.dir_of(controller).unwrap_or_else(|| panic!("no {controller} hierarchy")).to_path_buf()
    }

    /// The `hostctl shim start` command line for this bundle.
    pub fn start_command(&self) -> Command {
        let mut cmd = Command::new(hostctl_bin());
        cmd.args(["shim", "start", "--bundle"]).arg(self.bundle().dir()).args(["--id", &self.id]);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Run `hostctl shim start`: the started container, or the failure and the command's
    /// exit code.
    pub fn start(&mut self) -> Result<Started, (StartFailed, i32)> {
        let out = self.start_command().output().expect("running hostctl shim start");
        self.parse_start(&out)
    }

    /// Read `hostctl shim start`'s output (one JSON line).
    pub fn parse_start(&mut self, out: &Output) -> Result<Started, (StartFailed, i32)> {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.trim();
        assert_eq!(stdout.lines().count(), 1, "one JSON line; stderr: {}", String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            let started: Started = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            self.started = Some(started.clone());
            Ok(started)
        } else {
            let failed: StartFailed = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            Err((failed, out.status.code().unwrap_or(-1)))
        }
    }

    /// Start and require success.
    pub fn run(&mut self) -> Started {
        self.start().unwrap_or_else(|(failed, code)| panic!("start failed ({code}): {failed:?}\n{}", self.shim_log()))
    }

    /// A connection to the shim's socket.
    pub fn connect(&self) -> UnixStream {
        let stream = UnixStream::connect(self.bundle().socket()).expect("connecting to shim.sock");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        stream
    }

    /// Send one request on a new connection and read its answer.
    pub fn request(&self, request: &Request) -> Response {
        let stream = self.connect();
        send(&stream, request);
        receive(&stream)
    }

    /// Wait for the container to exit and for its shim to be gone, as the daemon does:
    /// ask the shim; a shim that is already gone (or goes while answering) has left
    /// `exit.json`.
    pub fn wait(&self) -> ExitInfo {
        let answer = UnixStream::connect(self.bundle().socket()).ok().and_then(|stream| {
            send(&stream, &Request::Wait);
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).ok()?;
            serde_json::from_str::<Response>(&line).ok()
        });
        self.wait_for_shim();
        match answer {
            Some(Response::Exited(info)) => {
                assert_eq!(self.exit_file(), info, "exit.json says what the shim answered");
                info
            }
            Some(other) => panic!("wait answered {other:?}"),
            None => self.exit_file(),
        }
    }

    /// Wait until the shim process has exited (it removes the cgroup after it answers).
    pub fn wait_for_shim(&self) {
        if let Some(started) = &self.started {
            wait_gone(started.shim_pid);
        }
    }

    /// `exit.json`.
    pub fn exit_file(&self) -> ExitInfo {
        let text = std::fs::read(self.bundle().exit()).expect("exit.json");
        serde_json::from_slice(&text).expect("exit.json parses")
    }

    /// `container.log`, line by line.
    pub fn log_entries(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.bundle().log()).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect()
    }

    /// What the container wrote on `stream` (`stdout`, `stderr`).
    pub fn output(&self, stream: &str) -> String {
        self.log_entries().iter().filter(|e| e["stream"] == stream).map(|e| e["log"].as_str().expect("log").to_owned()).collect()
    }

    /// Wait until stdout contains `text` (a container saying it is ready).
    pub fn wait_for_output(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.output("stdout").contains(text) {
            assert!(Instant::now() < deadline, "no {text:?} in the output: {:?}", self.log_entries());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn shim_log(&self) -> String {
        std::fs::read_to_string(self.bundle().dir().join("shim.log")).unwrap_or_default()
    }

    /// After the container exited: the shim is gone and left no socket, pid file, mount,
    /// cgroup or process.
    pub fn assert_clean(&self) {
        self.wait_for_shim();
        let mounts = mounts_under(self.dir());
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        let cgroups = cgroups_under(&self.cgroup_parent);
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}\n{}", self.shim_log());
        let processes = processes_mentioning(self.dir());
        assert!(processes.is_empty(), "processes left: {processes:?}");
        if let Some(started) = &self.started {
            assert!(!alive(started.pid), "the container's init {} is still there", started.pid);
        }
        assert!(!self.bundle().socket().exists(), "shim.sock outlived the shim");
        assert!(!self.bundle().shim_pid().exists(), "shim.pid outlived the shim");
    }
}

impl Drop for TestBundle {
    fn drop(&mut self) {
        if let Some(started) = &self.started {
            for pid in [started.shim_pid, started.pid] {
                if alive(pid) {
                    let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
                }
            }
        }
        for pid in processes_mentioning(self.dir.path()) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
        remove_cgroups(&self.cgroup_parent);
        unmount_all_under(self.dir.path());
    }
}

/// Write one request line.
pub fn send(mut stream: &UnixStream, request: &Request) {
    let mut line = serde_json::to_vec(request).expect("serializes");
    line.push(b'\n');
    stream.write_all(&line).expect("writing a request");
}

/// Read one answer line.
pub fn receive(stream: &UnixStream) -> Response {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("reading an answer");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("answer {line:?}: {e}"))
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Wait (up to 30 s) until `pid` is gone.
pub fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still there after 30s");
        std::thread::sleep(Duration::from_millis(5));
    }
}
