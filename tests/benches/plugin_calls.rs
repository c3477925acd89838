//! What the plugin runtime costs, measured side by side in one run (medians; these
//! machines are noisy, so compare the ratios, not the absolute numbers):
//!
//! - compiling the overlay2-store component vs. loading it from the precompiled cache;
//! - one sandboxed driver call (fresh store + instance from `InstancePre` + `exists`);
//! - applying the busybox rootfs layer through the WASM driver vs. GNU `tar -x` of the
//!   same tar into a directory (the work a non-sandboxed engine would do).
//!
//! Run: `scripts/build-plugins && cargo bench -p hostctl-tests --bench plugin_calls`.

use std::io::Read;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostctl_image::blobs::VerifiedReader;
use hostctl_image::digest::Digest;
use hostctl_kernel::mount::Kernel;
use hostctl_plugin_runtime::{BlobSource, Defaults, Loader};
use hostctl_tests::images::busybox_rootfs;
use hostctl_tests::plugins::install_bundled;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<R>(runs: usize, mut f: impl FnMut(usize) -> R) -> Duration {
    median((0..runs).map(|i| {
        let started = Instant::now();
        std::hint::black_box(f(i));
        started.elapsed()
    }).collect())
}

struct Blob(VerifiedReader<std::io::Cursor<Vec<u8>>>, Digest, u64);

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl BlobSource for Blob {
    fn digest(&self) -> String {
        self.1.to_string()
    }
    fn size(&self) -> u64 {
        self.2
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    install_bundled(&dir.path().join("plugins"));
    let plugin_dir = dir.path().join("plugins/overlay2-store");
    let new_loader = |cache: &str| Loader::new(&dir.path().join(cache), &dir.path().join("storage"), Arc::new(Kernel), Defaults::default()).unwrap();

    let compile = time(5, |i| new_loader(&format!("cold-{i}")).load(&plugin_dir).unwrap().1.load_time);
    let warm = new_loader("warm");
    warm.load(&plugin_dir).unwrap();
    let cached = time(50, |_| warm.load(&plugin_dir).unwrap().1.load_time);
    let driver = warm.load(&plugin_dir).unwrap().0.storage().expect("overlay2-store is a storage plugin");
    let call = time(2000, |_| driver.exists("nonexistent").unwrap());

    let tar = busybox_rootfs().tar();
    let digest = Digest::of_bytes(&tar);
    let size = tar.len() as u64;
    let apply = time(15, |i| {
        let id = format!("bench{i}");
        let blob = Blob(VerifiedReader::new(std::io::Cursor::new(tar.clone()), digest, Some(size)), digest, size);
        let applied = driver.apply_layer(&id, None, Box::new(blob)).unwrap();
        driver.remove(&id).unwrap();
        applied
    });
    let tar_file = dir.path().join("busybox.tar");
    std::fs::write(&tar_file, &tar).unwrap();
    let untar = time(15, |i| {
        let out = dir.path().join(format!("untar{i}"));
        std::fs::create_dir(&out).unwrap();
        let status = Command::new("tar").arg("-xf").arg(&tar_file).arg("-C").arg(&out).status().unwrap();
        assert!(status.success());
        std::fs::remove_dir_all(&out).unwrap();
    });

    let entries = busybox_rootfs().names().len();
    println!("plugin runtime, overlay2-store (medians)");
    println!("  compile component            {:>10.2} ms", compile.as_secs_f64() * 1e3);
    println!("  load precompiled (cache)     {:>10.3} ms   ({:.0}x faster)", cached.as_secs_f64() * 1e3, compile.as_secs_f64() / cached.as_secs_f64());
    println!("  one driver call (exists)     {:>10.1} us   (fresh instance + call)", call.as_secs_f64() * 1e6);
    println!("  apply busybox layer (wasm)   {:>10.2} ms   ({} entries, {:.1} MB, incl. remove)", apply.as_secs_f64() * 1e3, entries, size as f64 / 1e6);
    println!("  tar -x same layer (native)   {:>10.2} ms   (incl. rm -r)", untar.as_secs_f64() * 1e3);
    println!("  ratio wasm apply / tar -x    {:>10.2}", apply.as_secs_f64() / untar.as_secs_f64());
}
