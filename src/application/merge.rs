//! What a merge deploys, for the App's push job and the Action's push alike.

use std::collections::BTreeSet;

/// The fleets (by registry path, relative to the repository root) that any changed file
/// belongs to.
pub fn changed_fleets<'a>(
    fleets: impl IntoIterator<Item = (&'a str, &'a str)>,
    registry_dir: &str,
    changed: &[String],
) -> BTreeSet<String> {
    let base = registry_dir.trim_matches('/');
    fleets
        .into_iter()
        .filter(|(_, path)| {
            let rel = path.trim_start_matches("./").trim_matches('/');
            let dir = if base.is_empty() {
                rel.to_owned()
            } else {
                format!("{base}/{rel}")
            };
            let dir = format!("{}/", dir.trim_matches('/'));
            changed.iter().any(|c| dir == "/" || c.starts_with(&dir))
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// What a merge deploys: the fleets its changed files touch (`None`: everything may have
/// changed, e.g. a new branch) and those fleets' routes that opt in with `auto-deploy=#true`.
/// Shared by the App's push job and the Action's push.
pub fn merge_deploys<'a>(
    ws: &'a crate::config::Workspace,
    registry_dir: &str,
    changed_files: Option<&[String]>,
) -> (BTreeSet<String>, Vec<&'a crate::config::registry::Route>) {
    let fleets = ws
        .registry
        .fleets
        .iter()
        .map(|f| (f.name.value.as_str(), f.path.value.as_str()));
    let touched = match changed_files {
        Some(files) => changed_fleets(fleets, registry_dir, files),
        None => fleets.map(|(n, _)| n.to_owned()).collect(),
    };
    let routes = ws
        .registry
        .routes
        .iter()
        .filter(|r| r.auto_deploy && touched.contains(&r.fleet.value))
        .collect();
    (touched, routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleets_changed_by_path() {
        let changed = vec!["mono/fleets/web/www/index.html".to_owned(), "README.md".to_owned()];
        let fleets = [("web", "fleets/web"), ("api", "fleets/api"), ("webx", "fleets/webx")];
        let got = changed_fleets(fleets, "mono", &changed);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec!["web".to_owned()]);
    }
}
