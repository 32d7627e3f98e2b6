//! The functional seccomp probe: a filter is installed and the kernel must
//! enforce it. Each test filters a thread of its own, so the harness is never
//! filtered.

// Like mvm's seccomp_apply, Linux-only: on another target the file compiles
// to nothing and libtest prints "running 0 tests", which must never read as
// a pass. Tests build it that way here with
// RUSTFLAGS="--cfg seccompcrate_other_target".
#![cfg(all(target_os = "linux", not(seccompcrate_other_target)))]

use seccompcrate::{deny_with_errno, raw_syscall0, SYS_GETPID, SYS_GETPPID};
use std::thread;

const EPERM: u16 = 1;
const EACCES: u16 = 13;

fn in_filtered_thread<T: Send + 'static>(nr: i64, errno: u16, f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::spawn(move || {
        deny_with_errno(nr, errno).expect("install seccomp filter");
        f()
    })
    .join()
    .expect("filtered thread panicked")
}

#[test]
fn denied_syscall_fails_with_eperm() {
    let got = in_filtered_thread(SYS_GETPPID, EPERM, || raw_syscall0(SYS_GETPPID));
    assert_eq!(got, Err(i32::from(EPERM)));
}

#[test]
fn filter_returns_the_chosen_errno() {
    let got = in_filtered_thread(SYS_GETPPID, EACCES, || raw_syscall0(SYS_GETPPID));
    assert_eq!(got, Err(i32::from(EACCES)));
}

#[test]
fn other_syscalls_still_work_under_the_filter() {
    let got = in_filtered_thread(SYS_GETPPID, EPERM, || raw_syscall0(SYS_GETPID));
    assert_eq!(got, Ok(i64::from(std::process::id())));
}

#[test]
fn filter_is_inherited_by_threads_started_later() {
    let got = in_filtered_thread(SYS_GETPPID, EPERM, || thread::spawn(|| raw_syscall0(SYS_GETPPID)).join().unwrap());
    assert_eq!(got, Err(i32::from(EPERM)));
}
