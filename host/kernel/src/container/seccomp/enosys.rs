//! runc's `-ENOSYS` stub (`libcontainer/seccomp/patchbpf`), put before libseccomp's
//! program: a system call numbered above the highest one the profile names (that this
//! libseccomp knows, per architecture) fails with ENOSYS, not with the profile's default
//! errno. ENOSYS is what a C library reads as "this kernel is too old" and falls back
//! from; EPERM it passes on. Docker's profile names calls (`mseal`, `statmount`, …) that
//! libseccomp 2.5.4 does not know, and any profile ages: without the stub a newer
//! program in the container would see EPERM where runc gives it ENOSYS.
//!
//! As runc: no stub when the default action lets calls through (ALLOW, LOG, TRACE) or
//! already is ENOSYS. On x86_64, an x32 call (bit 30 of its number) is checked against
//! the x32 maximum, or left to the filter when the profile has no x32. Architectures
//! without a section go straight to the filter (which applies its bad-architecture
//! action).

use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};

use super::Instruction;

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const X32_SYSCALL_BIT: u32 = 1 << 30;

// Classic BPF opcodes (linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20;
const JA: u16 = 0x05;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// One architecture's check: its audit value and the highest call number the profile
/// names there (and, on x86_64, the highest x32 one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub audit: u32,
    pub max: u32,
    pub x32_max: Option<u32>,
}

/// The sections for a filter of `arches` (the native one first) whose rules name
/// `names`; empty when no stub is wanted for `default_action`.
pub fn sections<'a>(default_action: ScmpAction, arches: &[ScmpArch], names: impl Iterator<Item = &'a str> + Clone) -> Vec<Section> {
    if matches!(default_action, ScmpAction::Allow | ScmpAction::Log | ScmpAction::Trace(_) | ScmpAction::Errno(libc::ENOSYS)) {
        return Vec::new();
    }
    let max_on = |arch: ScmpArch| {
        names
            .clone()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(|s| s.as_raw_syscall())
            .filter_map(|nr| u32::try_from(nr).ok())
            .max()
    };
    let x32_max = arches.contains(&ScmpArch::X32).then(|| max_on(ScmpArch::X32)).flatten();
    let mut sections = Vec::new();
    for arch in arches {
        let audit = match arch {
            ScmpArch::X8664 => AUDIT_ARCH_X86_64,
            ScmpArch::X86 => AUDIT_ARCH_I386,
            ScmpArch::Aarch64 => AUDIT_ARCH_AARCH64,
            ScmpArch::Arm => AUDIT_ARCH_ARM,
            _ => continue,
        };
        let x32_max = if audit == AUDIT_ARCH_X86_64 { x32_max } else { None };
        if let Some(max) = max_on(*arch).filter(|m| *m < X32_SYSCALL_BIT) {
            sections.push(Section { audit, max, x32_max });
        }
    }
    sections
}

/// The stub for `sections`; it falls through to the instruction after it (the filter).
pub fn stub(sections: &[Section]) -> Vec<Instruction> {
    if sections.is_empty() {
        return Vec::new();
    }
    let size = |s: &Section| if s.audit == AUDIT_ARCH_X86_64 { if s.x32_max.is_some() { 4 } else { 3 } } else { 2 };
    let mut starts = Vec::new();
    let mut at = 1 + sections.len() + 1;
    for s in sections {
        starts.push(at);
        at += size(s);
    }
    let (enosys, filter) = (at, at + 1);
    let jump = |code: u16, k: u32, from: usize, to_true: usize, to_false: usize| Instruction {
        code,
        jt: u8::try_from(to_true - from - 1).expect("the stub is short"),
        jf: u8::try_from(to_false - from - 1).expect("the stub is short"),
        k,
    };
    let load = |offset: u32| Instruction { code: LD_W_ABS, jt: 0, jf: 0, k: offset };
    let mut out = vec![load(4)];
    for (s, start) in sections.iter().zip(&starts) {
        out.push(jump(JEQ_K, s.audit, out.len(), *start, out.len() + 1));
    }
    out.push(Instruction { code: JA, jt: 0, jf: 0, k: (filter - out.len() - 1) as u32 });
    for s in sections {
        out.push(load(0));
        if s.audit == AUDIT_ARCH_X86_64 {
            let here = out.len();
            match s.x32_max {
                Some(x32_max) => {
                    out.push(jump(JSET_K, X32_SYSCALL_BIT, here, here + 2, here + 1));
                    out.push(jump(JGT_K, s.max, here + 1, enosys, filter));
                    out.push(jump(JGT_K, x32_max, here + 2, enosys, filter));
                }
                None => {
                    out.push(jump(JSET_K, X32_SYSCALL_BIT, here, filter, here + 1));
                    out.push(jump(JGT_K, s.max, here + 1, enosys, filter));
                }
            }
        } else {
            out.push(jump(JGT_K, s.max, out.len(), enosys, filter));
        }
    }
    out.push(Instruction { code: RET_K, jt: 0, jf: 0, k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32 });
    debug_assert_eq!(out.len(), filter);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stub_jumps_past_the_highest_known_call_to_enosys_and_else_to_the_filter() {
        let x86_64 = Section { audit: AUDIT_ARCH_X86_64, max: 450, x32_max: Some(X32_SYSCALL_BIT + 500) };
        let i386 = Section { audit: AUDIT_ARCH_I386, max: 460, x32_max: None };
        let stub = stub(&[x86_64, i386]);
        // ld arch; jeq x86_64; jeq i386; ja filter; [ld nr; jset x32; jgt; jgt]; [ld nr; jgt]; ret ENOSYS
        let codes: Vec<u16> = stub.iter().map(|i| i.code).collect();
        assert_eq!(codes, [LD_W_ABS, JEQ_K, JEQ_K, JA, LD_W_ABS, JSET_K, JGT_K, JGT_K, LD_W_ABS, JGT_K, RET_K]);
        let (enosys, filter) = (10, 11);
        let target = |at: usize, offset: u8| at + 1 + usize::from(offset);
        assert_eq!((target(1, stub[1].jt), target(2, stub[2].jt)), (4, 8), "each architecture to its section");
        assert_eq!(target(3, stub[3].k as u8), filter, "any other architecture to the filter");
        assert_eq!((target(5, stub[5].jt), target(5, stub[5].jf)), (7, 6), "x32 calls to the x32 check");
        for at in [6, 7, 9] {
            assert_eq!((target(at, stub[at].jt), target(at, stub[at].jf)), (enosys, filter), "instruction {at}");
        }
        assert_eq!((stub[6].k, stub[7].k, stub[9].k), (450, X32_SYSCALL_BIT + 500, 460));
        assert_eq!(stub[10].k, libc::SECCOMP_RET_ERRNO | 38);
    }

    #[test]
    fn no_stub_when_the_default_lets_calls_through_or_is_enosys() {
        let names = ["read", "write", "mkdir"];
        let arches = [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32];
        for permissive in [ScmpAction::Allow, ScmpAction::Log, ScmpAction::Trace(1), ScmpAction::Errno(libc::ENOSYS)] {
            assert!(sections(permissive, &arches, names.iter().copied()).is_empty(), "{permissive:?}");
        }
        let found = sections(ScmpAction::Errno(libc::EPERM), &arches, names.iter().copied());
        let mkdir = ScmpSyscall::from_name_by_arch("mkdir", ScmpArch::X8664).unwrap().as_raw_syscall() as u32;
        assert_eq!(found[0], Section { audit: AUDIT_ARCH_X86_64, max: mkdir, x32_max: found[0].x32_max });
        assert!(found[0].x32_max.unwrap() >= X32_SYSCALL_BIT, "x32 numbers carry the x32 bit");
        assert_eq!(found[1].audit, AUDIT_ARCH_I386);
    }
}
