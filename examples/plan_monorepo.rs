//! `fleet plan` as a whole process on a generated monorepo: 1,000 fleets × 5 services in git,
//! the base one commit back (read from git objects), one fleet changed in the working tree.
//! Prints the median and worst of RUNS runs, and — for comparison — the same base reads done
//! the old way, one `git show REV:path` process per file.
//!
//! cargo build --release --bin fleet
//! cargo run --release --example plan_monorepo -- [FLEET_BIN] [FLEETS] [RUNS]

#[path = "../tests/support/monorepo.rs"]
mod monorepo;
#[path = "support/stats.rs"]
mod stats;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use monorepo::{fleet, fleet_path, registry};
use stats::percentile;

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = std::fs::canonicalize(args.get(1).map_or("target/release/fleet", String::as_str))?;
    let fleets: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(1_000);
    let runs: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"])?;
    std::fs::write(root.join("fleet-registry.kdl"), registry(fleets))?;
    let mut paths = vec!["fleet-registry.kdl".to_owned()];
    for i in 0..fleets {
        let path = fleet_path(i);
        std::fs::create_dir_all(root.join(&path).parent().unwrap_or(root))?;
        std::fs::write(root.join(&path), fleet(i, 1, 5))?;
        paths.push(path);
    }
    git(root, &["add", "-A"])?;
    git(root, &["commit", "-q", "-m", "base"])?;
    // The working tree changes one fleet: the plan shows one change.
    std::fs::write(root.join(fleet_path(7)), fleet(7, 2, 5))?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Just committed, every object is a file of its own; a clone (actions/checkout, git clone)
    // has them in one pack.
    for (how, pack) in [
        ("just committed (loose objects)", false),
        ("packed, as a clone has it", true),
    ] {
        if pack {
            git(root, &["repack", "-adq"])?;
        }
        let times = time_plans(&bin, root, runs)?;
        println!(
            "fleet plan, {fleets} fleets × 5 services, base from git {how}: median {:.1} ms, worst {:.1} ms ({runs} runs)",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 1.0))
        );
    }
    let started = Instant::now();
    for path in &paths {
        git(root, &["show", "--no-textconv", &format!("HEAD:{path}")])?;
    }
    println!(
        "the old way, one `git show` per base file ({} files): {:.0} ms",
        paths.len(),
        ms(started.elapsed())
    );
    Ok(())
}

/// `fleet plan` against HEAD, `runs` times (sorted).
fn time_plans(bin: &Path, root: &Path, runs: usize) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let out = Command::new(bin)
            .current_dir(root)
            .args(["plan", "--base", "HEAD", "--output", "json"])
            .env("NO_COLOR", "1")
            .output()?;
        times.push(started.elapsed());
        anyhow::ensure!(
            out.status.success(),
            "fleet plan: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        anyhow::ensure!(
            plan["summary"]["change"] == 5,
            "five services change: {}",
            plan["summary"]
        );
    }
    times.sort();
    Ok(times)
}
