//! The daemon as a process: its socket and config, the precompiled plugin cache across
//! restarts, one daemon per data root, `--detach`, and recovery from a crash mid-write.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use hostctl_daemon::images::records::{LayerRecord, LayerState};
use hostctl_daemon::state::{StateStore, Table};
use hostctl_image::digest::Digest;
use hostctl_tests::daemon::{Options, TestDaemon, hostctl_bin};
use hostctl_tests::kernel::mounts_under;

fn plugin_origin(daemon: &TestDaemon, name: &str) -> (String, f64) {
    let out = daemon.ok(&["plugin", "ls", "--format", "json"]);
    let plugin: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|p| p["Name"] == name)
        .unwrap_or_else(|| panic!("{name} not in plugin ls: {out}"));
    (plugin["Origin"].as_str().unwrap().to_owned(), plugin["LoadTimeMs"].as_f64().unwrap())
}

#[test]
fn a_second_start_loads_plugins_from_the_precompiled_cache() {
    let mut daemon = TestDaemon::start();
    let (first, compile_ms) = plugin_origin(&daemon, "overlay2-store");
    daemon.restart();
    let (second, cached_ms) = plugin_origin(&daemon, "overlay2-store");
    assert_eq!(first, "compiled");
    assert_eq!(second, "cache");
    eprintln!("overlay2-store: compiled in {compile_ms:.1} ms, loaded from the cache in {cached_ms:.2} ms");
    // One precompiled entry per installed component, and the second start added none.
    let cache = daemon.data_root().join("plugins/cache");
    let installed = std::fs::read_dir(daemon.plugin_dir()).unwrap().count();
    assert!(installed >= 5, "the bundled plugins are installed");
    assert_eq!(std::fs::read_dir(cache).unwrap().count(), installed, "one precompiled entry per component");
}

#[test]
fn the_cli_finds_the_daemon_by_flag_and_by_environment() {
    let daemon = TestDaemon::start();
    let by_env = Command::new(hostctl_bin()).env("HOSTCTL_HOST", daemon.host()).arg("version").output().unwrap();
    assert!(by_env.status.success(), "{}", String::from_utf8_lossy(&by_env.stderr));
    let bare_path = Command::new(hostctl_bin()).args(["-H", daemon.socket().to_str().unwrap(), "images"]).output().unwrap();
    assert!(bare_path.status.success());
    let nowhere = Command::new(hostctl_bin()).args(["-H", "unix:///nonexistent/hostctl.sock", "images"]).output().unwrap();
    assert_eq!(nowhere.status.code(), Some(1));
    let err = String::from_utf8_lossy(&nowhere.stderr);
    assert!(err.contains("cannot reach the hostctl daemon at /nonexistent/hostctl.sock"), "{err}");
    let tcp = Command::new(hostctl_bin()).args(["-H", "tcp://127.0.0.1:2375", "images"]).output().unwrap();
    assert_eq!(tcp.status.code(), Some(2), "a bad -H is a usage error");
}

#[test]
fn a_bad_config_is_refused_with_file_line_col_and_key() {
    // The same loader and the same words as `run -f` spec files (tests/spec_files.rs).
    let cases = [
        ("log-level = \"info\"\n[plugins]\ndir = \"/x\"\nmemory = \"1g\"\n", "4:1: plugins.memory: unknown key, expected one of dir, memory-limit, call-timeout-ms"),
        ("[plugins]\ncall-timeout-ms = \"soon\"\n", "2:19: plugins.call-timeout-ms: expected a non-negative integer, found a string \"soon\""),
        ("socket = \"/a\"\nsocket = \"/b\"\n", "2:1: socket: duplicate key"),
    ];
    for (text, error) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let out = Command::new(hostctl_bin())
            .args(["daemon", "--config", config.to_str().unwrap(), "--data-root"])
            .arg(dir.path().join("root"))
            .arg("--socket")
            .arg(dir.path().join("h.sock"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err, format!("hostctl daemon: {}:{error}\n", config.display()), "for:\n{text}");
        assert!(!dir.path().join("root").exists(), "nothing was created");
    }
}

#[test]
fn a_second_daemon_on_the_same_data_root_is_refused() {
    let daemon = TestDaemon::start();
    let out = Command::new(hostctl_bin())
        .args(["daemon", "--config", "/dev/null"])
        .arg("--data-root")
        .arg(daemon.data_root())
        .arg("--socket")
        .arg(daemon.dir().join("other.sock"))
        .arg("--plugin-dir")
        .arg(daemon.plugin_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another hostctl daemon is using this data root"), "{err}");
    daemon.ok(&["images"]);
}

#[test]
fn two_daemons_side_by_side_keep_their_own_images() {
    let a = TestDaemon::start();
    let b = TestDaemon::start();
    let tar = a.dir().join("rootfs.tar");
    std::fs::write(&tar, hostctl_tests::images::busybox_rootfs().tar()).unwrap();
    a.ok(&["import", tar.to_str().unwrap(), "only-a:1"]);
    assert!(a.ok(&["images"]).contains("only-a"));
    assert!(!b.ok(&["images"]).contains("only-a"));
}

/// Starts `hostctl daemon` in the foreground with `args`, its data root and socket
/// (`h.sock`, so its pidfile is `h.pid`) under `dir`, and requires it to fail: its stderr.
fn failing_start(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(hostctl_bin())
        .arg("daemon")
        .args(args)
        .arg("--data-root")
        .arg(dir.join("root"))
        .arg("--socket")
        .arg(dir.join("h.sock"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the daemon started with {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_storage_driver_stops_start_up_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    let err = failing_start(dir.path(), &["--config", "/dev/null", "--storage-driver", "nonesuch", "--plugin-dir", plugins.to_str().unwrap()]);
    assert!(err.contains("storage driver plugin \"nonesuch\" is not available"), "{err}");
    assert!(!dir.path().join("h.sock").exists());
    assert!(!dir.path().join("h.pid").exists(), "the pidfile it locked is removed");
}

#[test]
fn a_start_up_failing_after_the_pidfile_lock_removes_the_pidfile() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hostctl.toml");
    // Valid TOML, refused when the daemon opens its plugin loader.
    std::fs::write(&config, "[plugins]\nmemory-limit = \"lots\"\n").unwrap();
    let pidfile = dir.path().join("run/hostctl.pid");
    let err = failing_start(dir.path(), &["--config", config.to_str().unwrap(), "--pidfile", pidfile.to_str().unwrap()]);
    assert!(err.contains("memory-limit"), "{err}");
    assert!(dir.path().join("run").is_dir(), "the pidfile was made before the failure");
    assert!(!pidfile.exists(), "and removed after it");
}

#[test]
fn a_daemon_refused_the_pidfile_leaves_it_to_the_daemon_holding_it() {
    let running = TestDaemon::start();
    let pidfile = running.socket().with_extension("pid");
    let held = std::fs::read_to_string(&pidfile).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = failing_start(dir.path(), &["--config", "/dev/null", "--pidfile", pidfile.to_str().unwrap()]);
    assert!(err.contains(&format!("another hostctl daemon (pid {}) holds the pidfile", held.trim())), "{err}");
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), held, "the holder's pidfile is untouched");
    running.ok(&["images"]);
}

#[test]
fn detach_returns_once_the_daemon_serves() {
    let dir = tempfile::tempdir().unwrap();
    hostctl_tests::plugins::install_bundled(&dir.path().join("plugins"));
    let socket = dir.path().join("h.sock");
    // The default config but for the default bridge's name: one of this test's own.
    let bridge = format!("hc-t-d{}", std::process::id());
    let config = dir.path().join("hostctl.toml");
    std::fs::write(&config, format!("[networks]\ndefault-bridge = \"{bridge}\"\n")).unwrap();
    let out = Command::new(hostctl_bin())
        .args(["daemon", "--detach", "--config"])
        .arg(&config)
        .arg("--data-root")
        .arg(dir.path().join("root"))
        .arg("--socket")
        .arg(&socket)
        .arg("--plugin-dir")
        .arg(dir.path().join("plugins"))
        .arg("--log-file")
        .arg(dir.path().join("daemon.log"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid: i32 = std::fs::read_to_string(socket.with_extension("pid")).unwrap().trim().parse().unwrap();
    let version = Command::new(hostctl_bin()).args(["-H", socket.to_str().unwrap(), "version"]).output().unwrap();
    let killed = Command::new("kill").arg(pid.to_string()).status().unwrap();
    for _ in 0..300 {
        if !socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(version.status.success(), "the detached daemon answered");
    assert!(killed.success());
    assert!(!socket.exists(), "the daemon removed its socket on SIGTERM");
    assert!(std::fs::read_to_string(dir.path().join("daemon.log")).unwrap().contains("serving"));
    assert!(hostctl_tests::kernel::links().contains(&bridge), "the default network's bridge was made");
    hostctl_tests::kernel::delete_link(&bridge);
}

/// A crash between "recorded as applying" and "applied" leaves a half-made layer and its
/// record; a crash between committing blobs and recording the image leaves blobs nothing
/// refers to; a crash mid-upload leaves staging files. The next start removes all three.
#[test]
fn start_up_undoes_what_a_crash_left_half_done() {
    let mut daemon = TestDaemon::start();
    daemon.kill();
    let root = daemon.data_root();
    let chain = Digest::of_bytes(b"a layer a crash interrupted");
    {
        let state = StateStore::open(&root.join("state.db")).unwrap();
        let record = LayerRecord { chain_id: chain, diff_id: chain, parent: None, blob: chain, size: 0, state: LayerState::Applying };
        state.write(|t| t.put(Table::Layers, &chain.hex(), &record)).unwrap();
        // What the driver had written when the crash came.
        let loader = hostctl_plugin_runtime::Loader::new(
            &root.join("plugins/cache"),
            &root.join("storage"),
            Arc::new(hostctl_kernel::mount::Kernel),
            Default::default(),
        )
        .unwrap();
        let driver = loader.load(&daemon.plugin_dir().join("overlay2-store")).unwrap().0.storage().expect("a storage plugin");
        driver.create_layer(&chain.hex(), None).unwrap();
        assert!(driver.exists(&chain.hex()).unwrap());
    }
    let stray = Digest::of_bytes(b"an orphan blob");
    std::fs::write(root.join("image/blobs/sha256").join(stray.hex()), b"an orphan blob").unwrap();
    std::fs::write(root.join("image/tmp/upload-in-progress"), b"partial").unwrap();

    daemon.start_again();
    daemon.stop();

    let state = StateStore::open(&root.join("state.db")).unwrap();
    assert!(state.get::<LayerRecord>(Table::Layers, &chain.hex()).unwrap().is_none(), "the record is gone");
    assert!(!root.join("storage/overlay2-store").join(chain.hex()).exists(), "the half-made layer is gone");
    assert!(!root.join("image/blobs/sha256").join(stray.hex()).exists(), "the orphan blob is gone");
    assert_eq!(std::fs::read_dir(root.join("image/tmp")).unwrap().count(), 0, "staging is empty");
    assert!(mounts_under(daemon.dir()).is_empty());
}

#[test]
fn plugin_ls_lists_what_failed_to_load_and_why() {
    let daemon = TestDaemon::start_with(Options { probe: Some(String::new()), ..Options::default() });
    let wasm = daemon.plugin_dir().join("probe/probe.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&wasm, bytes).unwrap();
    let mut daemon = daemon;
    daemon.restart();
    let out = daemon.ok(&["plugin", "ls"]);
    let row = out.lines().find(|l| l.starts_with("probe")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("false") && row.contains("refusing a modified component"), "{row}");
    assert!(out.lines().any(|l| l.starts_with("overlay2-store") && l.contains("true")), "{out}");
    let _ = Path::new("");
}
