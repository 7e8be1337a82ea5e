//! Reach of the Wine silo on real Windows Dockerfiles (issue #15): `silo dockerfile check
//! --runtime wine` over every Dockerfile of `../shared/windows-dockerfiles-public`, counting the
//! PowerShell RUN steps silo's engine supports. Every other PowerShell step must be refused up front
//! with a reason — never accepted and then failing or, worse, silently doing nothing.
//!
//! The floor below is the figure measured when the test was last raised (277/306 = 90.5 %,
//! 2026-12-07); the goal is ≥ 90 %.

use std::process::Command;

use silo_tests::{corpus, silo_bin};

/// Supported share of PowerShell RUN steps (percent) below which the test fails.
const FLOOR_PERCENT: f64 = 90.0;

#[test]
fn powershell_reach_over_the_public_windows_dockerfiles() {
    let Some(dir) = corpus("windows-dockerfiles-public") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n != "SOURCE.txt" && n.to_ascii_lowercase().contains("dockerfile"))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 150,
        "{} Dockerfiles found in {}",
        files.len(),
        dir.display()
    );
    let (mut ps_ok, mut ps_all, mut refused_reasons) = (0usize, 0usize, Vec::new());
    for file in &files {
        let out = Command::new(silo_bin())
            .args([
                "dockerfile",
                "check",
                "--runtime",
                "wine",
                "--path-mode",
                "classic",
            ])
            .arg(file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            if line.contains(": RUN (PowerShell") && !line.contains("ERROR") {
                ps_ok += 1;
                ps_all += 1;
            } else if line.contains("ERROR: RUN (PowerShell)") {
                ps_all += 1;
                refused_reasons.push(line.to_string());
            }
        }
        // Every refused step is refused with a reason (never an empty verdict).
        for line in text
            .lines()
            .filter(|l| l.contains("cannot run in the Wine silo"))
        {
            assert!(
                line.split("Wine silo: ")
                    .nth(1)
                    .is_some_and(|r| !r.trim().is_empty()),
                "{line}"
            );
        }
    }
    let percent = if ps_all == 0 {
        0.0
    } else {
        100.0 * ps_ok as f64 / ps_all as f64
    };
    println!(
        "powershell reach: {ps_ok}/{ps_all} PowerShell RUN steps supported ({percent:.1}%) over {} Dockerfiles",
        files.len()
    );
    // The most frequent first reasons, for the README and the next round of work.
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for r in &refused_reasons {
        let reason = r.split("Wine silo: ").nth(1).unwrap_or(r);
        let key: String = reason.chars().take(90).collect();
        *counts.entry(key).or_default() += 1;
    }
    let mut top: Vec<_> = counts.into_iter().collect();
    top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (reason, n) in top.iter().take(25) {
        println!("  {n:4}  {reason}");
    }
    assert!(
        ps_all > 200,
        "the corpus has hundreds of PowerShell RUN steps; found {ps_all}"
    );
    assert!(
        percent >= FLOOR_PERCENT,
        "reach fell to {percent:.1}% (floor {FLOOR_PERCENT}%)"
    );
}
