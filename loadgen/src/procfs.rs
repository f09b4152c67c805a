//! Readings from Linux's `/proc`: a process's resident memory and CPU time,
//! and the whole machine's busy time.

use std::collections::HashMap;
use std::time::Duration;

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// The resident set size (`VmRSS`) of `pid`, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_vm_rss(&text).ok_or_else(|| format!("{path}: no VmRSS line"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU time (user + system) used so far by `pid` (`"self"` for this process).
pub(crate) fn cpu_time(pid: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ticks(utime + stime))
}

/// The machine's `(busy, total)` CPU time over all cores, since boot.
pub(crate) fn machine_cpu() -> Option<(Duration, Duration)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8) // user nice system idle iowait irq softirq steal
        .filter_map(|v| v.parse().ok())
        .collect();
    if values.len() < 5 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let idle = values[3] + values[4];
    Some((ticks(total - idle), ticks(total)))
}

fn ticks(t: u64) -> Duration {
    Duration::from_millis(t * 1000 / TICKS_PER_SECOND)
}

/// CPU time used so far by every process named `postgres`, by pid.
fn postgres_cpu() -> HashMap<u32, Duration> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim_end() == "postgres").then_some(())?;
        Some((pid, cpu_time(&pid.to_string())?))
    })
    .collect()
}

/// CPU times at one moment: the server's, this tool's, PostgreSQL's and the
/// machine's.
#[derive(Debug, Clone)]
pub(crate) struct CpuMark {
    server: Option<Duration>,
    own: Option<Duration>,
    postgres: HashMap<u32, Duration>,
    machine: Option<(Duration, Duration)>,
}

/// CPU use over a window, in cores (1.0 = one core busy all along).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuShares {
    /// The server process.
    pub(crate) server: Option<f64>,
    /// This load generator.
    pub(crate) own: Option<f64>,
    /// Every `postgres` process (of any database on the machine).
    pub(crate) postgres: f64,
    /// The whole machine.
    pub(crate) machine: Option<f64>,
}

impl CpuShares {
    /// What the rest of the machine used: other programs, the kernel's own
    /// threads, processes that ended within the window.
    pub(crate) fn other(&self) -> Option<f64> {
        Some((self.machine? - self.server.unwrap_or(0.0) - self.own? - self.postgres).max(0.0))
    }
}

impl CpuMark {
    /// Marks the start (or end) of a window.
    pub(crate) fn now(server_pid: Option<u32>) -> Self {
        Self {
            server: server_pid.and_then(|p| cpu_time(&p.to_string())),
            own: cpu_time("self"),
            postgres: postgres_cpu(),
            machine: machine_cpu(),
        }
    }

    /// CPU use from `self` to `end`, over `wall`.
    pub(crate) fn shares(&self, end: &Self, wall: Duration) -> CpuShares {
        let wall = wall.as_secs_f64().max(1e-9);
        let share = |a: Option<Duration>, b: Option<Duration>| {
            Some(b?.saturating_sub(a?).as_secs_f64() / wall)
        };
        let postgres: Duration = end
            .postgres
            .iter()
            .map(|(pid, t)| t.saturating_sub(self.postgres.get(pid).copied().unwrap_or_default()))
            .sum();
        CpuShares {
            server: share(self.server, end.server),
            own: share(self.own, end.own),
            postgres: postgres.as_secs_f64() / wall,
            machine: share(self.machine.map(|m| m.0), end.machine.map(|m| m.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t   12345 kB\nThreads: 3\n";
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_kib(std::process::id()).expect("own rss") > 0);
        assert!(cpu_time("self").is_some());
    }
}
