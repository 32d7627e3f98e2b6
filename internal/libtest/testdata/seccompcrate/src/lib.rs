//! Installs a seccomp filter on the calling thread through the platform libc
//! that std already links, without the `libc` crate.
//!
//! ```
//! // Denying getppid with EPERM leaves the caller able to see that it did.
//! let errno = std::thread::spawn(|| {
//!     seccompcrate::deny_with_errno(seccompcrate::SYS_GETPPID, 1).unwrap();
//!     seccompcrate::raw_syscall0(seccompcrate::SYS_GETPPID)
//! })
//! .join()
//! .unwrap();
//! assert_eq!(errno, Err(1));
//! ```

use std::io;

#[cfg(target_arch = "x86_64")]
mod arch {
    pub const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    pub const SYS_GETPID: i64 = 39;
    pub const SYS_GETPPID: i64 = 110;
}

#[cfg(target_arch = "aarch64")]
mod arch {
    pub const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    pub const SYS_GETPID: i64 = 172;
    pub const SYS_GETPPID: i64 = 173;
}

pub use arch::{SYS_GETPID, SYS_GETPPID};

const PR_SET_NO_NEW_PRIVS: i32 = 38;
const PR_SET_SECCOMP: i32 = 22;
const SECCOMP_MODE_FILTER: u64 = 2;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

const BPF_LD_W_ABS: u16 = 0x00 | 0x00 | 0x20;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10 | 0x00;
const BPF_RET_K: u16 = 0x06 | 0x00;

#[repr(C)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

extern "C" {
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    fn syscall(number: i64, ...) -> i64;
}

/// Makes syscall `nr` fail with `errno` on the calling thread (and threads it
/// starts later). Other threads are untouched: no TSYNC.
pub fn deny_with_errno(nr: i64, errno: u16) -> io::Result<()> {
    let filter = [
        // seccomp_data.arch at offset 4: another ABI is allowed through.
        SockFilter { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 4 },
        SockFilter { code: BPF_JMP_JEQ_K, jt: 1, jf: 0, k: arch::AUDIT_ARCH },
        SockFilter { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW },
        // seccomp_data.nr at offset 0.
        SockFilter { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 0 },
        SockFilter { code: BPF_JMP_JEQ_K, jt: 0, jf: 1, k: nr as u32 },
        SockFilter { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | u32::from(errno) },
        SockFilter { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW },
    ];
    let prog = SockFprog { len: filter.len() as u16, filter: filter.as_ptr() };
    // SAFETY: plain prctl calls; prog and filter outlive the call, which copies them.
    unsafe {
        if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog as *const SockFprog as u64, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Calls a syscall without arguments: Ok(return value) or Err(errno).
pub fn raw_syscall0(nr: i64) -> Result<i64, i32> {
    // SAFETY: the syscalls used here take no arguments and touch no memory.
    let r = unsafe { syscall(nr) };
    if r == -1 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn getppid_works_without_a_filter() {
        assert!(super::raw_syscall0(super::SYS_GETPPID).unwrap() > 0);
    }
}
