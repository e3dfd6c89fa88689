//! A plan as Terraform draws it: `+` create, `~` update, `-` destroy, `-/+` replace, then
//! `Plan: X to add, Y to change, Z to destroy.` (or `No changes.`).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Action, AttrChange, Change, Plan, Resource, Section};

/// The sign column of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    None,
    Comment,
    Action(Action),
}

/// One line of a change, before it is drawn for a terminal or for markdown.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub mark: Mark,
    pub depth: usize,
    pub text: String,
    /// `# forces replacement`.
    pub forces: bool,
}

impl Line {
    fn new(mark: Mark, depth: usize, text: String) -> Self {
        Self {
            mark,
            depth,
            text,
            forces: false,
        }
    }
}

pub(crate) const FORCES: &str = "# forces replacement";
/// Said after `No changes.`
pub(crate) const NO_CHANGES_DETAIL: &str = "Services, routes and infrastructure match the base.";

fn route_server(r: &Option<Resource>) -> &str {
    match r {
        Some(Resource::Route { server }) => server,
        _ => "?",
    }
}

/// The lines of one change: a `#` comment naming it, then its block.
pub(crate) fn change_lines(change: &Change) -> Vec<Line> {
    let action = Mark::Action(change.action);
    let mut lines = vec![Line::new(
        Mark::Comment,
        0,
        format!("# {} {}", change.id, change.action.verb()),
    )];
    let label = change.address.label();
    if let super::Address::Route { .. } = change.address {
        let text = match change.action {
            Action::Update | Action::Replace => format!(
                "{label}  {} → {}",
                route_server(&change.before),
                route_server(&change.after)
            ),
            Action::Create => format!("{label} → {}", route_server(&change.after)),
            Action::Delete => format!("{label} → {}", route_server(&change.before)),
        };
        lines.push(Line::new(action, 0, text));
        return lines;
    }
    lines.push(Line::new(action, 0, format!("{label} {{")));
    let width = change
        .attributes
        .iter()
        .map(|a| a.path.chars().count())
        .max()
        .unwrap_or(0);
    lines.extend(change.attributes.iter().map(|a| attr_line(a, width)));
    if change.unchanged > 0 {
        let s = if change.unchanged == 1 { "" } else { "s" };
        let text = format!("# ({} unchanged attribute{s} hidden)", change.unchanged);
        lines.push(Line::new(Mark::None, 1, text));
    }
    lines.push(Line::new(Mark::None, 0, "}".to_owned()));
    lines
}

fn attr_line(a: &AttrChange, width: usize) -> Line {
    let pad = width.saturating_sub(a.path.chars().count());
    let key = format!("{}{} = ", a.path, " ".repeat(pad));
    let (action, value) = match (&a.before, &a.after) {
        (None, Some(after)) => (Action::Create, after.shown().to_owned()),
        (Some(before), None) => (Action::Delete, format!("{} -> null", before.shown())),
        // Hidden or unknown on both sides: "a -> b" would say nothing.
        (Some(b), Some(n)) if b.is_sensitive() || n.is_sensitive() || (b.is_unknown() && n.is_unknown()) => {
            (Action::Update, n.shown().to_owned())
        }
        (Some(b), Some(n)) => (Action::Update, format!("{} -> {}", b.shown(), n.shown())),
        (None, None) => (Action::Update, String::new()),
    };
    Line {
        forces: a.forces_replacement,
        ..Line::new(Mark::Action(action), 1, format!("{key}{value}"))
    }
}

/// Changes grouped by section, in plan order.
pub(crate) fn sections(plan: &Plan) -> Vec<(Section, Vec<&Change>)> {
    let mut out: Vec<(Section, Vec<&Change>)> = Vec::new();
    for change in &plan.changes {
        let section = change.address.section();
        match out.last_mut() {
            Some((s, changes)) if *s == section => changes.push(change),
            _ => out.push((section, vec![change])),
        }
    }
    out
}

/// `site (context ".")` lines and `server ← fleet:stage, …` lines (at most `stages` stages
/// named per server).
pub(crate) fn builds_and_deploys(plan: &Plan, stages: usize) -> (Vec<String>, Vec<String>) {
    let builds = plan
        .builds
        .iter()
        .map(|b| {
            let dockerfile = b.dockerfile.as_ref().map(|d| format!(", dockerfile {d:?}"));
            format!(
                "{}:{}/{} (context {:?}{})",
                b.fleet,
                b.stage,
                b.service,
                b.context,
                dockerfile.unwrap_or_default()
            )
        })
        .collect();
    let mut by_server: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for d in &plan.deploys {
        by_server
            .entry(&d.server)
            .or_default()
            .push(format!("{}:{}", d.fleet, d.stage));
    }
    let deploys = by_server
        .into_iter()
        .map(|(server, names)| {
            let more = names.len().saturating_sub(stages);
            let shown = names[..names.len() - more].join(", ");
            match more {
                0 => format!("{server} ← {shown}"),
                n => format!("{server} ← {shown} and {n} more"),
            }
        })
        .collect();
    (builds, deploys)
}

struct Paint {
    color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn sign(&self, action: Action) -> String {
        match action {
            Action::Create => self.wrap("32", "+"),
            Action::Update => self.wrap("33", "~"),
            Action::Delete => self.wrap("31", "-"),
            Action::Replace => format!("{}/{}", self.wrap("31", "-"), self.wrap("32", "+")),
        }
    }

    fn line(&self, out: &mut String, line: &Line) {
        let indent = "    ".repeat(line.depth);
        match line.mark {
            Mark::Comment => {
                let _ = writeln!(out, "  {}", self.wrap("1", &line.text));
            }
            Mark::None => {
                let _ = writeln!(out, "{indent}    {}", line.text);
            }
            Mark::Action(a) => {
                let pad = " ".repeat(3 - a.sign().len());
                let _ = write!(out, "{indent}{pad}{} {}", self.sign(a), line.text);
                if line.forces {
                    let _ = write!(out, " {}", self.wrap("31", FORCES));
                }
                out.push('\n');
            }
        }
    }
}

const LEGEND: [(Action, &str); 4] = [
    (Action::Create, "create"),
    (Action::Update, "update in-place"),
    (Action::Delete, "destroy"),
    (Action::Replace, "destroy and then create replacement"),
];

/// The plan for a terminal; `color` adds ANSI colors.
pub fn render_text(plan: &Plan, color: bool) -> String {
    let paint = Paint { color };
    if plan.changes.is_empty() {
        let none = format!("{} {NO_CHANGES_DETAIL}\n", paint.wrap("1;32", "No changes."));
        return none + &unapplied_text(plan, &paint);
    }
    let mut out = String::from("Resource actions are indicated with the following symbols:\n");
    for (action, meaning) in LEGEND {
        if plan.changes.iter().any(|c| c.action == action) {
            let pad = " ".repeat(3 - action.sign().len());
            let _ = writeln!(out, "{pad}{} {meaning}", paint.sign(action));
        }
    }
    out.push_str("\nfleet will perform the following actions:\n");
    for (section, changes) in sections(plan) {
        let _ = writeln!(out, "\n{}", paint.wrap("1", &format!("── {section}")));
        for change in changes {
            out.push('\n');
            for line in change_lines(change) {
                paint.line(&mut out, &line);
            }
        }
    }
    let (builds, deploys) = builds_and_deploys(plan, usize::MAX);
    for (title, items) in [("Images to build", builds), ("Deploys", deploys)] {
        if !items.is_empty() {
            let _ = writeln!(out, "\n{}:", paint.wrap("1", title));
            items.iter().for_each(|i| {
                let _ = writeln!(out, "  {i}");
            });
        }
    }
    let _ = writeln!(out, "\n{}", paint.wrap("1", &plan.summary.line()));
    out + &unapplied_text(plan, &paint)
}

/// Said before the infrastructure nobody applied ([`Plan::unapplied`]).
pub(crate) const UNAPPLIED: &str =
    "no infrastructure state is recorded, so `fleet apply` would also make what the base declares";

/// [`Plan::unapplied`], a line each (empty when there is none).
fn unapplied_text(plan: &Plan, paint: &Paint) -> String {
    let mut out = String::new();
    if !plan.unapplied.is_empty() {
        let _ = writeln!(out, "\n{}: {UNAPPLIED}:", paint.wrap("1", "Not applied yet"));
        for change in &plan.unapplied {
            let _ = writeln!(
                out,
                "  {} {} {}",
                paint.sign(change.action),
                change.id,
                change.action.verb()
            );
        }
    }
    out
}
