//! Where the App builds a repository's images, said in its registry (issue 17):
//! `builds "app"` (the default) or `builds "github-actions" workflow="fleet-build.yml"`; the
//! App reads it from the default branch, so a pull request cannot move its own build.

use fleetflow::config::{ImageBuilds, LoadError, LoadOptions, MemoryFiles, load_workspace};

const REGISTRY: &str = "registry \"acme\"\nfleet \"web\" { path \"fleets/web\"; }\n";

fn load(extra: &str) -> Result<ImageBuilds, Vec<String>> {
    let mut files = MemoryFiles::default();
    files
        .files
        .insert("fleet-registry.kdl".into(), format!("{REGISTRY}{extra}"));
    match load_workspace(&files, "fleet-registry.kdl", LoadOptions { verify_fleets: false }) {
        Ok(ws) => Ok(ws.registry.builds),
        Err(LoadError::Config(c)) => Err(c.diagnostics.brief()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_app_builds_unless_the_registry_names_a_workflow() {
    assert_eq!(load(""), Ok(ImageBuilds::App));
    assert_eq!(load("builds \"app\"\n"), Ok(ImageBuilds::App));
    assert_eq!(
        load("builds \"github-actions\" workflow=\"fleet-build.yml\"\n"),
        Ok(ImageBuilds::GithubActions {
            workflow: "fleet-build.yml".into()
        })
    );
}

#[test]
fn bad_build_places_are_diagnostics_at_their_line_and_column() {
    for (text, said) in [
        (
            "builds \"github-actions\"\n",
            "3:8: `builds \"github-actions\"` needs the workflow to dispatch",
        ),
        (
            "builds \"github-actions\" workflow=\"../x.yml\"\n",
            "3:34: workflow \"../x.yml\" is not a workflow file name",
        ),
        (
            "builds \"github-actions\" workflow=\"build.sh\"\n",
            "is not a workflow file name",
        ),
        (
            "builds \"app\" workflow=\"b.yml\"\n",
            "`workflow` is for `builds \"github-actions\"`",
        ),
        ("builds \"gitlab\"\n", "unknown build place \"gitlab\""),
        ("builds \"app\"\nbuilds \"github-actions\" workflow=\"b.yml\"\n", "4:1"),
    ] {
        let errors = load(text).expect_err(text).join("\n");
        assert!(errors.contains(said), "{text}: {errors}");
    }
}
