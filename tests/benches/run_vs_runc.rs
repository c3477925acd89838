//! `hostctl run --rm IMAGE true` (daemon warm) against `runc run` of an equivalent OCI
//! bundle (Debian's runc, the bare OCI runtime), side by side in one run: hostctl with
//! `--network none` (the same namespaces as runc's, lo only), hostctl on the default
//! bridge network (a veth pair, an address and a route from the bridge driver's plan),
//! and runc alternate, so all see the same machine load. Prints medians and ratios.
//!
//! hostctl does more per run: it creates a writable layer through the WASM storage driver,
//! mounts it, writes a bundle, supervises through a shim, keeps a log, publishes events,
//! and removes everything again; runc runs a prepared rootfs directory.
//!
//! Run as root: `scripts/build-plugins && cargo build --release -p hostctl &&
//! cargo bench -p hostctl-tests --bench run_vs_runc` (installs Debian's runc if missing).
//! `RUNS=N` sets the number of runs of each (default 40).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hostctl_tests::daemon::{TestDaemon, hostctl_bin};
use hostctl_tests::images::{SaveLayout, busybox_image, busybox_rootfs, docker_save};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ensure_runc() {
    if Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return;
    }
    eprintln!("installing Debian's runc");
    let status = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", "runc"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .expect("running apt-get");
    assert!(status.success(), "apt-get install runc failed");
}

/// A runc bundle: the busybox rootfs unpacked, and `runc spec`'s config running `true`
/// without a terminal, in new pid/mount/uts/ipc/network namespaces (runc's defaults,
/// as hostctl's).
fn runc_bundle(dir: &Path) {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let tar = dir.join("rootfs.tar");
    std::fs::write(&tar, busybox_rootfs().tar()).unwrap();
    let status = Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&rootfs).status().unwrap();
    assert!(status.success());
    let status = Command::new("runc").arg("spec").current_dir(dir).status().unwrap();
    assert!(status.success(), "runc spec");
    let config_path = dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["true"]);
    config["root"]["readonly"] = false.into();
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

fn main() {
    ensure_runc();
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(40);
    let daemon = TestDaemon::start();
    let archive = daemon.dir().join("busybox.tar");
    std::fs::write(&archive, docker_save(&[busybox_image("busybox:latest")], SaveLayout::Legacy)).unwrap();
    daemon.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let bundle = daemon.dir().join("runc-bundle");
    runc_bundle(&bundle);

    let hostctl = |network: &str| {
        let started = Instant::now();
        let status = Command::new(hostctl_bin())
            .args(["-H", &daemon.host(), "run", "--rm", "--network", network, "busybox", "true"])
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "hostctl run failed");
        started.elapsed()
    };
    let runc = |i: usize| {
        let started = Instant::now();
        let status = Command::new("runc")
            .args(["--root", bundle.join("state").to_str().unwrap(), "run", "-b", bundle.to_str().unwrap(), &format!("bench-{}-{i}", std::process::id())])
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "runc run failed");
        started.elapsed()
    };
    // Warm all up (page cache, the daemon's first container, the bridge's first veth).
    hostctl("none");
    hostctl("bridge");
    runc(runs);
    let (mut none, mut bridge, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        none.push(hostctl("none"));
        bridge.push(hostctl("bridge"));
        r.push(runc(i));
    }
    let line = |what: &str, samples: &[Duration]| {
        let m = median(samples.to_vec());
        let (lo, hi) = (samples.iter().min().unwrap(), samples.iter().max().unwrap());
        println!("  {what:<44} {:>8.2} ms   (min {:.2}, max {:.2})", ms(m), ms(*lo), ms(*hi));
        m
    };
    println!("run --rm true, {runs} runs of each, alternating (medians)");
    let nm = line("hostctl run --rm --network none busybox true", &none);
    let bm = line("hostctl run --rm busybox true (default bridge)", &bridge);
    let rm = line("runc run (bundle, true, own netns with lo)", &r);
    println!("  ratio hostctl --network none / runc            {:>8.2}", nm.as_secs_f64() / rm.as_secs_f64());
    println!("  ratio hostctl on the bridge / runc             {:>8.2}", bm.as_secs_f64() / rm.as_secs_f64());
    println!("  the bridge's cost (veth, address, route, IPAM) {:>8.2} ms", ms(bm) - ms(nm));
    let mut daemon = daemon;
    daemon.stop();
}
