//! Running a seccomp filter's classic BPF program on one system call, as the kernel
//! does, without installing it.
//!
//! Written here rather than taken from a crate: no maintained crate interprets classic
//! BPF (the seccomp crates compile or install filters, libseccomp's own simulator is a
//! test tool outside the library), and seccomp allows only a small, checked subset of
//! the instruction set (`seccomp_check_filter` in the kernel): 32-bit loads from the
//! `seccomp_data` the call is described by, the scratch memory, the ALU and the
//! forward jumps. Anything else, and a program that runs off its end, is an error.

/// `struct seccomp_data`: what a filter sees of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at byte offset `k` of the struct (little-endian, as on x86).
    fn word(&self, k: u32) -> Option<u32> {
        if !k.is_multiple_of(4) {
            return None;
        }
        let half = |v: u64, high: bool| if high { (v >> 32) as u32 } else { v as u32 };
        match k {
            0 => Some(self.nr as u32),
            4 => Some(self.arch),
            8 | 12 => Some(half(self.instruction_pointer, k == 12)),
            16..=60 => {
                let i = ((k - 16) / 8) as usize;
                Some(half(self.args[i], (k - 16) % 8 == 4))
            }
            _ => None,
        }
    }
}

/// One instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// The instructions of a program as libseccomp exports it: 8 bytes each, in host
    /// byte order.
    pub fn parse_program(bytes: &[u8]) -> Result<Vec<Insn>, String> {
        if !bytes.len().is_multiple_of(8) || bytes.is_empty() {
            return Err(format!(
                "a BPF program of {} bytes is no whole number of instructions",
                bytes.len()
            ));
        }
        Ok(bytes
            .chunks_exact(8)
            .map(|c| Insn {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect())
    }
}

// Instruction classes and fields (linux/bpf_common.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const ABS: u16 = 0x20;
const IMM: u16 = 0x00;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const K: u16 = 0x00;
const X: u16 = 0x08;
const A: u16 = 0x10;

/// Runs `program` on `data`; the filter's return value (action and data).
pub fn run(program: &[Insn], data: &SeccompData) -> Result<u32, String> {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    // Every jump is forward, so a program ends within its length.
    while let Some(insn) = program.get(pc) {
        let code = insn.code;
        let at = pc;
        let bad = || format!("instruction {at} ({code:#06x}) is not one seccomp allows");
        pc += 1;
        match code & 0x07 {
            LD => {
                a = match code & 0xe0 {
                    ABS if code & 0x18 == W => data
                        .word(insn.k)
                        .ok_or_else(|| format!("instruction {at}: load of offset {}", insn.k))?,
                    IMM => insn.k,
                    MEM => *mem.get(insn.k as usize).ok_or_else(bad)?,
                    LEN => 64,
                    _ => return Err(bad()),
                }
            }
            LDX => {
                x = match code & 0xe0 {
                    IMM => insn.k,
                    MEM => *mem.get(insn.k as usize).ok_or_else(bad)?,
                    LEN => 64,
                    _ => return Err(bad()),
                }
            }
            ST => *mem.get_mut(insn.k as usize).ok_or_else(bad)? = a,
            STX => *mem.get_mut(insn.k as usize).ok_or_else(bad)? = x,
            ALU => {
                let operand = if code & 0x08 == X { x } else { insn.k };
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(operand),
                    0x10 => a.wrapping_sub(operand),
                    0x20 => a.wrapping_mul(operand),
                    0x30 => a.checked_div(operand).ok_or("division by zero")?,
                    0x40 => a | operand,
                    0x50 => a & operand,
                    0x60 => a.checked_shl(operand).unwrap_or(0),
                    0x70 => a.checked_shr(operand).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(operand).ok_or("division by zero")?,
                    0xa0 => a ^ operand,
                    _ => return Err(bad()),
                }
            }
            JMP => {
                let operand = if code & 0x08 == X { x } else { insn.k };
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc += insn.k as usize;
                        continue;
                    }
                    0x10 => a == operand,
                    0x20 => a > operand,
                    0x30 => a >= operand,
                    0x40 => a & operand != 0,
                    _ => return Err(bad()),
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            RET => {
                return match code & 0x18 {
                    K => Ok(insn.k),
                    A => Ok(a),
                    _ => Err(bad()),
                }
            }
            MISC => match code & 0xf8 {
                0x00 => x = a,
                0x80 => a = x,
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        }
    }
    Err("the program ran past its end without returning".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// `if arch != X86_64: kill; if nr == 59: errno(1); allow` by hand.
    fn program() -> Vec<Insn> {
        vec![
            insn(LD | W | ABS, 0, 0, 4),
            insn(JMP | 0x10 | K, 1, 0, 0xc000_003e),
            insn(RET | K, 0, 0, 0),
            insn(LD | W | ABS, 0, 0, 0),
            insn(JMP | 0x10 | K, 0, 1, 59),
            insn(RET | K, 0, 0, 0x0005_0001),
            insn(RET | K, 0, 0, 0x7fff_0000),
        ]
    }

    #[test]
    fn runs_a_small_filter() {
        let call = |arch, nr| SeccompData {
            nr,
            arch,
            ..SeccompData::default()
        };
        assert_eq!(run(&program(), &call(0xc000_003e, 59)), Ok(0x0005_0001));
        assert_eq!(run(&program(), &call(0xc000_003e, 57)), Ok(0x7fff_0000));
        assert_eq!(run(&program(), &call(0x4000_0003, 59)), Ok(0));
    }

    #[test]
    fn argument_halves_are_where_the_kernel_puts_them() {
        let data = SeccompData {
            args: [0x1111_2222_3333_4444, 0, 0, 0, 0, 0x5555_6666_7777_8888],
            ..SeccompData::default()
        };
        assert_eq!(data.word(16), Some(0x3333_4444));
        assert_eq!(data.word(20), Some(0x1111_2222));
        assert_eq!(data.word(56), Some(0x7777_8888));
        assert_eq!(data.word(60), Some(0x5555_6666));
        assert_eq!(data.word(64), None);
        assert_eq!(data.word(2), None);
    }

    #[test]
    fn bad_programs_are_errors() {
        assert!(run(&[insn(LD | W | ABS, 0, 0, 4)], &SeccompData::default()).is_err());
        assert!(run(&[insn(0x0f, 0, 0, 0)], &SeccompData::default()).is_err());
        assert!(Insn::parse_program(&[0; 7]).is_err());
    }
}
