//! How the App's deploys reach the image registry: with the operator's credentials (the host's
//! docker login, or `--image-registry-token`), never the installation token — GitHub Packages
//! does not accept those, and the test registry (htpasswd) refuses them too. A refused push
//! says what to configure.

#[path = "support/deploy_scenario.rs"]
mod deploy_scenario;
#[path = "support/fake_github.rs"]
mod fake_github;
mod support;

use std::time::Duration;

use deploy_scenario::*;

/// The App's docker has no login for the registry: only what the operator configured pushes.
async fn deploy_without_a_docker_login(token: Option<(&str, &str)>) -> (Scenario, tempfile::TempDir) {
    let empty_docker_config = tempfile::tempdir().unwrap();
    let mut env = vec![(
        "DOCKER_CONFIG".to_owned(),
        empty_docker_config.path().display().to_string(),
    )];
    if let Some((user, token)) = token {
        env.push(("FLEET_IMAGE_REGISTRY_USERNAME".into(), user.into()));
        env.push(("FLEET_IMAGE_REGISTRY_TOKEN".into(), token.into()));
    }
    let s = Scenario::start_with(env).await;
    let accepted = s.comment(PR, "alice", "/deploy creo live\n").await;
    assert_eq!(accepted["status"], "queued", "{accepted}");
    s.wait_for("the deploy", Duration::from_secs(120), |w| deploy_finished(w, 1))
        .await;
    (s, empty_docker_config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_registry_token_pushes_never_the_installation_token() {
    let world = support::test_world();
    let (s, _config) = deploy_without_a_docker_login(Some((&world.registry_user, &world.registry_password))).await;
    {
        let w = s.fake.world();
        let d = &w.deploy.deployments[0];
        assert_eq!(d.statuses, ["in_progress", "success"], "{:?}", d.descriptions);
    }
    assert_eq!(s.running(), [format!("{}-live-site", s.project)]);
    s.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_push_says_what_to_configure() {
    let (s, _config) = deploy_without_a_docker_login(None).await;
    s.wait_for("the final reply", Duration::from_secs(10), |w| {
        w.bot_comments(REPO, PR).iter().any(|c| c.body.contains("failed"))
    })
    .await;
    {
        let w = s.fake.world();
        let d = &w.deploy.deployments[0];
        assert_eq!(d.statuses, ["in_progress", "failure"], "{:?}", d.descriptions);
    }
    let reply = s.bot_replies(PR).join("\n");
    assert!(reply.contains("the image registry refused the push"), "{reply}");
    assert!(reply.contains("--image-registry-token"), "{reply}");
    assert!(reply.contains("does not accept an App's installation token"), "{reply}");
    assert!(s.running().is_empty(), "nothing deployed");
    s.assert_no_violations();
}
