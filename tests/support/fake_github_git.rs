//! The fake GitHub's git database: a commit's tree (recursive or one level, truncated past a
//! limit as GitHub truncates at 100,000 entries) and blobs by SHA, from the files the test gave
//! the commit. Blob SHAs are git's (SHA-1 of the blob); tree SHAs are content hashes of the
//! listing's place (SHA-256 cut to 40 hex digits), opaque names as GitHub's are to the App.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::World;

/// What the git database serves besides the commits' files.
#[derive(Default)]
pub struct GitWorld {
    /// Sub-tree SHA → (repository, commit, directory) it lists.
    trees: BTreeMap<String, (String, String, String)>,
    /// A recursive listing longer than this is cut and marked `truncated` (GitHub: 100,000).
    pub tree_entry_limit: Option<usize>,
    /// (repository, blob SHA) → text, for every file of every commit added.
    blobs: BTreeMap<(String, String), String>,
    /// Blobs that 404 (a force-push took them away).
    pub gone_blobs: BTreeSet<String>,
    /// Files whose copy in a commit's tarball is other text (`export-subst` in .gitattributes).
    pub tarball_text: BTreeMap<String, String>,
    /// Trees and blobs served.
    pub trees_served: usize,
    pub blobs_served: usize,
}

fn hash(kind: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())[..40].to_owned()
}

/// The SHA git (and GitHub) gives a blob with `text`.
pub fn blob_sha(text: &str) -> String {
    fleetflow::github::files::blob_id(text.as_bytes()).expect("SHA-1 of a blob")
}

/// The tree at `tree_sha` (a commit SHA, or a sub-tree SHA this fake handed out) of `repo`:
/// GitHub's `git-tree` answer, or `None` (404).
pub fn tree(world: &mut World, repo: &str, tree_sha: &str, recursive: bool) -> Option<Value> {
    let (commit, dir) = if world.commits.contains_key(&(repo.to_owned(), tree_sha.to_owned())) {
        (tree_sha.to_owned(), String::new())
    } else {
        let (r, c, d) = world.git.trees.get(tree_sha)?.clone();
        if r != repo {
            return None;
        }
        (c, d)
    };
    let files = world.commits.get(&(repo.to_owned(), commit.clone()))?;
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    // path (relative to this tree) → Some(text) for a blob, None for a sub-tree.
    let mut entries: BTreeMap<String, Option<&String>> = BTreeMap::new();
    for (path, text) in files {
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        for depth in 1..parts.len() {
            if recursive || depth == 1 {
                entries.entry(parts[..depth].join("/")).or_insert(None);
            }
        }
        if recursive || parts.len() == 1 {
            entries.insert(rel.to_owned(), Some(text));
        }
    }
    let limit = world.git.tree_entry_limit.filter(|_| recursive).unwrap_or(usize::MAX);
    let truncated = entries.len() > limit;
    let mut listed = Vec::new();
    let mut new_trees = Vec::new();
    for (path, text) in entries.into_iter().take(limit) {
        listed.push(match text {
            Some(text) => json!({
                "path": path, "mode": "100644", "type": "blob",
                "sha": blob_sha(text), "size": text.len(),
            }),
            None => {
                let full = format!("{prefix}{path}");
                let sha = hash("tree", &[repo, &commit, &full]);
                new_trees.push((sha.clone(), (repo.to_owned(), commit.clone(), full)));
                json!({ "path": path, "mode": "040000", "type": "tree", "sha": sha })
            }
        });
    }
    world.git.trees.extend(new_trees);
    world.git.trees_served += 1;
    let sha = if dir.is_empty() {
        hash("tree", &[repo, &commit, ""])
    } else {
        tree_sha.to_owned()
    };
    Some(json!({ "sha": sha, "url": "https://api.github.com/", "truncated": truncated, "tree": listed }))
}

impl GitWorld {
    /// Makes the files of a commit of `repo` reachable as blobs.
    pub fn add_blobs<'a>(&mut self, repo: &str, texts: impl IntoIterator<Item = &'a String>) {
        for text in texts {
            self.blobs.insert((repo.to_owned(), blob_sha(text)), text.clone());
        }
    }
}

/// The text of blob `sha` of `repo`, unless it is gone.
pub fn blob(world: &mut World, repo: &str, sha: &str) -> Option<String> {
    if world.git.gone_blobs.contains(sha) {
        return None;
    }
    let text = world.git.blobs.get(&(repo.to_owned(), sha.to_owned()))?.clone();
    world.git.blobs_served += 1;
    Some(text)
}
