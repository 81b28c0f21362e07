//! Spawning, checking and stopping processes: cargo, tools on `PATH`, and bootstraps
//! pointed at a local Runtime API.

use anyhow::{bail, ensure, Context, Result};
use icebreak_fake_runtime::{Answer, FakeRuntime};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a bootstrap gets to answer (or to come back to `/next`) before a harness fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The cargo that runs us (`CARGO`), or `cargo` from `PATH`.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd` to the end with no input; fails unless it succeeds.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {what}"))?;
    ensure!(status.success(), "{what} failed: {status}");
    Ok(())
}

/// A tool on `PATH`, or `None`.
pub fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

/// A bootstrap process with the environment Lambda gives one (and nothing else: no
/// inherited variables), pointed at `address`. Output is discarded; see [`Running::spawn`]
/// for stderr.
pub fn lambda_command(path: &Path, address: &str) -> Command {
    let mut cmd = Command::new(path);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", address)
        // lambda_runtime refuses to start without these; all contenders get the same ones.
        .env("AWS_LAMBDA_FUNCTION_NAME", "icebreak")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/icebreak")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        // Lambda's directory of the function's package: where a mapped bootstrap finds
        // model.apr (the harness stages one beside the binaries).
        .env("LAMBDA_TASK_ROOT", path.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

/// Sends `cmd`'s stderr to a fresh `<program>.stderr` file beside the program (created now,
/// so not on the clock of the spawn that follows) and returns its path.
pub fn log_stderr(cmd: &mut Command) -> Result<PathBuf> {
    let log = PathBuf::from(format!("{}.stderr", cmd.get_program().to_string_lossy()));
    let file = std::fs::File::create(&log).with_context(|| log.display().to_string())?;
    cmd.stderr(file);
    Ok(log)
}

/// A child process that is killed and reaped whenever this is dropped, on every path.
pub struct Running {
    child: Option<Child>,
    /// Where its stderr goes, if to a file: read back when it fails. A file, not a pipe, so
    /// a chatty process can never block on a full pipe nobody reads.
    stderr_log: Option<PathBuf>,
}

impl Running {
    /// Spawns `cmd`; `stderr_log` is the file [`log_stderr`] pointed its stderr to, if any.
    pub fn spawn(cmd: &mut Command, stderr_log: Option<PathBuf>) -> Result<Running> {
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
        Ok(Running {
            child: Some(child),
            stderr_log,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the process; says how it ended and what it wrote to stderr (if logged).
    pub fn stop(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let exited = child.try_wait().ok().flatten();
        let _ = child.kill();
        let _ = child.wait();
        let status = exited.map_or("running, killed".to_owned(), |s| s.to_string());
        let stderr = self
            .stderr_log
            .as_ref()
            .and_then(|log| std::fs::read(log).ok())
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        format!("process: {status}; stderr: {stderr:?}")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for answer number `n` (1-based); fails, stopping the process, if it does not come.
pub fn wait_answer(rt: &FakeRuntime, n: usize, child: &mut Running, what: &str) -> Result<Answer> {
    let answers = rt.wait_answers(n, TIMEOUT);
    match answers.into_iter().nth(n - 1) {
        Some(a) => Ok(a),
        None => bail!("{what}: no answer within {TIMEOUT:?} ({})", child.stop()),
    }
}

/// A `kB` line of a live process's `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in KB.
pub fn status_kb(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {field} in {path}"))
}

/// Major page faults of a live process so far (`majflt`, field 12 of `/proc/<pid>/stat`:
/// faults that waited for a read, `ru_majflt`).
pub fn major_faults(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(9))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no majflt in {path}"))
}

/// Drops a file's pages from the page cache (`posix_fadvise(POSIX_FADV_DONTNEED)` after
/// writing back any dirty ones), so that the next process to map it reads it from the disk,
/// as on a host that has not run it yet. Pages that a live process maps stay.
pub fn evict_from_page_cache(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    file.sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    fadvise::dont_need(&file).with_context(|| format!("evicting {}", path.display()))
}

/// The one `posix_fadvise` call.
#[allow(unsafe_code)]
mod fadvise {
    use std::os::fd::AsRawFd;

    pub(super) fn dont_need(file: &std::fs::File) -> std::io::Result<()> {
        // SAFETY: posix_fadvise takes a file descriptor that `file` keeps open for the call
        // and only advises the kernel; it touches no memory of this process.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(rc))
        }
    }
}

/// Minor page faults of a live process so far (`minflt`, field 10 of `/proc/<pid>/stat`: the
/// counter `getrusage` reports as `ru_minflt`).
pub fn minor_faults(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(7))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no minflt in {path}"))
}
