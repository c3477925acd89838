//! Docker's default profile against its documented source, rule by rule, and its
//! rendering for several capability sets, architectures and kernels against what
//! Docker's `setupSeccomp` keeps (worked out by hand from `default.json`).

use super::*;
use oci_spec::runtime::LinuxSyscall;
use sha2::{Digest, Sha256};

const AMD64_6_18: Host = Host { arch: "amd64", kernel: (6, 18) };

fn docker_default_caps() -> Vec<String> {
    hostctl_kernel::container::capabilities::DOCKER_DEFAULT.iter().map(|c| (*c).to_owned()).collect()
}

fn with(extra: &str) -> Vec<String> {
    let mut caps = docker_default_caps();
    caps.push(extra.to_owned());
    caps
}

fn rendered(caps: &[String], host: &Host) -> LinuxSeccomp {
    Profile::docker_default().render(caps, host).unwrap().expect("the default profile asks for a filter")
}

/// The spec rules Docker makes of the file's rules at `kept` (indexes into `syscalls`).
fn expected(kept: &[usize]) -> Vec<LinuxSyscall> {
    let file: serde_json::Value = serde_json::from_str(DEFAULT_JSON).unwrap();
    kept.iter()
        .map(|i| {
            let mut rule = file["syscalls"][i].clone();
            let map = rule.as_object_mut().unwrap();
            for docker_only in ["comment", "includes", "excludes"] {
                map.remove(docker_only);
            }
            serde_json::from_value(rule).unwrap()
        })
        .collect()
}

/// Every rule naming `name`, as (action, errnoRet, args) JSON.
fn rules_for(seccomp: &LinuxSeccomp, name: &str) -> Vec<serde_json::Value> {
    seccomp
        .syscalls()
        .iter()
        .flatten()
        .filter(|s| s.names().iter().any(|n| n == name))
        .map(|s| serde_json::json!([s.action(), s.errno_ret(), s.args()]))
        .collect()
}

#[test]
fn the_profile_file_is_dockers_v28_2_2_as_documented() {
    assert_eq!(hex::encode(Sha256::digest(DEFAULT_JSON.as_bytes())), DEFAULT_SHA256);
    let readme = include_str!("../README.md");
    assert!(readme.contains(DEFAULT_SHA256), "the README documents the same sha256");
    assert!(readme.contains("`v28.2.2`") && readme.contains("profiles/seccomp/default.json"));
}

#[test]
fn parsing_and_reserialising_the_profile_loses_no_field_of_any_rule() {
    let file: serde_json::Value = serde_json::from_str(DEFAULT_JSON).unwrap();
    let again = serde_json::to_value(Profile::docker_default()).unwrap();
    let (rules, rules_again) = (file["syscalls"].as_array().unwrap(), again["syscalls"].as_array().unwrap());
    assert_eq!(rules.len(), 31);
    assert_eq!(rules_again.len(), rules.len());
    for (i, (rule, rule_again)) in rules.iter().zip(rules_again).enumerate() {
        assert_eq!(rule, rule_again, "syscalls[{i}]");
    }
    assert_eq!(file, again, "and every field outside the rules");
}

#[test]
fn dockers_default_capabilities_keep_dockers_rules_on_amd64() {
    let seccomp = rendered(&docker_default_caps(), &AMD64_6_18);
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(seccomp.default_errno_ret(), Some(1), "EPERM");
    assert_eq!(seccomp.architectures().as_deref().unwrap(), [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]);
    // The common allow list, ptrace & co. (kernel >= 4.8), socket, personality x5,
    // arch_prctl and modify_ldt (amd64), clone without namespace flags, clone3 ->
    // ENOSYS, chroot (CAP_SYS_CHROOT is a default capability).
    assert_eq!(seccomp.syscalls().as_deref().unwrap(), expected(&[0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 16, 18, 20]));
    for denied in ["add_key", "keyctl", "request_key", "unshare", "mount", "setns", "umount2", "bpf", "reboot", "kcmp"] {
        assert!(rules_for(&seccomp, denied).is_empty(), "{denied} is left to the default action");
    }
    let clone_without_namespaces = serde_json::json!(["SCMP_ACT_ALLOW", null, [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]]);
    assert_eq!(rules_for(&seccomp, "clone"), [clone_without_namespaces]);
    assert_eq!(rules_for(&seccomp, "clone3"), [serde_json::json!(["SCMP_ACT_ERRNO", 38, null])]);
}

#[test]
fn cap_sys_admin_opens_mount_unshare_setns_and_clone_with_namespace_flags() {
    let seccomp = rendered(&with("CAP_SYS_ADMIN"), &AMD64_6_18);
    assert_eq!(seccomp.syscalls().as_deref().unwrap(), expected(&[0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 15, 20]));
    let allow = serde_json::json!(["SCMP_ACT_ALLOW", null, null]);
    for opened in ["mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "sethostname"] {
        assert_eq!(rules_for(&seccomp, opened), std::slice::from_ref(&allow), "{opened}");
    }
    assert!(rules_for(&seccomp, "add_key").is_empty(), "keyrings stay closed even to CAP_SYS_ADMIN");
}

#[test]
fn cap_sys_ptrace_opens_kcmp_and_process_vm_calls() {
    let seccomp = rendered(&with("CAP_SYS_PTRACE"), &AMD64_6_18);
    assert_eq!(seccomp.syscalls().as_deref().unwrap(), expected(&[0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 16, 18, 20, 23]));
    assert_eq!(rules_for(&seccomp, "kcmp").len(), 1);
    assert_eq!(rules_for(&seccomp, "ptrace").len(), 2, "from the kernel >= 4.8 rule and from CAP_SYS_PTRACE's");
}

#[test]
fn without_cap_sys_chroot_and_on_an_old_kernel_rules_drop_out() {
    let caps: Vec<String> = docker_default_caps().into_iter().filter(|c| c != "CAP_SYS_CHROOT").collect();
    let seccomp = rendered(&caps, &Host { arch: "amd64", kernel: (4, 4) });
    assert_eq!(seccomp.syscalls().as_deref().unwrap(), expected(&[0, 2, 3, 4, 5, 6, 7, 10, 11, 16, 18]));
}

#[test]
fn other_architectures_take_their_archmap_entry_and_arch_rules() {
    let arm64 = rendered(&docker_default_caps(), &Host { arch: "arm64", kernel: (6, 1) });
    assert_eq!(arm64.architectures().as_deref().unwrap(), [Arch::ScmpArchAarch64, Arch::ScmpArchArm]);
    assert_eq!(arm64.syscalls().as_deref().unwrap(), expected(&[0, 1, 2, 3, 4, 5, 6, 7, 9, 16, 18, 20]));
    let s390x = rendered(&docker_default_caps(), &Host { arch: "s390x", kernel: (6, 1) });
    assert_eq!(s390x.syscalls().as_deref().unwrap(), expected(&[0, 1, 2, 3, 4, 5, 6, 7, 12, 17, 18, 20]), "clone's flags are its second argument there");
    let unmapped = rendered(&docker_default_caps(), &Host { arch: "unknown", kernel: (6, 1) });
    assert!(unmapped.architectures().is_none(), "the runtime then uses the native one alone");
}

#[test]
fn the_rendered_default_compiles_to_one_filter_with_the_kernel_crate() {
    let filter = hostctl_kernel::container::seccomp::compile(&rendered(&docker_default_caps(), &AMD64_6_18)).unwrap();
    assert!(filter.program().len() > 100, "{} instructions", filter.program().len());
    for known in ["add_key", "clone", "clone3", "personality", "socket", "_llseek", "socketcall"] {
        assert!(!filter.skipped().iter().any(|s| s == known), "{known} is known to libseccomp: {:?}", filter.skipped());
    }
}

#[test]
fn a_profile_of_the_wrong_shape_is_refused_as_docker_refuses_it() {
    let parse = |json: &str| serde_json::from_str::<Profile>(json);
    let both = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}"#).unwrap();
    assert!(both.render(&[], &AMD64_6_18).unwrap_err().starts_with("both 'architectures' and 'archMap'"));
    let name_and_names = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
    assert!(name_and_names.render(&[], &AMD64_6_18).unwrap_err().starts_with("syscalls[0]: both 'name' and 'names'"));
    let no_default = parse(r#"{"syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
    assert_eq!(no_default.render(&[], &AMD64_6_18).unwrap_err(), "defaultAction: missing (a profile with syscalls needs one)");
    assert_eq!(parse("{}").unwrap().render(&[], &AMD64_6_18).unwrap(), None, "an empty profile means no filter, as Docker's");
    let old_name = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":30}]}"#).unwrap();
    let seccomp = old_name.render(&[], &AMD64_6_18).unwrap().unwrap();
    assert_eq!(rules_for(&seccomp, "mkdir"), [serde_json::json!(["SCMP_ACT_ERRNO", 30, null])]);
    assert!(parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","sycalls":[]}"#).unwrap_err().to_string().contains("unknown field `sycalls`"));
    assert!(parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"4"}}]}"#).is_err());
}

#[test]
fn kernel_versions_compare_on_kernel_and_major_only() {
    assert_eq!(kernel_version("6.18.44-fc-v1147"), (6, 18));
    assert_eq!(kernel_version("3.12-1-amd64"), (3, 12));
    assert_eq!(KernelVersion::try_from("4.8".to_owned()).unwrap(), KernelVersion(4, 8));
    assert!(KernelVersion::try_from("0.0".to_owned()).is_err());
    assert!(KernelVersion::try_from("4.8.1".to_owned()).is_err());
    assert_eq!(String::from(KernelVersion(4, 8)), "4.8");
}
