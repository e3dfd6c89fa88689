//! A unified diff of two texts, line by line (longest common subsequence), for showing what a
//! rewrite would change before it is written.

/// `---`/`+++` headers and the changed lines with `context` lines around them; empty when the
/// texts are the same. Large inputs (over a few thousand lines each) are shown whole.
pub fn unified(label_old: &str, label_new: &str, old: &str, new: &str, context: usize) -> String {
    if old == new {
        return String::new();
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let ops = if a.len().saturating_mul(b.len()) <= 4_000_000 {
        edit_script(&a, &b)
    } else {
        (a.iter().map(|l| Op::Del(l)))
            .chain(b.iter().map(|l| Op::Add(l)))
            .collect()
    };
    let mut out = format!("--- {label_old}\n+++ {label_new}\n");
    let changed: Vec<usize> = (ops.iter().enumerate())
        .filter(|(_, op)| !matches!(op, Op::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let near = |i: usize| changed.iter().any(|&c| c.abs_diff(i) <= context);
    let mut gap = false;
    for (i, op) in ops.iter().enumerate() {
        if !near(i) {
            gap = true;
            continue;
        }
        if gap {
            out.push_str("@@\n");
            gap = false;
        }
        let (mark, line) = match op {
            Op::Same(l) => (' ', l),
            Op::Del(l) => ('-', l),
            Op::Add(l) => ('+', l),
        };
        out.push_str(&format!("{mark}{line}\n"));
    }
    out
}

enum Op<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

/// The edit script from `a` to `b` through their longest common subsequence.
fn edit_script<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the LCS length of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Same(a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(Op::Add(b[j]));
            j += 1;
        } else {
            ops.push(Op::Del(a[i]));
            i += 1;
        }
    }
    ops
}
