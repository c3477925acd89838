//! Seccomp (`seccomp(2)`, `SECCOMP_SET_MODE_FILTER`): the container's system-call filter,
//! from the OCI spec's `linux.seccomp`. [`compile`] runs in the shim before the fork
//! (it allocates and calls into libseccomp); the init then installs the finished
//! classic-BPF program with one seccomp(2) call ([`Filter::install`]), which is
//! async-signal-safe. Order as runc's: with `no_new_privs`, the last step before
//! execve(2); without it (installing then needs `CAP_SYS_ADMIN`), before the init drops
//! its capabilities, so the init's remaining calls pass through the filter.
//!
//! Every action the runtime spec names is supported except `SCMP_ACT_NOTIFY` (it needs a
//! seccomp agent on `listenerPath`, which hostctl does not run): it is refused by name,
//! as is the flag that only applies to it. System-call names this libseccomp does not
//! know are skipped, as runc does (Docker's profile lists names of every architecture
//! and of kernels newer than the library); [`Filter::skipped`] lists them. As runc, the
//! program starts with a stub that answers ENOSYS, not the default errno, for calls
//! numbered past the last one the profile names (`enosys`).
//!
//! **Why libseccomp, not seccompiler.** Firecracker's `seccompiler` (0.5) is pure Rust
//! and maintained, but it compiles one target architecture per filter and kills a
//! process calling in through any other (`build_arch_validation_sequence`), knows only
//! x86_64, aarch64 and riscv64, gives one filter a single match action, and has no
//! user-notify action. Docker's default profile needs x86_64 with its `x86` and `x32`
//! sub-architectures in one filter (including names that exist only on x86, resolved
//! per architecture), three actions at once (ALLOW, the default ERRNO(EPERM), and
//! ERRNO(ENOSYS) for `clone3`), and argument conditions. libseccomp does all of it, is
//! the library runc and crun build their filters with (so a profile compiles to what it
//! compiles to under Docker), and is in Debian's base system (`libseccomp2`; building
//! needs `libseccomp-dev`). The `libseccomp` crate (libseccomp-rs, used by youki) binds
//! it. Its `export_bpf` hands the program over without loading it, so the install stays
//! ours.
//!
//! Compiling Docker's profile takes libseccomp 12 ms or more, half a container's start.
//! So the daemon, which writes `config.json`, compiles each distinct filter once and
//! puts the program in the annotation [`PRECOMPILED_ANNOTATION`] beside it
//! ([`Filter::encode`]); [`Filter::decode`] takes it only if it was made from this very
//! `linux.seccomp` (a fingerprint of its JSON; the daemon and the shim are one binary),
//! and anything else (no annotation, another spec, runc's bundles) is compiled here.

mod enosys;
mod rules;

use std::io::{Read, Seek};

use libseccomp::{ScmpArch, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::LinuxSeccomp;

pub use rules::{Plan, Rule, plan};

/// The annotation holding the program compiled from the spec's own `linux.seccomp`.
pub const PRECOMPILED_ANNOTATION: &str = "io.hostctl.seccomp.bpf";

/// Why a `linux.seccomp` cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeccompError {
    /// A field asks for what hostctl does not do (`SCMP_ACT_NOTIFY`, a listener).
    #[error("{field}: {reason}")]
    Unsupported { field: String, reason: String },
    /// A field's value is wrong (`errnoRet` with `SCMP_ACT_ALLOW`, argument index 6).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// libseccomp refused a rule or the filter.
    #[error("{field}: libseccomp: {reason}")]
    Library { field: String, reason: String },
}

/// One classic-BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Instruction {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// A compiled filter, ready to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    program: Vec<Instruction>,
    /// `SECCOMP_FILTER_FLAG_*`.
    flags: u32,
    skipped: Vec<String>,
}

impl Filter {
    pub fn program(&self) -> &[Instruction] {
        &self.program
    }

    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// System-call names of the spec that this libseccomp does not know (skipped).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The program as text for [`PRECOMPILED_ANNOTATION`]:
    /// `<fingerprint of source>:<flags>:<skipped,names>:<hex of the instructions>`.
    pub fn encode(&self, source: &LinuxSeccomp) -> String {
        let mut bytes = Vec::with_capacity(self.program.len() * 8);
        for i in &self.program {
            bytes.extend_from_slice(&i.code.to_le_bytes());
            bytes.extend_from_slice(&[i.jt, i.jf]);
            bytes.extend_from_slice(&i.k.to_le_bytes());
        }
        format!("{:016x}:{}:{}:{}", fingerprint(source), self.flags, self.skipped.join(","), hex::encode(bytes))
    }

    /// The filter [`Filter::encode`] wrote for `source`; `None` if the text is not one,
    /// or was made from another `linux.seccomp`.
    pub fn decode(text: &str, source: &LinuxSeccomp) -> Option<Filter> {
        let mut parts = text.splitn(4, ':');
        let (print, flags, skipped, program) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if u64::from_str_radix(print, 16).ok()? != fingerprint(source) || flags.parse::<u32>().ok()? != plan(source).ok()?.flags {
            return None;
        }
        let bytes = hex::decode(program).ok()?;
        if bytes.is_empty() || bytes.len() % 8 != 0 {
            return None;
        }
        let program = bytes
            .chunks_exact(8)
            .map(|b| Instruction { code: u16::from_le_bytes([b[0], b[1]]), jt: b[2], jf: b[3], k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]) })
            .collect();
        let skipped = skipped.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        Some(Filter { program, flags: flags.parse().ok()?, skipped })
    }

    /// seccomp(2) `SECCOMP_SET_MODE_FILTER` of the compiled program, on the calling
    /// thread: one system call, no allocation (safe between fork and exec). Needs
    /// `no_new_privs` or `CAP_SYS_ADMIN`.
    pub fn install(&self) -> std::io::Result<()> {
        super::sys::seccomp_set_mode_filter(&self.program, self.flags)
    }
}

/// Compile `linux.seccomp` to a BPF program (libseccomp, then `seccomp_export_bpf`).
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let plan = plan(seccomp)?;
    fn library(field: &str) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
        let field = field.to_owned();
        move |e| SeccompError::Library { field, reason: e.to_string() }
    }
    let mut ctx = ScmpFilterContext::new(plan.default_action).map_err(library("defaultAction"))?;
    for (i, arch) in plan.arches.iter().enumerate() {
        ctx.add_arch(*arch).map_err(library(&format!("architectures[{i}]")))?;
    }
    let mut skipped = Vec::new();
    for rule in &plan.rules {
        let Ok(syscall) = ScmpSyscall::from_name(&rule.name) else {
            if !skipped.contains(&rule.name) {
                skipped.push(rule.name.clone());
            }
            continue;
        };
        ctx.add_rule_conditional(rule.action, syscall, &rule.conditions).map_err(library(&format!("{} ({})", rule.origin, rule.name)))?;
    }
    let exported = export(&ctx).map_err(|e| SeccompError::Library { field: "the filter".into(), reason: format!("export the program: {e}") })?;
    let native = ScmpArch::native();
    let arches: Vec<ScmpArch> = std::iter::once(native).chain(plan.arches.iter().copied().filter(|a| *a != native)).collect();
    let names = seccomp.syscalls().iter().flatten().flat_map(|s| s.names().iter().map(String::as_str));
    let mut program = enosys::stub(&enosys::sections(plan.default_action, &arches, names));
    program.extend(exported);
    Ok(Filter { program, flags: plan.flags, skipped })
}

/// A fingerprint of `seccomp`'s JSON (SipHash with fixed keys: stable within one build,
/// which is all the daemon and the shim, one binary, need).
fn fingerprint(seccomp: &LinuxSeccomp) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    serde_json::to_string(seccomp).expect("a spec serializes").hash(&mut hasher);
    hasher.finish()
}

/// The context's program, through a memfd (libseccomp 2.5 exports to a descriptor only).
fn export(ctx: &ScmpFilterContext) -> std::io::Result<Vec<Instruction>> {
    let memfd = rustix::fs::memfd_create(c"seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)?;
    ctx.export_bpf(&memfd).map_err(std::io::Error::other)?;
    let mut file = std::fs::File::from(memfd);
    file.rewind()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    if bytes.is_empty() || bytes.len() % 8 != 0 {
        return Err(std::io::Error::other(format!("{} bytes is not a BPF program", bytes.len())));
    }
    let word = |b: &[u8]| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    Ok(bytes
        .chunks_exact(8)
        .map(|b| Instruction { code: u16::from_ne_bytes([b[0], b[1]]), jt: b[2], jf: b[3], k: word(&b[4..]) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder};

    fn seccomp(default: LinuxSeccompAction, syscalls: Vec<oci_spec::runtime::LinuxSyscall>) -> LinuxSeccomp {
        LinuxSeccompBuilder::default().default_action(default).syscalls(syscalls).build().unwrap()
    }

    fn syscall(names: &[&str], action: LinuxSeccompAction) -> oci_spec::runtime::LinuxSyscall {
        LinuxSyscallBuilder::default().names(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).action(action).build().unwrap()
    }

    #[test]
    fn a_filter_compiles_to_bpf_and_skips_names_it_does_not_know() {
        let spec = seccomp(
            LinuxSeccompAction::ScmpActErrno,
            vec![syscall(&["read", "write", "no_such_syscall", "socketcall"], LinuxSeccompAction::ScmpActAllow)],
        );
        let filter = compile(&spec).unwrap();
        assert_eq!(filter.skipped(), ["no_such_syscall"], "socketcall exists on x86: libseccomp knows it");
        // The program starts by loading seccomp_data.arch (BPF_LD|BPF_W|BPF_ABS, offset 4)
        // and ends with a return.
        assert_eq!((filter.program()[0].code, filter.program()[0].k), (0x20, 4));
        assert_eq!(filter.program().last().unwrap().code, 0x06);
    }

    #[test]
    fn a_precompiled_program_is_taken_only_for_the_spec_it_was_made_from() {
        let spec = seccomp(LinuxSeccompAction::ScmpActErrno, vec![syscall(&["read", "no_such_syscall"], LinuxSeccompAction::ScmpActAllow)]);
        let filter = compile(&spec).unwrap();
        let text = filter.encode(&spec);
        assert_eq!(Filter::decode(&text, &spec), Some(filter));
        let other = seccomp(LinuxSeccompAction::ScmpActErrno, vec![syscall(&["write"], LinuxSeccompAction::ScmpActAllow)]);
        assert_eq!(Filter::decode(&text, &other), None, "made from another linux.seccomp");
        assert_eq!(Filter::decode("garbage", &spec), None);
        let (head, _) = text.rsplit_once(':').unwrap();
        assert_eq!(Filter::decode(&format!("{head}:abc"), &spec), None, "not whole instructions");
    }

    #[test]
    fn sub_architectures_are_checked_in_the_same_program() {
        let mut spec = seccomp(LinuxSeccompAction::ScmpActErrno, vec![syscall(&["read"], LinuxSeccompAction::ScmpActAllow)]);
        let native = compile(&spec).unwrap();
        spec.set_architectures(Some(vec![oci_spec::runtime::Arch::ScmpArchX86, oci_spec::runtime::Arch::ScmpArchX32]));
        let multi = compile(&spec).unwrap();
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        assert!(!native.program().iter().any(|i| i.k == AUDIT_ARCH_I386));
        assert!(multi.program().iter().any(|i| i.k == AUDIT_ARCH_I386), "an x86 branch");
        assert!(multi.program().len() > native.program().len());
    }
}
