//! Images end to end: `hostctl import`, `hostctl load` of every archive layout, and
//! `hostctl images`, against a real daemon with the real overlay2-store driver; hostile
//! archives refused with nothing left behind; whiteouts as the driver's mount plan
//! merges them.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hostctl_tests::daemon::{TestDaemon, hostctl_bin};
use hostctl_tests::images::hostile::{self, RefusedBy};
use hostctl_tests::images::{
    self, Compression, ImageSpec, Layer, OciNaming, OciOptions, SaveLayout, busybox_image, docker_save, docker_save_dot_slash, multi_layer,
    multi_layer_image, oci_layout, oci_layout_with,
};
use hostctl_tests::kernel::mounts_under;

fn write(daemon: &TestDaemon, name: &str, bytes: &[u8]) -> String {
    let path = daemon.dir().join(name);
    std::fs::write(&path, bytes).expect("writing a test archive");
    path.display().to_string()
}

/// (repository:tag, short id) rows of `hostctl images`.
fn image_rows(daemon: &TestDaemon) -> BTreeSet<(String, String)> {
    daemon
        .ok(&["images", "--format", "json"])
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("images --format json");
            (format!("{}:{}", v["Repository"].as_str().unwrap(), v["Tag"].as_str().unwrap()), v["ID"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Every file under `dir`, except the state store and the log (which change on reads).
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "state.db" || name == "daemon.log" {
                continue;
            }
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path.clone());
            }
            out.insert(path);
        }
    }
    out
}

#[test]
fn import_of_a_busybox_rootfs_is_listed_by_images() {
    let daemon = TestDaemon::start();
    let tar = daemon.dir().join("busybox.tar");
    let script = Command::new(hostctl_tests::plugins::repo_root().join("scripts/busybox-image")).arg(&tar).output().unwrap();
    assert!(script.status.success(), "{}", String::from_utf8_lossy(&script.stderr));
    let out = daemon.ok(&["import", tar.to_str().unwrap(), "busybox:latest", "--change", "CMD [\"sh\"]"]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "import printed {out:?}");
    let table = daemon.ok(&["images"]);
    let row = table.lines().find(|l| l.starts_with("busybox ")).unwrap_or_else(|| panic!("no busybox row in\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "latest");
    assert_eq!(cells[2], &id[7..19]);
    assert!(row.ends_with("MB"), "a busybox rootfs is megabytes: {row}");
    assert_eq!(daemon.ok(&["images", "-q"]).trim(), &id[7..19]);
}

#[test]
fn import_reads_gzip_and_stdin() {
    let daemon = TestDaemon::start();
    let gz = images::busybox_rootfs().tar_gz();
    let mut child = Command::new(hostctl_bin())
        .args(["-H", &daemon.host(), "import", "-", "piped:gz"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(image_rows(&daemon).iter().any(|(r, _)| r == "piped:gz"));
}

#[test]
fn import_refuses_a_truncated_tar_and_keeps_nothing() {
    let daemon = TestDaemon::start();
    let before = tree(&daemon.data_root());
    let tar = images::busybox_rootfs().tar();
    let path = write(&daemon, "cut.tar", &tar[..tar.len() / 2]);
    let (code, err) = daemon.fails(&["import", &path, "cut:latest"]);
    assert_eq!(code, 2, "a bad input is an invalid argument: {err}");
    assert!(err.to_lowercase().contains("truncated"), "{err}");
    assert_eq!(tree(&daemon.data_root()), before);
    assert!(image_rows(&daemon).is_empty());
}

#[test]
fn load_accepts_every_archive_layout() {
    let daemon = TestDaemon::start();
    let cases: Vec<(&str, ImageSpec, Vec<u8>)> = {
        let legacy = busybox_image("legacy:1");
        let docker25 = busybox_image("docker25:1").label("layout", "docker25");
        let oci = busybox_image("oci:plain").label("layout", "oci");
        let oci_gz = busybox_image("oci:gzip").compression(Compression::Gzip).label("layout", "oci-gz");
        let nested = busybox_image("oci:nested").label("layout", "nested");
        let full_ref = busybox_image("oci:fullref").label("layout", "fullref");
        vec![
            ("legacy", legacy.clone(), docker_save(&[legacy], SaveLayout::Legacy)),
            ("docker25", docker25.clone(), docker_save(&[docker25], SaveLayout::Docker25)),
            ("oci", oci.clone(), oci_layout(&[oci])),
            ("oci-gzip", oci_gz.clone(), oci_layout(&[oci_gz])),
            (
                "oci-nested-dotslash",
                nested.clone(),
                oci_layout_with(&[nested], OciOptions { naming: OciNaming::Containerd, nested_index: true, dot_slash: true }),
            ),
            ("oci-refname", full_ref.clone(), oci_layout_with(&[full_ref], OciOptions { naming: OciNaming::RefNameFull, ..Default::default() })),
        ]
    };
    for (name, spec, archive) in cases {
        let built = spec.build();
        let path = write(&daemon, &format!("{name}.tar"), &archive);
        let out = daemon.ok(&["load", "-i", &path]);
        for tag in &built.repo_tags {
            assert!(out.contains(&format!("Loaded image: {tag}")), "{name}: {out}");
            assert!(image_rows(&daemon).contains(&(tag.clone(), built.short_id().to_owned())), "{name}: {tag} not listed");
        }
    }
}

#[test]
fn an_oci_layout_without_a_name_loads_untagged() {
    let daemon = TestDaemon::start();
    let spec = busybox_image("skopeo:latest").label("naming", "tag-only");
    let built = spec.build();
    let path = write(&daemon, "tagonly.tar", &oci_layout_with(&[spec], OciOptions { naming: OciNaming::RefNameTagOnly, ..Default::default() }));
    let out = daemon.ok(&["load", "-i", &path]);
    assert!(out.contains(&format!("Loaded image ID: {}", built.id)), "{out}");
    assert!(image_rows(&daemon).contains(&("<none>:<none>".to_owned(), built.short_id().to_owned())));
}

/// An OCI layout names its images fully qualified (`io.containerd.image.name`); Docker
/// loads, lists and runs them by their familiar names.
#[test]
fn an_oci_name_on_docker_hub_is_loaded_listed_and_run_by_its_familiar_name() {
    let daemon = TestDaemon::start();
    let cases = [
        ("docker.io/library/ocibare:1", "ocibare:1"),
        ("docker.io/foo/bar:1", "foo/bar:1"),
        ("localhost:5000/team/app:1", "localhost:5000/team/app:1"),
    ];
    for (i, (annotated, familiar)) in cases.into_iter().enumerate() {
        let spec = busybox_image(annotated).label("case", &i.to_string());
        let id = spec.build().short_id().to_owned();
        let out = daemon.ok(&["load", "-i", &write(&daemon, &format!("named{i}.tar"), &oci_layout(&[spec]))]);
        assert_eq!(out.trim_end().lines().last(), Some(format!("Loaded image: {familiar}").as_str()), "{out}");
        assert!(image_rows(&daemon).contains(&(familiar.to_owned(), id)), "{familiar} listed: {:?}", image_rows(&daemon));
    }
    assert!(image_rows(&daemon).iter().all(|(name, _)| !name.starts_with("docker.io/")), "{:?}", image_rows(&daemon));
    for name in ["ocibare:1", "docker.io/library/ocibare:1", "library/ocibare:1", "foo/bar:1"] {
        assert_eq!(daemon.ok(&["run", "--rm", "--network", "none", name, "echo", "ran"]), "ran\n", "run {name}");
    }
}

#[test]
fn load_reads_stdin_quietly() {
    let daemon = TestDaemon::start();
    let archive = docker_save(&[busybox_image("stdin:1")], SaveLayout::Docker25);
    let mut child = Command::new(hostctl_bin())
        .args(["-H", &daemon.host(), "load", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&archive).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "-q prints nothing: {}", String::from_utf8_lossy(&out.stdout));
    assert!(image_rows(&daemon).iter().any(|(r, _)| r == "stdin:1"));
}

#[test]
fn loading_an_archive_twice_reuses_its_layers() {
    let daemon = TestDaemon::start();
    let path = write(&daemon, "multi.tar", &docker_save(&[multi_layer_image("multi:latest")], SaveLayout::Docker25));
    daemon.ok(&["load", "-i", &path]);
    let after_first = tree(&daemon.data_root());
    daemon.ok(&["load", "-i", &path]);
    assert_eq!(tree(&daemon.data_root()), after_first, "a second load adds nothing");
    assert_eq!(image_rows(&daemon).len(), 1);
}

#[test]
fn a_tag_moves_to_the_newer_image() {
    let daemon = TestDaemon::start();
    let old = busybox_image("app:latest").label("v", "1");
    let new = busybox_image("app:latest").label("v", "2");
    let (old_id, new_id) = (old.build().short_id().to_owned(), new.build().short_id().to_owned());
    daemon.ok(&["load", "-i", &write(&daemon, "old.tar", &docker_save(&[old], SaveLayout::Legacy))]);
    let out = daemon.ok(&["load", "-i", &write(&daemon, "new.tar", &docker_save(&[new], SaveLayout::Legacy))]);
    assert!(out.contains("already exists, renaming the old one"), "{out}");
    let rows = image_rows(&daemon);
    assert!(rows.contains(&("app:latest".to_owned(), new_id)), "{rows:?}");
    assert!(rows.contains(&("<none>:<none>".to_owned(), old_id)), "{rows:?}");
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing_behind() {
    let daemon = TestDaemon::start();
    // A daemon in use: the driver has made its own bookkeeping (overlay2's `l/`) already.
    daemon.ok(&["load", "-i", &write(&daemon, "first.tar", &docker_save(&[busybox_image("first:1")], SaveLayout::Legacy))]);
    let images_before = image_rows(&daemon);
    let passwd = std::fs::read("/etc/passwd").unwrap();
    for case in hostile::all() {
        let before = tree(daemon.dir());
        let path = daemon.dir().join(format!("{}.tar", case.name));
        std::fs::write(&path, &case.archive).unwrap();
        let before_with_archive = {
            let mut t = before.clone();
            t.insert(path.clone());
            t
        };
        let (code, err) = daemon.fails(&["load", "-i", path.to_str().unwrap()]);
        assert_ne!(code, 0);
        match case.refused_by {
            RefusedBy::Load => assert_eq!(code, 2, "{}: {err}", case.name),
            RefusedBy::Unpack => assert!(err.contains("plugin \"overlay2-store\""), "{}: the driver is named: {err}", case.name),
        }
        assert_eq!(tree(daemon.dir()), before_with_archive, "{} ({}) left files behind: {err}", case.name, case.fault);
        assert!(mounts_under(daemon.dir()).is_empty(), "{}: mounts left", case.name);
        assert_eq!(image_rows(&daemon), images_before, "{}: an image was recorded", case.name);
        std::fs::remove_file(&path).unwrap();
    }
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd, "the host's /etc/passwd is untouched");
    assert!(!Path::new("/etc/evil").exists());
    // The daemon still serves, and a good archive still loads.
    daemon.ok(&["load", "-i", &write(&daemon, "good.tar", &docker_save(&[busybox_image("good:1")], SaveLayout::Legacy))]);
}

#[test]
fn a_legacy_config_not_matching_its_name_is_refused_naming_both_digests() {
    let daemon = TestDaemon::start();
    let named = hostile::small_image_id();
    let path = write(&daemon, "swapped.tar", &hostile::config_name_mismatch());
    let (code, err) = daemon.fails(&["load", "-i", &path]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("\"{}.json\"", &named["sha256:".len()..])), "the file is named: {err}");
    assert!(err.contains(&named), "the digest its name gives: {err}");
    assert_eq!(err.matches("sha256:").count(), 2, "both digests: {err}");
    assert!(image_rows(&daemon).is_empty());
}

/// Deterministic bytes that are nothing in particular.
fn noise(n: usize) -> Vec<u8> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn random_bytes_are_refused_in_one_printable_line() {
    let daemon = TestDaemon::start();
    let before = tree(&daemon.data_root());
    let path = write(&daemon, "noise.tar", &noise(64 << 10));
    for (args, says) in [
        (vec!["load", "-i", &path], "image archive is not a tar archive (plain or gzip): its first 512 bytes are not a tar header ("),
        (vec!["import", &path, "noise:1"], "layer is not a tar archive (plain or gzip): its first 512 bytes are not a tar header ("),
    ] {
        let (code, err) = daemon.fails(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.trim_end().chars().all(|c| c.is_ascii_graphic() || c == ' '), "{args:?}: printable: {err:?}");
    }
    assert_eq!(tree(&daemon.data_root()), before);
    assert!(image_rows(&daemon).is_empty());
}

/// Loads `archive` (of [`multi_layer_image`] tagged `multi:latest`) through a daemon of
/// its own, then mounts the image in-process by the same image service the daemon runs
/// (the daemon stopped, so one process owns the data root): the merged rootfs is what the
/// driver's mount plan produced from the layers this archive format delivered.
fn assert_whiteouts_hide_lower_files(archive: &[u8]) {
    let mut daemon = TestDaemon::start();
    let path = write(&daemon, "multi.tar", archive);
    daemon.ok(&["load", "-i", &path]);
    daemon.stop();

    let config = hostctl_daemon::Config {
        data_root: daemon.data_root(),
        plugins: hostctl_daemon::config::PluginsConfig { dir: daemon.plugin_dir(), ..Default::default() },
        ..Default::default()
    };
    let service = hostctl_daemon::daemon::Daemon::open(config).expect("opening the daemon's services");
    let mounted = service.images.mount_rootfs("multi:latest", "whiteout-check").expect("mounting a rootfs");
    let seen: Vec<(String, std::io::Result<String>)> = multi_layer::PRESENT
        .iter()
        .map(|(p, _)| (p.to_string(), std::fs::read_to_string(mounted.rootfs.join(&p[1..]))))
        .collect();
    let absent: Vec<(String, bool)> = multi_layer::ABSENT.iter().map(|p| (p.to_string(), mounted.rootfs.join(&p[1..]).exists())).collect();
    let busybox_runs = mounted.rootfs.join("bin/busybox").exists();
    service.images.remove_rootfs("whiteout-check", &mounted).expect("removing the rootfs");
    drop(service);

    for ((path, content), (_, expected)) in seen.iter().zip(multi_layer::PRESENT) {
        assert_eq!(content.as_deref().ok(), Some(*expected), "{path} in the merged rootfs");
    }
    for (path, exists) in absent {
        assert!(!exists, "{path} is whited out, yet visible in the merged rootfs");
    }
    assert!(busybox_runs, "the base layer shows through");
    assert!(mounts_under(daemon.dir()).is_empty(), "the rootfs was unmounted");
}

#[test]
fn whiteouts_hide_lower_files_in_the_merged_rootfs() {
    assert_whiteouts_hide_lower_files(&oci_layout(&[multi_layer_image("multi:latest")]));
}

#[test]
fn whiteouts_hide_lower_files_of_a_legacy_docker_save() {
    assert_whiteouts_hide_lower_files(&docker_save(&[multi_layer_image("multi:latest")], SaveLayout::Legacy));
}

#[test]
fn whiteouts_hide_lower_files_of_a_docker25_save() {
    assert_whiteouts_hide_lower_files(&docker_save(&[multi_layer_image("multi:latest")], SaveLayout::Docker25));
}

/// A `docker save` re-packed with `tar -C dir -cf out.tar .` names its entries `./…`
/// while `manifest.json` names them bare: the image loads, and runs from its layers.
#[test]
fn a_dot_slash_docker_save_loads_and_runs() {
    let daemon = TestDaemon::start();
    for (layout, tag) in [(SaveLayout::Legacy, "dotslash:legacy"), (SaveLayout::Docker25, "dotslash:docker25")] {
        let spec = multi_layer_image(tag).label("layout", tag);
        let id = spec.build().short_id().to_owned();
        let path = write(&daemon, &format!("{tag}.tar"), &docker_save_dot_slash(&[spec], layout));
        let out = daemon.ok(&["load", "-i", &path]);
        assert!(out.contains(&format!("Loaded image: {tag}\n")), "{tag}: {out}");
        assert!(image_rows(&daemon).contains(&(tag.to_owned(), id)), "{tag} listed");
        let added = daemon.ok(&["run", "--rm", "--network", "none", tag, "cat", "/added.txt", "/srv/data/new.txt"]);
        assert_eq!(added, "added by the top layer\nnew\n", "{tag}: the top layer is there");
    }
}

/// The layout on disk after a daemon load is overlay2's: `l/` short links, each layer's
/// `link`, and `lower` naming its parents top-most first.
#[test]
fn loaded_layers_are_laid_out_as_overlay2() {
    let daemon = TestDaemon::start();
    let spec = multi_layer_image("layout:latest");
    let built = spec.build();
    daemon.ok(&["load", "-i", &write(&daemon, "layout.tar", &docker_save(&[spec], SaveLayout::Legacy))]);
    let root = daemon.data_root().join("storage/overlay2-store");
    let mut chain: Option<String> = None;
    let mut lower_expected = String::new();
    for layer in &built.layers {
        let id = match &chain {
            None => layer.diff_id.trim_start_matches("sha256:").to_owned(),
            Some(parent) => images::hex_of(format!("sha256:{parent} {}", layer.diff_id).as_bytes()),
        };
        let dir = root.join(&id);
        let link = std::fs::read_to_string(dir.join("link")).unwrap_or_else(|e| panic!("{}/link: {e}", dir.display()));
        assert_eq!(link.len(), 26, "short names are 26 characters: {link:?}");
        assert_eq!(std::fs::read_link(root.join("l").join(&link)).unwrap(), Path::new("..").join(&id).join("diff"));
        if chain.is_some() {
            assert_eq!(std::fs::read_to_string(dir.join("lower")).unwrap(), lower_expected, "{id}/lower");
            assert!(dir.join("work").is_dir(), "{id}/work");
        } else {
            assert!(!dir.join("lower").exists(), "a base layer has no lower");
        }
        lower_expected = if lower_expected.is_empty() { format!("l/{link}") } else { format!("l/{link}:{lower_expected}") };
        chain = Some(id);
    }
    assert_eq!(std::fs::read_dir(root.join("l")).unwrap().count(), built.layers.len());
}

#[test]
fn images_json_and_table_agree() {
    let daemon = TestDaemon::start();
    let spec = busybox_image("agree:1");
    daemon.ok(&["load", "-i", &write(&daemon, "a.tar", &docker_save(std::slice::from_ref(&spec), SaveLayout::Legacy))]);
    let table = daemon.ok(&["images", "--no-trunc"]);
    assert!(table.contains(&spec.build().id), "--no-trunc shows the full id: {table}");
    assert!(table.starts_with("REPOSITORY   TAG   IMAGE ID"), "{table}");
    let _ = Layer::new();
}
