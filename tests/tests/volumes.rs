//! Volumes end to end: `hostctl volume create|ls|inspect|rm` against a real daemon with
//! the real volume-local driver; refused options; the mounts containers will use (a
//! tmpfs with its size, a bind of a host directory), made in-process by the same volume
//! service the daemon runs for a stand-in container id; in-use volumes refused by `rm`,
//! also after a restart; binds outside a driver's `bind-sources` refused, symlinks
//! included; and nothing left mounted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hostctl_daemon::daemon::Daemon;
use hostctl_daemon::volumes::VolumeError;
use hostctl_kernel::mount::{Mounter, Recorder};
use hostctl_plugin_runtime::{Defaults, ErrorKind, Loader, MemoryKv, Plugin, VolumePlugin};
use hostctl_tests::daemon::TestDaemon;
use hostctl_tests::kernel::mounts_under;
use hostctl_tests::plugins::install_bundled;
use serde_json::Value;

const TMPFS: &[&str] = &["-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=8m,mode=1777"];

/// The daemon's services opened in this process on a stopped daemon's data root, as the
/// daemon opens them, with a runtime to call them on.
struct InProcess {
    daemon: Daemon,
    runtime: tokio::runtime::Runtime,
}

impl InProcess {
    fn open(test: &TestDaemon) -> Self {
        let mut config = hostctl_daemon::Config::default();
        config.data_root = test.data_root();
        config.plugins.dir = test.plugin_dir();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let daemon = {
            let _entered = runtime.enter();
            Daemon::open(config).expect("opening the daemon's services")
        };
        InProcess { daemon, runtime }
    }

    fn mount(&self, name: &str, container: &str) -> Result<PathBuf, VolumeError> {
        self.runtime.block_on(self.daemon.volumes.mount(name, container, false))
    }

    fn unmount(&self, name: &str, container: &str) -> Result<(), VolumeError> {
        self.runtime.block_on(self.daemon.volumes.unmount(name, container))
    }

    fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        self.runtime.block_on(self.daemon.volumes.remove(name, force))
    }
}

fn inspect(daemon: &TestDaemon, name: &str) -> Value {
    let out = daemon.ok(&["volume", "inspect", name]);
    let docs: Value = serde_json::from_str(&out).expect("volume inspect prints JSON");
    docs[0].clone()
}

fn names(daemon: &TestDaemon, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    for f in filters {
        args.extend(["--filter", f]);
    }
    daemon.ok(&args).lines().map(str::to_owned).collect()
}

/// The filesystem type mounted at `path`, from /proc/self/mountinfo (the last mount
/// there, the one that is seen).
fn mounted_fstype(path: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter(|line| line.split(' ').nth(4) == Some(path.to_str().unwrap()))
        .filter_map(|line| line.split(" - ").nth(1)?.split(' ').next().map(str::to_owned))
        .last()
}

/// Install a copy of volume-local as `name`, granted binds from `bind_sources` only; the
/// daemon loads it when it next starts.
fn install_narrow_driver(daemon: &TestDaemon, name: &str, bind_sources: &[String]) {
    let (from, to) = (daemon.plugin_dir().join("volume-local"), daemon.plugin_dir().join(name));
    std::fs::create_dir_all(&to).unwrap();
    std::fs::copy(from.join("volume-local.wasm"), to.join(format!("{name}.wasm"))).unwrap();
    let manifest: String = std::fs::read_to_string(from.join("plugin.toml"))
        .unwrap()
        .lines()
        .map(|line| match line {
            l if l.starts_with("name =") => format!("name = \"{name}\""),
            l if l.starts_with("bind-sources =") => format!("bind-sources = {bind_sources:?}"),
            l => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(to.join("plugin.toml"), manifest).unwrap();
}

#[test]
fn volumes_are_created_listed_inspected_and_removed() {
    let mut daemon = TestDaemon::start();
    assert_eq!(daemon.ok(&["volume", "create", "data"]).trim(), "data");
    assert_eq!(daemon.ok(&["volume", "create", "-d", "local", "--label", "env=prod", "labelled"]).trim(), "labelled");
    let anonymous = daemon.ok(&["volume", "create"]).trim().to_owned();
    assert_eq!(anonymous.len(), 64, "a generated name is 64 hex digits: {anonymous}");
    assert!(anonymous.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(daemon.ok(&["volume", "create", "data"]).trim(), "data", "creating an existing volume answers it");

    let table = daemon.ok(&["volume", "ls"]);
    let mut lines = table.lines();
    assert_eq!(lines.next().unwrap().split_whitespace().collect::<Vec<_>>(), ["DRIVER", "VOLUME", "NAME"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows.iter().all(|r| r[0] == "volume-local"), "{table}");
    assert_eq!(names(&daemon, &["label=env=prod"]), ["labelled"]);
    assert_eq!(names(&daemon, &["name=dat"]), ["data"]);
    assert_eq!(names(&daemon, &["dangling=true"]).len(), 3);
    assert!(names(&daemon, &["dangling=false"]).is_empty());
    let (code, err) = daemon.fails(&["volume", "ls", "--filter", "colour=red"]);
    assert_eq!(code, 2, "{err}");

    let doc = inspect(&daemon, "data");
    let mountpoint = daemon.data_root().join("volumes/volume-local/data/_data");
    assert_eq!(doc["Name"], "data");
    assert_eq!(doc["Driver"], "volume-local");
    assert_eq!(doc["Scope"], "local");
    assert_eq!(doc["Mountpoint"], mountpoint.to_str().unwrap());
    assert!(mountpoint.is_dir(), "the data directory exists");
    assert!(hostctl_image::timestamp::parse_rfc3339(doc["CreatedAt"].as_str().unwrap()).is_ok(), "{doc}");
    assert_eq!(inspect(&daemon, "labelled")["Labels"]["env"], "prod");
    let json: Vec<Value> = daemon.ok(&["volume", "ls", "--format", "json"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(json.iter().any(|v| v["Name"] == "data" && v["Mountpoint"] == mountpoint.to_str().unwrap()), "{json:?}");

    let watch = hostctl_tests::watch::Watch::on(&daemon, &["--format", "json", "--filter", "type=volume"]);
    assert_eq!(daemon.ok(&["volume", "rm", "data", "labelled"]), "data\nlabelled\n");
    for name in ["data", "labelled"] {
        let event = watch.event();
        assert_eq!((event["Action"].as_str(), event["Actor"]["ID"].as_str()), (Some("destroy"), Some(name)), "{event}");
        assert_eq!(event["Actor"]["Attributes"]["driver"], "volume-local");
    }
    assert!(!mountpoint.parent().unwrap().exists(), "the volume's directory is gone");
    assert_eq!(names(&daemon, &[]), [anonymous.clone()]);
    let (code, err) = daemon.fails(&["volume", "inspect", "data"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such volume: data"), "{err}");
    let (code, err) = daemon.fails(&["volume", "rm", "data"]);
    assert!(code == 1 && err.contains("no such volume"), "{code} {err}");
    daemon.ok(&["volume", "rm", "-f", "data"]);
    daemon.ok(&["volume", "rm", &anonymous]);
    daemon.stop();
}

#[test]
fn bad_names_and_options_are_refused_and_create_nothing() {
    let mut daemon = TestDaemon::start();
    let cases: &[(&[&str], &str)] = &[
        (&["-o", "colour=red", "v1"], "invalid option: \"colour\""),
        (&["-o", "type=tmpfs", "-o", "device=/dev/sda", "v2"], "device=tmpfs"),
        (&["-o", "type=tmpfs", "v3"], "missing required option: \"device\""),
        (&["-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=lots", "v4"], "tmpfs option"),
        (&["-o", "type=none", "-o", "o=bind", "-o", "device=relative/dir", "v5"], "absolute"),
        (&["-o", "type=nfs", "-o", "device=:/export", "v6"], "not supported"),
        (&["-d", "no-such-driver", "v7"], "volume driver \"no-such-driver\" is not available"),
        (&["_x"], "includes invalid characters"),
        (&["a"], "includes invalid characters"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["volume", "create"];
        full.extend_from_slice(args);
        let (code, err) = daemon.fails(&full);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(code == 2 || code == 1, "{args:?}: exit {code}");
        if !expected.contains("not available") {
            assert_eq!(code, 2, "{args:?} is an invalid argument: {err}");
        }
    }
    assert!(names(&daemon, &[]).is_empty());
    let root = daemon.data_root().join("volumes/volume-local");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "nothing under {}", root.display());
    daemon.stop();
}

#[test]
fn a_tmpfs_volume_is_mounted_once_with_its_size_and_unmounted_by_its_last_user() {
    let mut daemon = TestDaemon::start();
    let mut args = vec!["volume", "create"];
    args.extend_from_slice(TMPFS);
    args.push("scratch");
    daemon.ok(&args);
    daemon.stop();

    let service = InProcess::open(&daemon);
    let mut events = service.daemon.events.subscribe();
    let path = service.mount("scratch", "container-a").expect("mounting for a");
    assert_eq!(path, std::fs::canonicalize(daemon.data_root()).unwrap().join("volumes/volume-local/scratch/_data"));
    assert_eq!(mounted_fstype(&path).as_deref(), Some("tmpfs"));
    let stat = rustix::fs::statvfs(&path).unwrap();
    assert_eq!(stat.f_blocks * stat.f_frsize, 8 << 20, "size=8m");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o7777, 0o1777);
    std::fs::write(path.join("note"), b"kept while mounted").unwrap();

    assert_eq!(service.mount("scratch", "container-b").unwrap(), path, "a second user shares the mount");
    assert_eq!(service.mount("scratch", "container-a").unwrap(), path, "mounting again is idempotent");
    assert_eq!(mounts_under(daemon.dir()).len(), 1, "one tmpfs for both users");
    for force in [false, true] {
        let err = service.remove("scratch", force).unwrap_err();
        assert!(matches!(err, VolumeError::InUse { .. }), "{err}");
        assert_eq!(err.to_string(), "remove scratch: volume is in use - [container-a, container-b]");
    }

    service.unmount("scratch", "container-a").unwrap();
    assert_eq!(std::fs::read(path.join("note")).unwrap(), b"kept while mounted", "still mounted for b");
    service.unmount("scratch", "container-b").unwrap();
    service.unmount("scratch", "container-b").expect("unmounting twice is no error");
    assert!(mounts_under(daemon.dir()).is_empty(), "the last user's unmount removed the tmpfs");
    assert!(!path.join("note").exists());

    let seen: Vec<(String, String)> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| (e.action, e.actor.attributes.get("container").cloned().unwrap_or_default()))
        .collect();
    let expected = [("mount", "container-a"), ("mount", "container-b"), ("unmount", "container-a"), ("unmount", "container-b")];
    assert_eq!(seen, expected.map(|(a, c)| (a.to_owned(), c.to_owned())));
    service.remove("scratch", false).unwrap();
    drop(service);
    assert!(mounts_under(daemon.dir()).is_empty());
}

#[test]
fn a_volume_in_use_survives_a_restart_and_rm_refuses_it_even_with_force() {
    let mut daemon = TestDaemon::start();
    let mut args = vec!["volume", "create"];
    args.extend_from_slice(TMPFS);
    args.push("busy");
    daemon.ok(&args);
    daemon.stop();

    let service = InProcess::open(&daemon);
    let path = service.mount("busy", "container-a").unwrap();
    drop(service);

    let service = InProcess::open(&daemon);
    assert_eq!(service.daemon.volumes.users("busy").unwrap(), ["container-a"], "the user is remembered");
    assert!(matches!(service.remove("busy", false), Err(VolumeError::InUse { .. })));
    assert_eq!(mounted_fstype(&path).as_deref(), Some("tmpfs"), "a reopened service leaves a running container's mount");
    drop(service);

    daemon.start_again();
    for args in [&["volume", "rm", "busy"][..], &["volume", "rm", "-f", "busy"]] {
        let (code, err) = daemon.fails(args);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("volume is in use - [container-a]"), "{args:?}: {err}");
    }
    assert_eq!(inspect(&daemon, "busy")["UsageData"]["RefCount"], 1);
    assert_eq!(names(&daemon, &["dangling=false"]), ["busy"]);
    // The container goes away while no daemon watches; the next one cleans up after it.
    daemon.kill();
    let service = InProcess::open(&daemon);
    service.unmount("busy", "container-a").unwrap();
    drop(service);
    assert!(mounts_under(daemon.dir()).is_empty());
    daemon.start_again();
    daemon.ok(&["volume", "rm", "busy"]);
    daemon.stop();
}

#[test]
fn a_bind_volume_shows_the_host_directory_and_rm_leaves_its_files() {
    let mut daemon = TestDaemon::start();
    let host = daemon.dir().join("host-data");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("from-host"), b"hello").unwrap();
    let device = format!("device={}", host.display());
    daemon.ok(&["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", &device, "shared"]);
    daemon.stop();

    let service = InProcess::open(&daemon);
    let path = service.mount("shared", "container-a").unwrap();
    let seen = std::fs::read(path.join("from-host"));
    std::fs::write(path.join("from-volume"), b"written").unwrap();
    service.unmount("shared", "container-a").unwrap();
    assert!(mounts_under(daemon.dir()).is_empty());
    service.remove("shared", false).unwrap();
    drop(service);
    assert_eq!(seen.unwrap(), b"hello");
    assert_eq!(std::fs::read(host.join("from-volume")).unwrap(), b"written", "writes land in the host directory");
    assert_eq!(std::fs::read(host.join("from-host")).unwrap(), b"hello", "removing the volume keeps the host's files");
}

#[test]
fn binds_outside_the_drivers_bind_sources_are_refused_symlinks_included() {
    let mut daemon = TestDaemon::start();
    let allowed = daemon.dir().join("allowed");
    let outside = daemon.dir().join("outside");
    for dir in [allowed.join("ok"), outside.clone()] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::os::unix::fs::symlink(&outside, allowed.join("link")).unwrap();
    let pattern = format!("{}/*", std::fs::canonicalize(&allowed).unwrap().display());
    install_narrow_driver(&daemon, "volume-narrow", &[pattern]);
    daemon.restart();
    for (name, source) in [("ok", allowed.join("ok")), ("outside", outside.clone()), ("smuggled", allowed.join("link"))] {
        let device = format!("device={}", source.display());
        daemon.ok(&["volume", "create", "-d", "volume-narrow", "-o", "type=none", "-o", "o=bind", "-o", &device, name]);
    }
    daemon.stop();

    let service = InProcess::open(&daemon);
    let ok = service.mount("ok", "container-a").expect("a bind from inside bind-sources");
    service.unmount("ok", "container-a").unwrap();
    assert!(ok.ends_with("ok/_data"));
    for (name, expected) in [("outside", "is not in the plugin's bind-sources"), ("smuggled", "really")] {
        let err = service.mount(name, "container-a").unwrap_err();
        let message = err.to_string();
        assert!(message.contains(expected), "{name}: {message}");
        assert_eq!(hostctl_api::ApiError::from(err).kind, hostctl_api::ErrorKind::InvalidArgument);
        assert!(service.daemon.volumes.users(name).unwrap().is_empty(), "a refused mount leaves no user");
        assert!(mounts_under(daemon.dir()).is_empty(), "{name}: nothing mounted");
        service.remove(name, false).expect("a refused mount leaves the driver counting no caller");
    }
    drop(service);
}

#[test]
fn volumes_survive_a_daemon_restart() {
    let mut daemon = TestDaemon::start();
    daemon.ok(&["volume", "create", "--label", "keep=1", "plain"]);
    let mut args = vec!["volume", "create"];
    args.extend_from_slice(TMPFS);
    args.push("scratch");
    daemon.ok(&args);
    let before = (inspect(&daemon, "plain"), inspect(&daemon, "scratch"));
    std::fs::write(daemon.data_root().join("volumes/volume-local/plain/_data/file"), b"data").unwrap();
    daemon.restart();
    assert_eq!(names(&daemon, &[]), ["plain", "scratch"]);
    assert_eq!((inspect(&daemon, "plain"), inspect(&daemon, "scratch")), before);
    assert_eq!(before.1["Options"]["o"], "size=8m,mode=1777");
    assert_eq!(std::fs::read(daemon.data_root().join("volumes/volume-local/plain/_data/file")).unwrap(), b"data");
    daemon.ok(&["volume", "rm", "plain", "scratch"]);
    daemon.stop();
}

/// volume-local loaded by the plugin runtime with `mounter` instead of the kernel.
fn volume_local_with(mounter: Arc<dyn Mounter>) -> (tempfile::TempDir, Arc<VolumePlugin>) {
    let tmp = tempfile::tempdir().unwrap();
    install_bundled(&tmp.path().join("plugins"));
    let defaults = Defaults { memory_limit: 64 << 20, call_timeout: Duration::from_secs(5) };
    let loader = Loader::new(&tmp.path().join("cache"), &tmp.path().join("storage"), mounter, defaults)
        .unwrap()
        .with_kv(Arc::new(MemoryKv::default()));
    let (plugin, _) = loader.load(&tmp.path().join("plugins/volume-local")).expect("loading volume-local");
    let Plugin::Volume(volume) = plugin else { panic!("volume-local is a volume plugin") };
    (tmp, volume)
}

#[test]
fn the_runtime_mounts_for_the_first_caller_and_unmounts_after_the_last() {
    let recorder = Arc::new(Recorder::default());
    let (_tmp, plugin) = volume_local_with(recorder.clone());
    let options = [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m,nosuid")].map(|(k, v)| (k.to_owned(), v.to_owned()));
    plugin.create("scratch", &options).unwrap();
    let path = plugin.mount("scratch", "a").unwrap();
    assert!(path.ends_with("volumes/volume-local/scratch/_data"), "{}", path.display());
    plugin.mount("scratch", "b").unwrap();
    plugin.unmount("scratch", "a").unwrap();
    assert_eq!(recorder.log(), ["mount tmpfs at scratch/_data size=1m nosuid"]);
    plugin.unmount("scratch", "b").unwrap();
    assert_eq!(recorder.log().last().unwrap(), "unmount scratch/_data");
    assert_eq!(plugin.unmount_leftover("scratch").unwrap(), false);
}

#[test]
fn a_failed_mount_is_taken_back_from_the_driver() {
    let recorder = Arc::new(Recorder::failing_mount(0));
    let (_tmp, plugin) = volume_local_with(recorder.clone());
    let options = [("type", "tmpfs"), ("device", "tmpfs")].map(|(k, v)| (k.to_owned(), v.to_owned()));
    plugin.create("scratch", &options).unwrap();
    let err = plugin.mount("scratch", "a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(recorder.log().is_empty());
    let plan = plugin.mount_plan("scratch", "b").unwrap();
    assert_eq!(plan.mounts.len(), 1, "the driver forgot the failed caller: the next one is the first again");
    plugin.unmount_targets("scratch", "b").unwrap();
    plugin.remove("scratch").expect("no caller is left");
}
