//! Facts about the machine and the source measured, for the reports.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// `git ARGS` in `root`: its trimmed output, `None` if it fails.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// The commit measured, and whether the working tree had changes on top of it.
pub fn source_version(root: &Path) -> String {
    match git(root, &["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            let suffix = if dirty {
                " with uncommitted changes"
            } else {
                ""
            };
            format!("commit `{commit}`{suffix}")
        }
        None => "not a git checkout".to_owned(),
    }
}

/// The commit measured, and whether the code under `measured` (paths from the root)
/// differs from it.
pub fn commit(root: &Path, measured: &[&str]) -> String {
    match git(root, &["rev-parse", "--short", "HEAD"]) {
        Some(c) => {
            let mut args = vec!["status", "--porcelain", "--"];
            args.extend_from_slice(measured);
            let dirty = git(root, &args).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} with uncommitted changes in the measured code")
            } else {
                c
            }
        }
        None => "unknown (not a git checkout)".to_owned(),
    }
}

/// The CPU model from `/proc/cpuinfo` (`model name`, or `Hardware` on some Arm boards).
pub fn cpu_model() -> Option<String> {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Hardware"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
}

/// The number of CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}

/// `uname -m`, the CPU model, the number of CPUs and the compiler.
pub fn machine() -> String {
    let run = |prog: &str, arg: &str| -> Option<String> {
        let out = Command::new(prog).arg(arg).output().ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (out.status.success() && !s.is_empty()).then_some(s)
    };
    let arch = run("uname", "-m").unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cpu = cpu_model().unwrap_or_else(|| "unknown CPU".to_owned());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let rustc = run(&rustc.to_string_lossy(), "-V").unwrap_or_else(|| "rustc ?".to_owned());
    format!("`{arch}`, {cpu}, nproc {}, {rustc}", cores())
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// `TOOL --version`, trimmed.
pub fn tool_version(tool: &str) -> String {
    Command::new(tool)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}
