//! Device access rules (the devices cgroup) and what an ordered list of them amounts to.
//!
//! A container's rules are the ordered list v1 takes in `devices.allow` / `devices.deny`
//! (Docker's first: deny everything, then allow the default devices). cgroup v2 has no
//! such files: a `BPF_PROG_TYPE_CGROUP_DEVICE` program ([`super::bpf`]) decides instead,
//! and it must decide as v1 would for the same list. [`Effective::of`] therefore replays
//! the list the way the v1 controller does (`security/device_cgroup.c`), as runc's
//! devices emulator does:
//!
//! - a rule of type `a` sets the default (allow for an allow rule, deny for a deny rule)
//!   and forgets every exception;
//! - a `b`/`c` rule whose verb is the opposite of the default adds an exception (access
//!   merged with an exception of the same type, major and minor);
//! - a `b`/`c` rule whose verb is the default's takes its access away from the exception
//!   of exactly that type, major and minor (if there is one).
//!
//! A device access (type, major, minor, some of `r`/`w`/`m`) is then allowed, under a
//! default deny, when one exception covers all of the access asked; under a default
//! allow, it is denied when any exception shares some of it. `*` matches any number.
//!
//! Refused (for v1 and v2 alike, so both behave the same): a rule that would punch a
//! hole in a wildcard exception (v1 silently ignores it: runc refuses it too), a type `a`
//! rule with a major, minor or access other than `*:* rwm` (v1 ignores all three), and
//! numbers beyond the kernel's 12-bit majors and 20-bit minors.

/// One device cgroup rule: `c 1:3 rwm`, `a *:* rwm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    /// `a` (all), `c` or `b`.
    pub kind: char,
    /// `None` is any (`*`).
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Some of `r`, `w`, `m`.
    pub access: String,
}

/// Why a list of device rules cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceRuleError {
    #[error("device rule {rule:?}: type {kind:?} is not a, b or c")]
    Kind { rule: String, kind: char },
    #[error("device rule {rule:?}: access {access:?} is not some of rwm")]
    Access { rule: String, access: String },
    #[error("device rule {rule:?}: {what} {value} is outside 0..={max}")]
    Number { rule: String, what: &'static str, value: i64, max: i64 },
    #[error("device rule {rule:?}: type a means every device and every access: it takes only *:* rwm")]
    PartialAll { rule: String },
    #[error("device rule {rule:?}: cannot take access away from part of the earlier wildcard rule {wildcard:?} (cgroup v1 would ignore it)")]
    Hole { rule: String, wildcard: String },
}

/// The kernel's largest major (12 bits) and minor (20 bits).
const MAX_MAJOR: i64 = (1 << 12) - 1;
const MAX_MINOR: i64 = (1 << 20) - 1;

/// Access bits, as the kernel's `BPF_DEVCG_ACC_*` (and v1's `ACC_*`) numbers them.
pub const ACCESS_MKNOD: u8 = 1;
pub const ACCESS_READ: u8 = 2;
pub const ACCESS_WRITE: u8 = 4;
pub const ACCESS_ALL: u8 = ACCESS_MKNOD | ACCESS_READ | ACCESS_WRITE;

/// A device type, as the kernel's `BPF_DEVCG_DEV_*` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceType {
    Block = 1,
    Char = 2,
}

/// An exception to the default: these devices, with this access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub kind: DeviceType,
    /// `None` is any.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// `ACCESS_*` bits, never 0.
    pub access: u8,
}

/// What an ordered rule list amounts to: a default and its exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Whether a device no exception names may be used (v1's "blacklist" mode).
    pub default_allow: bool,
    /// Exceptions in the order they were first made.
    pub exceptions: Vec<Exception>,
}

impl DeviceRule {
    /// Allow `kind major:minor` with `access`.
    pub fn allow(kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule { allow: true, kind, major, minor, access: access.into() }
    }

    /// The line v1 `devices.allow`/`devices.deny` take.
    pub fn line(&self) -> String {
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        format!("{} {}:{} {}", self.kind, n(self.major), n(self.minor), self.access)
    }

    /// Docker's (runc's) rules: deny everything, then allow creating any node and using
    /// the default devices (`null`, `zero`, `full`, `random`, `urandom`, `tty`, `ptmx`,
    /// the pts instance).
    pub fn docker_defaults() -> Vec<DeviceRule> {
        let c = |major, minor| DeviceRule::allow('c', Some(major), minor, "rwm");
        vec![
            DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: "rwm".into() },
            DeviceRule::allow('c', None, None, "m"),
            DeviceRule::allow('b', None, None, "m"),
            c(1, Some(3)),
            c(1, Some(5)),
            c(1, Some(7)),
            c(1, Some(8)),
            c(1, Some(9)),
            c(5, Some(0)),
            c(5, Some(2)),
            c(136, None),
        ]
    }

    /// The access bits of `access`.
    fn access_bits(&self) -> Result<u8, DeviceRuleError> {
        let bad = || DeviceRuleError::Access { rule: self.line(), access: self.access.clone() };
        if self.access.is_empty() {
            return Err(bad());
        }
        self.access.chars().try_fold(0, |bits, c| match c {
            'm' => Ok(bits | ACCESS_MKNOD),
            'r' => Ok(bits | ACCESS_READ),
            'w' => Ok(bits | ACCESS_WRITE),
            _ => Err(bad()),
        })
    }

    fn number(&self, what: &'static str, value: Option<i64>, max: i64) -> Result<Option<u32>, DeviceRuleError> {
        match value {
            None => Ok(None),
            Some(v) if (0..=max).contains(&v) => Ok(Some(v as u32)),
            Some(v) => Err(DeviceRuleError::Number { rule: self.line(), what, value: v, max }),
        }
    }
}

impl Exception {
    /// `c 1:3 rwm`.
    fn line(&self) -> String {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let kind = if self.kind == DeviceType::Block { 'b' } else { 'c' };
        let access: String = [(ACCESS_READ, 'r'), (ACCESS_WRITE, 'w'), (ACCESS_MKNOD, 'm')]
            .iter()
            .filter(|(bit, _)| self.access & bit != 0)
            .map(|(_, c)| c)
            .collect();
        format!("{kind} {}:{} {access}", n(self.major), n(self.minor))
    }

    fn names_device(&self, kind: DeviceType, major: u32, minor: u32) -> bool {
        self.kind == kind && self.major.is_none_or(|m| m == major) && self.minor.is_none_or(|m| m == minor)
    }
}

impl Effective {
    /// Replay `rules` as the v1 controller would, starting from its own default (allow
    /// all, no exceptions); see the module docs.
    pub fn of(rules: &[DeviceRule]) -> Result<Effective, DeviceRuleError> {
        let mut state = Effective { default_allow: true, exceptions: Vec::new() };
        for rule in rules {
            let access = rule.access_bits()?;
            let kind = match rule.kind {
                'a' if rule.major.is_none() && rule.minor.is_none() && access == ACCESS_ALL => {
                    state = Effective { default_allow: rule.allow, exceptions: Vec::new() };
                    continue;
                }
                'a' => return Err(DeviceRuleError::PartialAll { rule: rule.line() }),
                'b' => DeviceType::Block,
                'c' => DeviceType::Char,
                other => return Err(DeviceRuleError::Kind { rule: rule.line(), kind: other }),
            };
            let major = rule.number("major", rule.major, MAX_MAJOR)?;
            let minor = rule.number("minor", rule.minor, MAX_MINOR)?;
            let exception = Exception { kind, major, minor, access };
            if rule.allow != state.default_allow {
                state.add(exception);
            } else {
                state.take_away(exception, rule)?;
            }
        }
        Ok(state)
    }

    fn add(&mut self, new: Exception) {
        let same = |e: &&mut Exception| e.kind == new.kind && e.major == new.major && e.minor == new.minor;
        match self.exceptions.iter_mut().find(same) {
            Some(existing) => existing.access |= new.access,
            None => self.exceptions.push(new),
        }
    }

    fn take_away(&mut self, gone: Exception, rule: &DeviceRule) -> Result<(), DeviceRuleError> {
        let wider = |e: &Exception| {
            e.kind == gone.kind
                && (e.major, e.minor) != (gone.major, gone.minor)
                && (e.major.is_none() || e.major == gone.major)
                && (e.minor.is_none() || e.minor == gone.minor)
                && e.access & gone.access != 0
        };
        if let Some(wildcard) = self.exceptions.iter().find(|e| wider(e)) {
            return Err(DeviceRuleError::Hole { rule: rule.line(), wildcard: wildcard.line() });
        }
        for e in &mut self.exceptions {
            if e.kind == gone.kind && e.major == gone.major && e.minor == gone.minor {
                e.access &= !gone.access;
            }
        }
        self.exceptions.retain(|e| e.access != 0);
        Ok(())
    }

    /// Whether an access to device `kind major:minor` asking for `access` (`ACCESS_*`
    /// bits) is allowed; the reference the BPF program is tested against.
    pub fn allows(&self, kind: DeviceType, major: u32, minor: u32, access: u8) -> bool {
        let named = self.exceptions.iter().filter(|e| e.names_device(kind, major, minor));
        if self.default_allow {
            !named.into_iter().any(|e| e.access & access != 0)
        } else {
            named.into_iter().any(|e| access & !e.access == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, line: &str) -> DeviceRule {
        let mut parts = line.split([' ', ':']);
        let kind = parts.next().unwrap().chars().next().unwrap();
        let n = |s: &str| if s == "*" { None } else { Some(s.parse().unwrap()) };
        let (major, minor) = (n(parts.next().unwrap()), n(parts.next().unwrap()));
        DeviceRule { allow, kind, major, minor, access: parts.next().unwrap().into() }
    }

    const C: DeviceType = DeviceType::Char;
    const B: DeviceType = DeviceType::Block;
    const RW: u8 = ACCESS_READ | ACCESS_WRITE;

    #[test]
    fn dockers_defaults_deny_all_but_their_devices_and_mknod() {
        let e = Effective::of(&DeviceRule::docker_defaults()).unwrap();
        assert!(!e.default_allow);
        assert_eq!(e.exceptions.len(), 10);
        assert!(e.allows(C, 1, 3, RW), "/dev/null");
        assert!(e.allows(C, 136, 7, RW), "a pts");
        assert!(e.allows(C, 1, 1, ACCESS_MKNOD) && e.allows(B, 8, 0, ACCESS_MKNOD), "mknod of anything");
        assert!(!e.allows(C, 1, 1, ACCESS_READ), "/dev/mem");
        assert!(!e.allows(B, 8, 0, ACCESS_READ), "a disk");
        assert!(!e.allows(C, 1, 1, ACCESS_MKNOD | ACCESS_READ), "one exception must cover all of the access");
    }

    #[test]
    fn an_allow_all_rule_resets_to_allow_and_a_deny_then_adds_an_exception() {
        // --privileged after Docker's rules, then one device taken away.
        let mut rules = DeviceRule::docker_defaults();
        rules.push(rule(true, "a *:* rwm"));
        rules.push(rule(false, "b 8:0 w"));
        let e = Effective::of(&rules).unwrap();
        assert!(e.default_allow);
        assert_eq!(e.exceptions, [Exception { kind: B, major: Some(8), minor: Some(0), access: ACCESS_WRITE }]);
        assert!(e.allows(B, 8, 0, ACCESS_READ));
        assert!(!e.allows(B, 8, 0, RW), "v1 denies on any shared access bit");
        assert!(e.allows(C, 1, 1, RW));
    }

    #[test]
    fn allows_merge_and_denies_take_access_back_from_the_same_device() {
        let rules = [rule(false, "a *:* rwm"), rule(true, "c 10:200 r"), rule(true, "c 10:200 w"), rule(false, "c 10:200 r")];
        let e = Effective::of(&rules).unwrap();
        assert_eq!(e.exceptions, [Exception { kind: C, major: Some(10), minor: Some(200), access: ACCESS_WRITE }]);
        let gone = Effective::of(&[rules[0].clone(), rules[1].clone(), rule(false, "c 10:200 rwm")]).unwrap();
        assert!(gone.exceptions.is_empty());
    }

    #[test]
    fn the_last_matching_rule_wins_for_the_same_device() {
        let rules = [rule(false, "a *:* rwm"), rule(true, "c 1:1 rw"), rule(false, "c 1:1 rw"), rule(true, "c 1:1 r")];
        let e = Effective::of(&rules).unwrap();
        assert!(e.allows(C, 1, 1, ACCESS_READ) && !e.allows(C, 1, 1, ACCESS_WRITE));
    }

    #[test]
    fn a_hole_in_a_wildcard_is_refused() {
        let rules = [rule(false, "a *:* rwm"), rule(true, "c 136:* rwm"), rule(false, "c 136:3 w")];
        let err = Effective::of(&rules).unwrap_err();
        assert_eq!(err.to_string(), "device rule \"c 136:3 w\": cannot take access away from part of the earlier wildcard rule \"c 136:* rwm\" (cgroup v1 would ignore it)");
        // Access the wildcard does not give is not a hole.
        assert!(Effective::of(&[rule(false, "a *:* rwm"), rule(true, "c *:* m"), rule(false, "c 1:3 r")]).is_ok());
    }

    #[test]
    fn bad_rules_are_refused_by_name() {
        let cases = [
            (rule(true, "a 1:3 rwm"), "type a means every device"),
            (rule(true, "a *:* r"), "type a means every device"),
            (rule(true, "c 4096:0 r"), "major 4096 is outside 0..=4095"),
            (rule(true, "c 1:1048576 r"), "minor 1048576 is outside"),
            (rule(true, "c 1:-1 r"), "minor -1 is outside"),
            (rule(true, "c 1:3 rx"), "access \"rx\" is not some of rwm"),
            (rule(true, "p 1:3 r"), "type 'p' is not a, b or c"),
        ];
        for (rule, want) in cases {
            let err = Effective::of(&[rule]).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        let empty = DeviceRule { access: String::new(), ..rule(true, "c 1:3 r") };
        assert!(Effective::of(&[empty]).is_err());
    }

    #[test]
    fn no_rules_leave_the_kernels_default_allow() {
        assert_eq!(Effective::of(&[]).unwrap(), Effective { default_allow: true, exceptions: vec![] });
    }
}
