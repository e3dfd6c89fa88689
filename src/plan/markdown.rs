//! A plan as a GitHub comment or check-run summary: a hidden marker (to find and edit the
//! comment later), the summary and a table, then one collapsible `<details>` per fleet/stage
//! with a `diff` block (`+` green, `-` red, `!` for `~` so updates are colored too).
//!
//! GitHub refuses a comment over 65,536 characters and a check-run summary over 65,535
//! (characters, not bytes). [`render_markdown`] never exceeds the limit it is given: over it,
//! the summary stays and changes are kept by importance (destroys and replacements, then
//! updates, then additions); the rest is counted in a closing line.

use std::fmt::Write;

use super::render::{FORCES, Line, Mark, NO_CHANGES_DETAIL, UNAPPLIED, builds_and_deploys, change_lines, sections};
use super::{Action, Change, Plan, Section, Summary};

/// Hidden marker opening every plan comment.
pub const PLAN_MARKER: &str = "<!-- fleetflow:plan -->";
/// Longest issue or pull-request comment body GitHub accepts.
pub const COMMENT_LIMIT: usize = 65_536;
/// Longest check-run `output.summary` (and `output.text`) GitHub accepts.
pub const CHECK_RUN_LIMIT: usize = 65_535;

const TITLE: &str = "### fleet plan";
/// Rows of the summary table and items of the build/deploy lists before "… N more".
const TABLE_ROWS: usize = 40;
const LIST_ITEMS: usize = 15;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The plan as GitHub markdown of at most `limit` characters.
pub fn render_markdown(plan: &Plan, limit: usize) -> String {
    if plan.changes.is_empty() {
        return clamp(
            format!(
                "{PLAN_MARKER}\n{TITLE}\n\n**No changes.** {NO_CHANGES_DETAIL}\n{}",
                unapplied(plan)
            ),
            limit,
        );
    }
    let sections = sections(plan);
    let header = header(plan, &sections);
    let blocks: Vec<Vec<String>> = sections
        .iter()
        .map(|(_, changes)| changes.iter().map(|c| block(c)).collect())
        .collect();
    let total = plan.changes.len();
    let mut kept: Vec<Vec<bool>> = sections.iter().map(|(_, c)| vec![true; c.len()]).collect();
    let whole = assemble(&header, &sections, &blocks, &kept, 0);
    if chars(&whole) <= limit {
        return whole;
    }
    kept.iter_mut().flatten().for_each(|k| *k = false);
    // Everything but the changes: the header, and the closing line at its longest.
    let fixed = chars(&header) + chars(&footer(total));
    let mut order: Vec<(u8, usize, usize)> = sections
        .iter()
        .enumerate()
        .flat_map(|(s, (_, changes))| {
            changes
                .iter()
                .enumerate()
                .map(move |(c, change)| (change.action.importance(), s, c))
        })
        .collect();
    order.sort_unstable();
    let opening: Vec<usize> = sections
        .iter()
        .zip(&blocks)
        .map(|(section, b)| chars(&wrap(section, b, &[], total)))
        .collect();
    let sizes: Vec<Vec<usize>> = blocks.iter().map(|b| b.iter().map(|t| chars(t)).collect()).collect();
    let mut used = fixed;
    let mut taken: Vec<(usize, usize)> = Vec::new();
    // Once a change does not fit, smaller ones of the same importance may still be shown,
    // but nothing less important.
    let mut blocked = u8::MAX;
    for &(importance, s, c) in &order {
        if importance > blocked {
            break;
        }
        let open = if kept[s].iter().any(|k| *k) { 0 } else { opening[s] };
        let cost = open + sizes[s][c];
        if used + cost > limit {
            blocked = importance;
            continue;
        }
        used += cost;
        kept[s][c] = true;
        taken.push((s, c));
    }
    let mut out = assemble(&header, &sections, &blocks, &kept, total - taken.len());
    // The estimate is exact or over; should it ever be short, drop the least important kept
    // change until the text fits (and at worst fall back to the bare summary).
    while chars(&out) > limit {
        let Some((s, c)) = taken.pop() else { break };
        kept[s][c] = false;
        out = assemble(&header, &sections, &blocks, &kept, total - taken.len());
    }
    if chars(&out) > limit {
        out = format!(
            "{PLAN_MARKER}\n{TITLE}\n\n**{}**\n\n{}",
            plan.summary.line(),
            footer(total)
        );
    }
    clamp(out, limit)
}

/// At most `limit` characters (cut on a character boundary).
fn clamp(text: String, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    }
}

fn more(n: usize) -> String {
    format!("{n} more change{}", if n == 1 { "" } else { "s" })
}

fn footer(omitted: usize) -> String {
    format!(
        "\n… {} — run `fleet plan` locally to see the whole plan.\n",
        more(omitted)
    )
}

fn header(plan: &Plan, sections: &[(Section, Vec<&Change>)]) -> String {
    let mut out = format!("{PLAN_MARKER}\n{TITLE}\n\n**{}**\n\n", plan.summary.line());
    let rules: Vec<String> = plan.deploy_rule_changes().map(|c| code(&c.address.label())).collect();
    if !rules.is_empty() {
        let more = rules.len().saturating_sub(LIST_ITEMS);
        let _ = writeln!(
            out,
            "> [!WARNING]\n> **Changes who may deploy or where:** {}{}. Until this is merged the default \
             branch's rules apply, and `/deploy` of what these change needs admin permission on the \
             repository.\n",
            rules.into_iter().take(LIST_ITEMS).collect::<Vec<_>>().join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    out.push_str("| | add | change | destroy |\n|:--|--:|--:|--:|\n");
    for (section, changes) in sections.iter().take(TABLE_ROWS) {
        let s = Summary::of(changes.iter().copied());
        let _ = writeln!(out, "| `{section}` | {} | {} | {} |", s.add, s.change, s.destroy);
    }
    if sections.len() > TABLE_ROWS {
        let _ = writeln!(out, "| … {} more | | | |", sections.len() - TABLE_ROWS);
    }
    let (builds, deploys) = builds_and_deploys(plan, LIST_ITEMS);
    for (title, items) in [("Images to build", builds), ("Deploys", deploys)] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n**{title}:**\n");
        for item in items.iter().take(LIST_ITEMS) {
            let _ = writeln!(out, "- {}", code(item));
        }
        if items.len() > LIST_ITEMS {
            let _ = writeln!(out, "- … {} more", items.len() - LIST_ITEMS);
        }
    }
    out + &unapplied(plan)
}

/// [`Plan::unapplied`] as a list of at most [`LIST_ITEMS`] (empty when there is none).
fn unapplied(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.unapplied.is_empty() {
        let _ = writeln!(out, "\n**Not applied yet:** {UNAPPLIED}:\n");
        for change in plan.unapplied.iter().take(LIST_ITEMS) {
            let item = format!("{} {}", change.action.sign(), change.id);
            let _ = writeln!(out, "- {} {}", code(&item), change.action.verb());
        }
        if plan.unapplied.len() > LIST_ITEMS {
            let _ = writeln!(out, "- … {} more", plan.unapplied.len() - LIST_ITEMS);
        }
    }
    out
}

/// An inline code span that survives backticks in `text`.
fn code(text: &str) -> String {
    let ticks = "`".repeat(longest_backtick_run(text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// One change as diff lines (the sign in column one, so GitHub colors it).
fn block(change: &Change) -> String {
    let mut text: String = change_lines(change).iter().map(md_line).collect();
    text.push('\n');
    text
}

fn md_line(line: &Line) -> String {
    let indent = "    ".repeat(line.depth);
    match line.mark {
        Mark::Comment => format!("  {}\n", line.text),
        Mark::None => format!("    {indent}{}\n", line.text),
        Mark::Action(action) => {
            let sign = if action == Action::Update { "!" } else { action.sign() };
            let forces = if line.forces {
                format!(" {FORCES}")
            } else {
                String::new()
            };
            format!("{sign:<3} {indent}{}{forces}\n", line.text)
        }
    }
}

/// A section's `<details>` around the given blocks; `omitted` of its changes are not shown.
/// With no blocks, it is the wrapper alone, at its longest (for the budget).
fn wrap(section: &(Section, Vec<&Change>), all_blocks: &[String], shown: &[&String], omitted: usize) -> String {
    let (name, changes) = section;
    let s = Summary::of(changes.iter().copied());
    let fence = "`".repeat(3.max(all_blocks.iter().map(|b| longest_backtick_run(b)).max().unwrap_or(0) + 1));
    let mut out = format!(
        "\n<details><summary><code>{name}</code>: {} to add, {} to change, {} to destroy</summary>\n\n{fence}diff\n",
        s.add, s.change, s.destroy
    );
    for b in shown {
        out.push_str(b);
    }
    let _ = writeln!(out, "{fence}");
    if omitted > 0 {
        let _ = writeln!(out, "\n_… {} in `{name}` not shown._", more(omitted));
    }
    out.push_str("\n</details>\n");
    out
}

fn assemble(
    header: &str,
    sections: &[(Section, Vec<&Change>)],
    blocks: &[Vec<String>],
    kept: &[Vec<bool>],
    omitted: usize,
) -> String {
    let mut out = header.to_owned();
    for (s, section) in sections.iter().enumerate() {
        let shown: Vec<&String> = blocks[s]
            .iter()
            .zip(&kept[s])
            .filter(|(_, k)| **k)
            .map(|(b, _)| b)
            .collect();
        if shown.is_empty() {
            continue;
        }
        let missing = blocks[s].len() - shown.len();
        out.push_str(&wrap(section, &blocks[s], &shown, missing));
    }
    if omitted > 0 {
        out.push_str(&footer(omitted));
    }
    out
}
