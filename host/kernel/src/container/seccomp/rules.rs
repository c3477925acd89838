//! The OCI spec's `linux.seccomp` read into libseccomp's terms, checked, before any
//! library call: actions (with `errnoRet`), comparisons, architectures and filter flags,
//! and the rules libseccomp is to be given, one per system call name. Pure: the unit
//! tests below run without libseccomp touching the kernel.
//!
//! Semantics are runc's (`libcontainer/seccomp`), so a profile means here what it means
//! under Docker: `SCMP_ACT_KILL` kills the thread; `errnoRet` defaults to EPERM for
//! `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE`; a rule whose action is the default action is
//! dropped (libseccomp refuses it); the conditions of a rule are ANDed in one libseccomp
//! rule, unless two of them test the same argument, in which case each condition becomes
//! a rule of its own (an OR), as runc has always done.

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall};

use super::SeccompError;

/// The largest errno a filter can return (the kernel's MAX_ERRNO).
const MAX_ERRNO: u32 = 4095;

/// A system call has six arguments, 0 to 5.
const ARGUMENTS: usize = 6;

/// `linux.seccomp`, ready for libseccomp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub default_action: ScmpAction,
    /// Beyond the native one (which libseccomp always has).
    pub arches: Vec<ScmpArch>,
    /// `SECCOMP_FILTER_FLAG_*` for seccomp(2).
    pub flags: u32,
    pub rules: Vec<Rule>,
}

/// One libseccomp rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Where it comes from (`syscalls[3]`), for errors.
    pub origin: String,
    pub name: String,
    pub action: ScmpAction,
    /// ANDed.
    pub conditions: Vec<ScmpArgCompare>,
}

fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> SeccompError {
    SeccompError::Unsupported { field: field.into(), reason: reason.into() }
}

/// Check and translate the spec's `linux.seccomp`.
pub fn plan(seccomp: &LinuxSeccomp) -> Result<Plan, SeccompError> {
    if let Some(path) = seccomp.listener_path() {
        let reason = format!("{}: hostctl runs no seccomp agent (SCMP_ACT_NOTIFY)", path.display());
        return Err(unsupported("listenerPath", reason));
    }
    if seccomp.listener_metadata().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(unsupported("listenerMetadata", "hostctl runs no seccomp agent (SCMP_ACT_NOTIFY)"));
    }
    let default_action = action("defaultAction", seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut arches = Vec::new();
    for (i, arch) in seccomp.architectures().iter().flatten().enumerate() {
        arches.push(scmp_arch(*arch).map_err(|reason| unsupported(format!("architectures[{i}]"), reason))?);
    }
    let mut flags = 0;
    for (i, flag) in seccomp.flags().iter().flatten().enumerate() {
        flags |= filter_flag(*flag).map_err(|reason| unsupported(format!("flags[{i}]"), reason))?;
    }
    let mut rules = Vec::new();
    for (i, syscall) in seccomp.syscalls().iter().flatten().enumerate() {
        let origin = format!("syscalls[{i}]");
        let action = action(&format!("{origin}.action"), syscall.action(), syscall.errno_ret())?;
        let groups = condition_groups(&origin, syscall)?;
        if syscall.names().is_empty() {
            return Err(SeccompError::Invalid { field: format!("{origin}.names"), reason: "empty: a rule names at least one system call".into() });
        }
        if action == default_action {
            continue;
        }
        for name in syscall.names() {
            if name.is_empty() {
                return Err(SeccompError::Invalid { field: format!("{origin}.names"), reason: "an empty name".into() });
            }
            for conditions in &groups {
                rules.push(Rule { origin: origin.clone(), name: name.clone(), action, conditions: conditions.clone() });
            }
        }
    }
    Ok(Plan { default_action, arches, flags, rules })
}

/// The spec's action and errno as libseccomp's action.
pub fn action(field: &str, action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, SeccompError> {
    use LinuxSeccompAction as A;
    let errno_field = || if field == "defaultAction" { "defaultErrnoRet".to_owned() } else { field.replace(".action", ".errnoRet") };
    let scmp = match action {
        A::ScmpActErrno | A::ScmpActTrace => {
            let errno = errno.unwrap_or(libc::EPERM as u32);
            if errno > MAX_ERRNO {
                return Err(SeccompError::Invalid { field: errno_field(), reason: format!("{errno} is above {MAX_ERRNO}, the largest errno") });
            }
            if action == A::ScmpActErrno { ScmpAction::Errno(errno as i32) } else { ScmpAction::Trace(errno as u16) }
        }
        _ if errno.is_some() => {
            return Err(SeccompError::Invalid { field: errno_field(), reason: format!("{action} returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)") });
        }
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActNotify => {
            return Err(unsupported(field, "SCMP_ACT_NOTIFY needs a seccomp agent listening on listenerPath, which hostctl does not run"));
        }
    };
    Ok(scmp)
}

/// The libseccomp rules' conditions for `syscall`: one group (ANDed) normally; one group
/// per condition when two test the same argument (runc's rule).
fn condition_groups(origin: &str, syscall: &LinuxSyscall) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let args = syscall.args().as_deref().unwrap_or_default();
    let mut per_argument = [0usize; ARGUMENTS];
    let mut conditions = Vec::new();
    for (j, arg) in args.iter().enumerate() {
        let compare = condition(arg).map_err(|reason| SeccompError::Invalid { field: format!("{origin}.args[{j}]"), reason })?;
        per_argument[arg.index()] += 1;
        conditions.push(compare);
    }
    if per_argument.iter().any(|n| *n > 1) {
        Ok(conditions.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conditions])
    }
}

/// One argument comparison. `SCMP_CMP_MASKED_EQ` is `(arg & value) == valueTwo`.
pub fn condition(arg: &LinuxSeccompArg) -> Result<ScmpArgCompare, String> {
    use LinuxSeccompOperator as O;
    if arg.index() >= ARGUMENTS {
        return Err(format!("index {} is past the last argument of a system call (5)", arg.index()));
    }
    let two = arg.value_two().unwrap_or(0);
    let op = match arg.op() {
        O::ScmpCmpMaskedEq => return Ok(ScmpArgCompare::new(arg.index() as u32, ScmpCompareOp::MaskedEqual(arg.value()), two)),
        _ if two != 0 => return Err(format!("valueTwo {two} is used only by SCMP_CMP_MASKED_EQ, not {}", arg.op())),
        O::ScmpCmpNe => ScmpCompareOp::NotEqual,
        O::ScmpCmpLt => ScmpCompareOp::Less,
        O::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        O::ScmpCmpEq => ScmpCompareOp::Equal,
        O::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        O::ScmpCmpGt => ScmpCompareOp::Greater,
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, arg.value()))
}

/// The spec's architecture as libseccomp's (by its `SCMP_ARCH_*` name).
pub fn scmp_arch(arch: Arch) -> Result<ScmpArch, String> {
    let name = arch.to_string();
    name.parse::<ScmpArch>().map_err(|_| format!("{name} is not an architecture libseccomp knows"))
}

/// The spec's filter flag as seccomp(2)'s.
pub fn filter_flag(flag: LinuxSeccompFilterFlag) -> Result<u32, String> {
    use LinuxSeccompFilterFlag as F;
    match flag {
        F::SeccompFilterFlagTsync => Ok(libc::SECCOMP_FILTER_FLAG_TSYNC as u32),
        F::SeccompFilterFlagLog => Ok(libc::SECCOMP_FILTER_FLAG_LOG as u32),
        F::SeccompFilterFlagSpecAllow => Ok(libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32),
        F::SeccompFilterFlagWaitKillableRecv => {
            Err("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies to a notify listener, which hostctl does not run".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSyscallBuilder};

    fn arg(index: usize, op: LinuxSeccompOperator, value: u64, two: Option<u64>) -> LinuxSeccompArg {
        let b = LinuxSeccompArgBuilder::default().index(index).op(op).value(value);
        match two {
            Some(two) => b.value_two(two).build().unwrap(),
            None => b.build().unwrap(),
        }
    }

    fn rule(names: &[&str], action: LinuxSeccompAction, errno: Option<u32>, args: Vec<LinuxSeccompArg>) -> LinuxSyscall {
        let mut b = LinuxSyscallBuilder::default().names(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).action(action).args(args);
        if let Some(errno) = errno {
            b = b.errno_ret(errno);
        }
        b.build().unwrap()
    }

    fn spec(default: LinuxSeccompAction, syscalls: Vec<LinuxSyscall>) -> LinuxSeccomp {
        LinuxSeccompBuilder::default().default_action(default).syscalls(syscalls).build().unwrap()
    }

    #[test]
    fn every_action_of_the_runtime_spec_but_notify_has_its_libseccomp_action() {
        use LinuxSeccompAction as A;
        let cases = [
            (A::ScmpActKill, None, ScmpAction::KillThread),
            (A::ScmpActKillThread, None, ScmpAction::KillThread),
            (A::ScmpActKillProcess, None, ScmpAction::KillProcess),
            (A::ScmpActTrap, None, ScmpAction::Trap),
            (A::ScmpActErrno, None, ScmpAction::Errno(libc::EPERM)),
            (A::ScmpActErrno, Some(38), ScmpAction::Errno(libc::ENOSYS)),
            (A::ScmpActErrno, Some(0), ScmpAction::Errno(0)),
            (A::ScmpActTrace, None, ScmpAction::Trace(libc::EPERM as u16)),
            (A::ScmpActTrace, Some(7), ScmpAction::Trace(7)),
            (A::ScmpActAllow, None, ScmpAction::Allow),
            (A::ScmpActLog, None, ScmpAction::Log),
        ];
        for (spec_action, errno, expected) in cases {
            assert_eq!(action("syscalls[0].action", spec_action, errno).unwrap(), expected, "{spec_action} {errno:?}");
        }
    }

    #[test]
    fn notify_a_listener_and_errno_where_none_is_returned_are_refused_by_name() {
        let err = action("syscalls[2].action", LinuxSeccompAction::ScmpActNotify, None).unwrap_err();
        assert!(matches!(&err, SeccompError::Unsupported { field, .. } if field == "syscalls[2].action"), "{err}");
        assert!(err.to_string().contains("SCMP_ACT_NOTIFY"), "{err}");
        let err = action("syscalls[2].action", LinuxSeccompAction::ScmpActAllow, Some(1)).unwrap_err();
        assert_eq!(err.to_string(), "syscalls[2].errnoRet: SCMP_ACT_ALLOW returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)");
        let err = action("defaultAction", LinuxSeccompAction::ScmpActErrno, Some(70000)).unwrap_err();
        assert_eq!(err.to_string(), "defaultErrnoRet: 70000 is above 4095, the largest errno");
        let mut with_listener = spec(LinuxSeccompAction::ScmpActErrno, vec![]);
        with_listener.set_listener_path(Some("/run/agent.sock".into()));
        assert!(plan(&with_listener).unwrap_err().to_string().starts_with("listenerPath: /run/agent.sock: hostctl runs no seccomp agent"));
    }

    #[test]
    fn every_comparison_maps_to_libseccomps_with_masked_eq_taking_value_as_the_mask() {
        use LinuxSeccompOperator as O;
        let cases = [
            (O::ScmpCmpNe, ScmpCompareOp::NotEqual),
            (O::ScmpCmpLt, ScmpCompareOp::Less),
            (O::ScmpCmpLe, ScmpCompareOp::LessOrEqual),
            (O::ScmpCmpEq, ScmpCompareOp::Equal),
            (O::ScmpCmpGe, ScmpCompareOp::GreaterEqual),
            (O::ScmpCmpGt, ScmpCompareOp::Greater),
        ];
        for (op, expected) in cases {
            assert_eq!(condition(&arg(2, op, 40, None)).unwrap(), ScmpArgCompare::new(2, expected, 40));
        }
        // Docker's clone rule: (flags & CLONE_NEW*) == 0.
        let masked = condition(&arg(0, O::ScmpCmpMaskedEq, 2114060288, None)).unwrap();
        assert_eq!(masked, ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(2114060288), 0));
        assert_eq!(condition(&arg(1, O::ScmpCmpMaskedEq, 0xff, Some(0x10))).unwrap(), ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xff), 0x10));
        assert_eq!(condition(&arg(6, O::ScmpCmpEq, 1, None)).unwrap_err(), "index 6 is past the last argument of a system call (5)");
        assert_eq!(condition(&arg(0, O::ScmpCmpEq, 1, Some(2))).unwrap_err(), "valueTwo 2 is used only by SCMP_CMP_MASKED_EQ, not SCMP_CMP_EQ");
    }

    #[test]
    fn conditions_are_anded_unless_two_test_one_argument_then_each_is_a_rule() {
        use LinuxSeccompOperator as O;
        let and = rule(&["socket"], LinuxSeccompAction::ScmpActAllow, None, vec![arg(0, O::ScmpCmpEq, 1, None), arg(1, O::ScmpCmpEq, 2, None)]);
        let or = rule(&["personality"], LinuxSeccompAction::ScmpActAllow, None, vec![arg(0, O::ScmpCmpEq, 0, None), arg(0, O::ScmpCmpEq, 8, None)]);
        let plan = plan(&spec(LinuxSeccompAction::ScmpActErrno, vec![and, or])).unwrap();
        let shape: Vec<(&str, usize)> = plan.rules.iter().map(|r| (r.name.as_str(), r.conditions.len())).collect();
        assert_eq!(shape, [("socket", 2), ("personality", 1), ("personality", 1)]);
        assert_eq!(plan.rules[2].conditions[0], ScmpArgCompare::new(0, ScmpCompareOp::Equal, 8));
    }

    #[test]
    fn a_rule_with_the_default_action_is_dropped_and_names_become_rules_each() {
        let allow = rule(&["read", "write"], LinuxSeccompAction::ScmpActAllow, None, vec![]);
        let same = rule(&["mount"], LinuxSeccompAction::ScmpActErrno, Some(1), vec![]);
        let other = rule(&["clone3"], LinuxSeccompAction::ScmpActErrno, Some(38), vec![]);
        let plan = plan(&spec(LinuxSeccompAction::ScmpActErrno, vec![allow, same, other])).unwrap();
        let names: Vec<&str> = plan.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["read", "write", "clone3"]);
        assert_eq!(plan.rules[2].action, ScmpAction::Errno(38));
        assert_eq!(plan.rules[2].origin, "syscalls[2]");
        let empty = rule(&[], LinuxSeccompAction::ScmpActAllow, None, vec![]);
        assert_eq!(plan_err(vec![empty]), "syscalls[0].names: empty: a rule names at least one system call");
    }

    fn plan_err(syscalls: Vec<LinuxSyscall>) -> String {
        plan(&spec(LinuxSeccompAction::ScmpActErrno, syscalls)).unwrap_err().to_string()
    }

    #[test]
    fn architectures_and_flags_translate_and_the_notify_flag_is_refused() {
        use oci_spec::runtime::LinuxSeccompFilterFlag as F;
        assert_eq!(scmp_arch(Arch::ScmpArchX86_64).unwrap(), ScmpArch::X8664);
        assert_eq!(scmp_arch(Arch::ScmpArchX86).unwrap(), ScmpArch::X86);
        assert_eq!(scmp_arch(Arch::ScmpArchX32).unwrap(), ScmpArch::X32);
        assert_eq!(scmp_arch(Arch::ScmpArchAarch64).unwrap(), ScmpArch::Aarch64);
        let mut s = spec(LinuxSeccompAction::ScmpActErrno, vec![]);
        s.set_flags(Some(vec![F::SeccompFilterFlagTsync, F::SeccompFilterFlagLog, F::SeccompFilterFlagSpecAllow]));
        assert_eq!(plan(&s).unwrap().flags, 0b111);
        s.set_flags(Some(vec![F::SeccompFilterFlagLog, F::SeccompFilterFlagWaitKillableRecv]));
        assert!(plan(&s).unwrap_err().to_string().starts_with("flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies to a notify listener"));
    }
}
