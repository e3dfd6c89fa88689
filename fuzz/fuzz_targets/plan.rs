//! Two configurations split at the first NUL byte (base, head). Each is loaded as
//! fleet-registry.kdl (fixed fleet files) or, when that fails, as a fleet's fleet.kdl under the
//! fixed registry. When both load: a plan from one to the other and from nothing, its text and
//! markdown. The markdown stays within its limit (characters), planning a snapshot against
//! itself changes nothing, and applying a plan to its base gives its head.
#![no_main]

use fleetflow::config::{LoadError, Workspace};
use fleetflow::plan::{Snapshot, plan, render_markdown, render_text};
use fleetflow_fuzz::{load_fleet, load_registry, split_pair, text_of};
use libfuzzer_sys::fuzz_target;

fn load(data: &[u8]) -> Result<Workspace, LoadError> {
    let text = text_of(data);
    load_registry(&text, false).or_else(|_| load_fleet(&text))
}

fn markdown_within(plan: &fleetflow::plan::Plan, limit: usize) {
    let md = render_markdown(plan, limit);
    let n = md.chars().count();
    assert!(n <= limit, "markdown of {n} characters over its limit {limit}");
}

fuzz_target!(|data: &[u8]| {
    let (base, head) = split_pair(data);
    let (Ok(base), Ok(head)) = (load(base), load(head)) else {
        return;
    };
    let (base, head) = (Snapshot::from_workspace(&base), Snapshot::from_workspace(&head));
    // A small limit that varies with the input, so cutting is exercised at every length.
    let limit = 40 + data.len() * 37 % 3000;
    let same = plan(Some(&base), &base, None);
    assert!(
        same.is_empty(),
        "a snapshot planned against itself has changes: {:?}",
        same.changes
    );
    markdown_within(&same, limit);
    let change = plan(Some(&base), &head, None);
    assert!(
        change.apply_to(&base) == head,
        "plan(base, head) applied to base is not head"
    );
    markdown_within(&change, limit);
    std::hint::black_box(render_text(&change, false));
    let fresh = plan(None, &head, None);
    markdown_within(&fresh, limit);
});
