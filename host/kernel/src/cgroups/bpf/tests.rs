//! The emitted device program, instruction by instruction, and run (by the small
//! interpreter below) against the v1 reference of [`Effective::allows`].

use super::*;
use crate::cgroups::devices::{ACCESS_MKNOD, ACCESS_READ, ACCESS_WRITE, DeviceRule, DeviceType};

/// Run `program` on one device access, as the kernel would (for the unit tests: every
/// instruction the emitter uses, nothing more).
fn run(program: &[Insn], kind: DeviceType, major: u32, minor: u32, access: u8) -> u32 {
    let ctx = [(u32::from(access) << 16) | kind as u32, major, minor];
    let mut reg = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let insn = program[pc];
        let (dst, src) = (insn.dst as usize, insn.src as usize);
        pc += 1;
        let jump = |taken: bool, pc: &mut usize| {
            if taken {
                *pc = (*pc as isize + insn.off as isize) as usize;
            }
        };
        match insn.code {
            LDX_MEM_W => reg[dst] = u64::from(ctx[insn.off as usize / 4]),
            ALU32_AND_K => reg[dst] = u64::from(reg[dst] as u32 & insn.imm as u32),
            ALU32_RSH_K => reg[dst] = u64::from((reg[dst] as u32) >> insn.imm),
            ALU32_MOV_K => reg[dst] = u64::from(insn.imm as u32),
            ALU32_MOV_X => reg[dst] = u64::from(reg[src] as u32),
            JMP_JNE_K => jump(reg[dst] != insn.imm as i64 as u64, &mut pc),
            JMP_JEQ_K => jump(reg[dst] == insn.imm as i64 as u64, &mut pc),
            JMP_JNE_X => jump(reg[dst] != reg[src], &mut pc),
            JMP_EXIT => return reg[0] as u32,
            other => panic!("opcode {other:#x} is not emitted"),
        }
    }
}


fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
    DeviceRule { allow, kind, major, minor, access: access.into() }
}

#[test]
fn a_small_allow_list_is_emitted_instruction_by_instruction() {
    let rules = [
        rule(false, 'a', None, None, "rwm"),
        rule(true, 'c', Some(1), Some(3), "rwm"),
        rule(true, 'c', None, None, "m"),
        rule(true, 'b', Some(8), None, "r"),
    ];
    let program = device_program(&Effective::of(&rules).unwrap());
    let want = [
        Insn::load_word(2, 1, 0),
        Insn::and(2, 0xffff),
        Insn::load_word(3, 1, 0),
        Insn::shift_right(3, 16),
        Insn::load_word(4, 1, 4),
        Insn::load_word(5, 1, 8),
        // c 1:3 rwm: no access test; a failed test skips to 11.
        Insn::jump_ne(2, 2, 4),
        Insn::jump_ne(4, 1, 3),
        Insn::jump_ne(5, 3, 2),
        Insn::mov(0, 1),
        Insn::exit(),
        // c *:* m: all of the access asked must be m; a failed test skips to 17.
        Insn::jump_ne(2, 2, 5),
        Insn::mov_reg(1, 3),
        Insn::and(1, 1),
        Insn::jump_ne_reg(1, 3, 2),
        Insn::mov(0, 1),
        Insn::exit(),
        // b 8:* r: a failed test skips to 24.
        Insn::jump_ne(2, 1, 6),
        Insn::mov_reg(1, 3),
        Insn::and(1, 2),
        Insn::jump_ne_reg(1, 3, 3),
        Insn::jump_ne(4, 8, 2),
        Insn::mov(0, 1),
        Insn::exit(),
        // The default: deny.
        Insn::mov(0, 0),
        Insn::exit(),
    ];
    assert_eq!(program, want);
    // Every jump lands on the first instruction of the next block.
    for (pc, insn) in program.iter().enumerate().filter(|(_, i)| matches!(i.code, JMP_JNE_K | JMP_JEQ_K | JMP_JNE_X)) {
        let target = pc + 1 + insn.off as usize;
        assert!([11, 17, 24].contains(&target), "jump at {pc} lands on {target}");
    }
}

#[test]
fn a_deny_list_tests_for_shared_access() {
    let rules = [rule(true, 'a', None, None, "rwm"), rule(false, 'b', Some(8), Some(0), "w")];
    let program = device_program(&Effective::of(&rules).unwrap());
    assert_eq!(
        program[6..],
        [
            Insn::jump_ne(2, 1, 7),
            Insn::mov_reg(1, 3),
            Insn::and(1, 4),
            Insn::jump_eq(1, 0, 4),
            Insn::jump_ne(4, 8, 3),
            Insn::jump_ne(5, 0, 2),
            Insn::mov(0, 0),
            Insn::exit(),
            Insn::mov(0, 1),
            Insn::exit(),
        ]
    );
}

#[test]
fn instructions_encode_as_the_kernels_struct_bpf_insn() {
    assert_eq!(Insn::load_word(2, 1, 4).encode(), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
    assert_eq!(Insn::and(2, 0xffff).encode(), [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0]);
    assert_eq!(Insn::jump_ne(4, 136, 3).encode(), [0x55, 0x04, 3, 0, 136, 0, 0, 0]);
    assert_eq!(Insn::jump_ne_reg(1, 3, 2).encode(), [0x5d, 0x31, 2, 0, 0, 0, 0, 0]);
    assert_eq!(Insn::exit().encode(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn the_program_decides_as_v1_would_for_every_device_and_access() {
    let lists: Vec<Vec<DeviceRule>> = vec![
        DeviceRule::docker_defaults(),
        [DeviceRule::docker_defaults(), vec![rule(true, 'c', Some(1), Some(1), "r"), rule(true, 'b', Some(7), None, "rw")]].concat(),
        [DeviceRule::docker_defaults(), vec![rule(true, 'a', None, None, "rwm"), rule(false, 'c', Some(1), Some(1), "rw")]].concat(),
        vec![rule(false, 'c', Some(5), None, "m"), rule(false, 'b', None, Some(0), "r")],
        vec![],
    ];
    let accesses: Vec<u8> = (1..=7).collect();
    let devices = [(1, 1), (1, 3), (1, 9), (5, 0), (5, 2), (7, 0), (7, 3), (8, 0), (136, 4), (4095, 1_048_575)];
    for rules in &lists {
        let effective = Effective::of(rules).unwrap();
        let program = device_program(&effective);
        for kind in [DeviceType::Char, DeviceType::Block] {
            for (major, minor) in devices {
                for &access in &accesses {
                    let want = effective.allows(kind, major, minor, access);
                    let got = run(&program, kind, major, minor, access) == 1;
                    assert_eq!(got, want, "{kind:?} {major}:{minor} access {access} under {rules:?}");
                }
            }
        }
    }
    // And what Docker's rules mean for the devices a test would try.
    let docker = device_program(&Effective::of(&DeviceRule::docker_defaults()).unwrap());
    assert_eq!(run(&docker, DeviceType::Char, 1, 3, ACCESS_READ | ACCESS_WRITE), 1);
    assert_eq!(run(&docker, DeviceType::Char, 1, 1, ACCESS_MKNOD), 1);
    assert_eq!(run(&docker, DeviceType::Char, 1, 1, ACCESS_READ), 0);
}
