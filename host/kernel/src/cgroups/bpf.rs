//! The cgroup v2 device controller: a `BPF_PROG_TYPE_CGROUP_DEVICE` program, emitted
//! here instruction by instruction (as runc and crun emit theirs; no maintained crate
//! generates device programs) from the [`Effective`] rules of [`super::devices`].
//!
//! The kernel runs the program on every open and mknod of a device node by a process of
//! the cgroup, with a `struct bpf_cgroup_dev_ctx` in `r1`: `access_type` (u32 at 0: the
//! device type `BPF_DEVCG_DEV_BLOCK`/`CHAR` in its low 16 bits, the `BPF_DEVCG_ACC_*`
//! access bits in its high 16 bits), `major` (u32 at 4), `minor` (u32 at 8). It returns
//! 1 to allow, 0 to deny (`EPERM`). The program:
//!
//! ```text
//!  0: r2 = *(u32 *)(r1 + 0)     r2 &= 0xffff      type
//!  2: r3 = *(u32 *)(r1 + 0)     r3 >>= 16         access asked
//!  4: r4 = *(u32 *)(r1 + 4)                       major
//!  5: r5 = *(u32 *)(r1 + 8)                       minor
//!     one block per exception, each falling through to the next on a mismatch:
//!     if r2 != TYPE goto next
//!     r1 = r3; r1 &= ACCESS; if r1 != r3 goto next     (allow: all of the access is covered)
//!     r1 = r3; r1 &= ACCESS; if r1 == 0 goto next      (deny: some of the access is named)
//!     if r4 != MAJOR goto next                         (unless *)
//!     if r5 != MINOR goto next                         (unless *)
//!     r0 = 1 (allow) or 0 (deny); exit
//!     last: r0 = the default; exit
//! ```
//!
//! The access test is left out when the exception names all of `rwm`. The exceptions of
//! an [`Effective`] all say the opposite of its default, so their order does not matter
//! and the program decides exactly as v1 would (see [`super::devices`]).
//!
//! [`syscall`] loads it (`BPF_PROG_LOAD`) and attaches it to the container's cgroup
//! (`BPF_PROG_ATTACH`, `BPF_CGROUP_DEVICE`, `BPF_F_ALLOW_MULTI`: a parent's programs run
//! too, and every one must allow). The program's descriptor is closed right after: the
//! attachment holds the kernel's reference, so the program lives exactly as long as the
//! cgroup: removing the cgroup (`rmdir`, once its last process is gone) detaches and
//! frees it. Nothing else needs undoing.

pub mod syscall;

use std::os::fd::AsFd;

use self::syscall::BpfError;
use super::devices::{ACCESS_ALL, Effective, Exception};

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    /// Jump offset: instructions to skip after this one.
    pub off: i16,
    pub imm: i32,
}

// Opcodes (linux/bpf_common.h, linux/bpf.h): class | operation | source.
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn { code, dst, src, off, imm }
    }

    /// `dst = *(u32 *)(src + off)`.
    pub const fn load_word(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(LDX_MEM_W, dst, src, off, 0)
    }
    /// `dst &= imm` (32-bit).
    pub const fn and(dst: u8, imm: i32) -> Insn {
        Insn::new(ALU32_AND_K, dst, 0, 0, imm)
    }
    /// `dst >>= imm` (32-bit).
    pub const fn shift_right(dst: u8, imm: i32) -> Insn {
        Insn::new(ALU32_RSH_K, dst, 0, 0, imm)
    }
    /// `dst = imm` (32-bit).
    pub const fn mov(dst: u8, imm: i32) -> Insn {
        Insn::new(ALU32_MOV_K, dst, 0, 0, imm)
    }
    /// `dst = src` (32-bit).
    pub const fn mov_reg(dst: u8, src: u8) -> Insn {
        Insn::new(ALU32_MOV_X, dst, src, 0, 0)
    }
    /// `if dst != imm goto +off`.
    pub const fn jump_ne(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(JMP_JNE_K, dst, 0, off, imm)
    }
    /// `if dst == imm goto +off`.
    pub const fn jump_eq(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(JMP_JEQ_K, dst, 0, off, imm)
    }
    /// `if dst != src goto +off`.
    pub const fn jump_ne_reg(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(JMP_JNE_X, dst, src, off, 0)
    }
    /// `exit` (returns `r0`).
    pub const fn exit() -> Insn {
        Insn::new(JMP_EXIT, 0, 0, 0, 0)
    }

    /// The 8 bytes the kernel reads: code, dst (low nibble) and src (high nibble),
    /// offset and immediate in little-endian order (this crate builds for x86_64 and
    /// aarch64, both little-endian).
    pub fn encode(self) -> [u8; 8] {
        let [o0, o1] = self.off.to_le_bytes();
        let [i0, i1, i2, i3] = self.imm.to_le_bytes();
        [self.code, (self.src << 4) | (self.dst & 0x0f), o0, o1, i0, i1, i2, i3]
    }
}

/// Registers, as the program uses them.
const R0: u8 = 0;
const CTX: u8 = 1;
const TMP: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

/// The device program for `rules`; see the module docs for its shape.
pub fn device_program(rules: &Effective) -> Vec<Insn> {
    let mut program = vec![
        Insn::load_word(TYPE, CTX, 0),
        Insn::and(TYPE, 0xffff),
        Insn::load_word(ACCESS, CTX, 0),
        Insn::shift_right(ACCESS, 16),
        Insn::load_word(MAJOR, CTX, 4),
        Insn::load_word(MINOR, CTX, 8),
    ];
    for exception in &rules.exceptions {
        program.extend(block(exception, !rules.default_allow));
    }
    program.extend([Insn::mov(R0, i32::from(rules.default_allow)), Insn::exit()]);
    program
}

/// The instructions of one exception: each test jumps to the block's end (the next
/// block) when it fails; the last two return `allow`.
fn block(exception: &Exception, allow: bool) -> Vec<Insn> {
    // Tests, each a jump to be aimed once the block's length is known.
    let mut tests: Vec<Vec<Insn>> = vec![vec![Insn::jump_ne(TYPE, exception.kind as i32, 0)]];
    if exception.access != ACCESS_ALL {
        let mask = [Insn::mov_reg(TMP, ACCESS), Insn::and(TMP, i32::from(exception.access))];
        let jump = if allow { Insn::jump_ne_reg(TMP, ACCESS, 0) } else { Insn::jump_eq(TMP, 0, 0) };
        tests.push([&mask[..], &[jump]].concat());
    }
    if let Some(major) = exception.major {
        tests.push(vec![Insn::jump_ne(MAJOR, major as i32, 0)]);
    }
    if let Some(minor) = exception.minor {
        tests.push(vec![Insn::jump_ne(MINOR, minor as i32, 0)]);
    }
    let mut block: Vec<Insn> = tests.concat();
    block.extend([Insn::mov(R0, i32::from(allow)), Insn::exit()]);
    let len = block.len();
    for (i, insn) in block.iter_mut().enumerate() {
        if matches!(insn.code, JMP_JNE_K | JMP_JEQ_K | JMP_JNE_X) {
            insn.off = (len - i - 1) as i16;
        }
    }
    block
}

/// Load the device program for `rules` and attach it to the cgroup open as `cgroup`;
/// then detach the device programs attached there before (a cgroup left by an earlier
/// attempt of the same container), so that only the new rules apply and there is no
/// moment with none.
pub fn install(cgroup: impl AsFd, rules: &Effective) -> Result<(), BpfError> {
    let before = syscall::attached_device_programs(&cgroup)?;
    let program = syscall::load_device_program(&device_program(rules), "hostctl_devices")?;
    syscall::attach_device_program(&cgroup, &program)?;
    for id in before {
        if let Some(old) = syscall::device_program_by_id(id)? {
            syscall::detach_device_program(&cgroup, &old)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
