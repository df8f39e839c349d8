//! Measuring a child process from outside, for the benches that run the binary as a user does.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// What a process used: wall time, CPU time (user + system) and peak resident memory.
pub struct Used {
    /// How it ended.
    pub status: ExitStatus,
    /// From the start of watching to its end.
    pub wall: Duration,
    /// User plus system CPU seconds.
    pub cpu_s: f64,
    /// Peak resident memory in MiB (`VmHWM`).
    pub peak_mib: f64,
}

/// Waits for a child, reading its CPU time and peak memory from `/proc` every 5 ms (the last
/// reading before it ends).
pub fn watch(mut child: Child) -> Used {
    let started = Instant::now();
    let (mut peak, mut cpu) = (0.0f64, 0.0f64);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1));
        peak = peak.max(hwm.and_then(|v| v.parse().ok()).unwrap_or(0.0));
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        let fields: Vec<f64> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        // utime and stime, fields 14 and 15 of the file, in clock ticks.
        if let (Some(user), Some(system)) = (fields.get(10), fields.get(11)) {
            cpu = cpu.max((user + system) / 100.0);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Used { status, wall: started.elapsed(), cpu_s: cpu, peak_mib: peak / 1024.0 };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
