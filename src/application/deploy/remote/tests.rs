use super::*;

fn plan(deploy_path: &str) -> RemotePlan {
    RemotePlan {
        fleet: "creo".into(),
        stage: "live".into(),
        server: "box".into(),
        address: "127.0.0.1".into(),
        deploy_path: deploy_path.into(),
        remote_dir: format!("{deploy_path}/creo"),
        command: vec!["fleet".into()],
        description: None,
    }
}

fn by(who: &str, token: Option<i64>) -> Deployer {
    Deployer {
        who: who.into(),
        commit: Some("abc".into()),
        when: "2026-12-03T07:00:00Z".into(),
        lock_token: token,
    }
}

/// Runs `script` with the system shell: its exit status and stdout.
fn sh(script: &str) -> (i32, String) {
    let out = std::process::Command::new("sh").args(["-c", script]).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The App takes over a server lock only from an App deploy with a lower fencing token (whose
/// lease ran out); a lock of the CLI, or of a newer token, is never taken; a holder that was
/// taken over releases nothing of the new holder's.
#[test]
fn a_server_lock_is_taken_over_only_from_an_older_app_holder() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&dir.path().display().to_string());
    let (old, new, cli) = (by("app", Some(4)), by("app", Some(5)), by("alice@laptop", None));
    assert_eq!(sh(&lock_script(&plan, &old)).0, 0);
    // An older token is stale: taken over.
    assert_eq!(sh(&lock_script(&plan, &new)).0, 0);
    // The stale holder wakes: it can neither lock again nor release the new holder's lock.
    let (status, holder) = sh(&lock_script(&plan, &old));
    assert_eq!((status, holder.trim()), (LOCKED, new.owner().as_str()));
    assert_eq!(sh(&release_script(&plan, &old)).0, 0);
    assert_eq!(sh(&lock_script(&plan, &cli)).0, LOCKED, "still held by the new holder");
    assert_eq!(sh(&release_script(&plan, &new)).0, 0);
    // A CLI holder's lock is not the App's to take, whatever its token.
    assert_eq!(sh(&lock_script(&plan, &cli)).0, 0);
    let (status, holder) = sh(&lock_script(&plan, &by("app", Some(99))));
    assert_eq!((status, holder.trim()), (LOCKED, cli.owner().as_str()));
}
