//! Process-tree helpers over `/proc` (Linux), for the "Ctrl-C leaves no
//! process behind" guarantee: tests list a runner's descendants while it
//! runs and check every one is gone after the signal.

use std::collections::BTreeSet;
use std::fs;

/// `(pid, parent pid, state)` of every process, from `/proc/<pid>/stat`.
fn all() -> Vec<(u32, u32, char)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: parse after
        // the last ')'.
        let (_, rest) = stat.rsplit_once(')')?;
        let mut f = rest.split_whitespace();
        let state = f.next()?.chars().next()?;
        let ppid = f.next()?.parse().ok()?;
        Some((pid, ppid, state))
    })
    .collect()
}

/// Every live descendant of `root` (children, grandchildren, …).
pub fn descendants(root: u32) -> BTreeSet<u32> {
    let procs = all();
    let mut found = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid, state) in &procs {
            if *ppid == p && *state != 'Z' && found.insert(*pid) {
                frontier.push(*pid);
            }
        }
    }
    found
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The command line of `pid` (NULs as spaces), for assertion messages.
pub fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_child_and_sees_it_go() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let me = std::process::id();
        assert!(descendants(me).contains(&child.id()));
        assert!(alive(child.id()));
        // /proc/<pid>/cmdline can lag the spawn on some kernels/sandboxes
        // (CI once read it before the exec showed): poll briefly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut seen = cmdline(child.id());
        while !seen.contains("sleep") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            seen = cmdline(child.id());
        }
        assert!(seen.contains("sleep"), "cmdline of the child: {seen:?}");
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!alive(child.id()));
        assert!(!descendants(me).contains(&child.id()));
    }
}
