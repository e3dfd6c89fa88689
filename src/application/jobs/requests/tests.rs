use super::*;

fn pr() -> PullRequestRef {
    PullRequestRef {
        installation_id: 7,
        repo: RepoRef {
            owner: "acme".into(),
            name: "mono".into(),
        },
        number: 12,
        head_sha: "a".repeat(40),
        base_sha: "b".repeat(40),
    }
}

#[test]
fn a_job_round_trips_through_its_stored_form() {
    let job = Job::Plan(pr());
    let stored = job.queued();
    assert_eq!(stored.kind, PLAN_JOB);
    let value: serde_json::Value = serde_json::from_str(&stored.payload).unwrap();
    assert_eq!(value["version"], JOB_FORMAT);
    assert_eq!(Job::decode(stored.kind, &stored.payload).unwrap(), job);
}

#[test]
fn a_payload_queued_before_versions_still_decodes() {
    let legacy = serde_json::to_string(&pr()).unwrap();
    assert_eq!(Job::decode(PLAN_JOB, &legacy).unwrap(), Job::Plan(pr()));
}

#[test]
fn a_newer_format_or_an_unknown_kind_is_refused_by_name() {
    let newer = serde_json::json!({ "version": JOB_FORMAT + 1, "request": {} }).to_string();
    let e = Job::decode(PLAN_JOB, &newer).unwrap_err();
    assert!(matches!(e, BadJob::Version(v) if v == JOB_FORMAT + 1), "{e}");
    assert!(e.to_string().contains("newer than this fleet reads"), "{e}");
    let e = Job::decode("rebuild", &Job::Plan(pr()).payload()).unwrap_err();
    assert!(matches!(e, BadJob::Kind(ref k) if k == "rebuild"), "{e}");
    let e = Job::decode(PLAN_JOB, "{\"version\": 1, \"request\": {\"number\": \"x\"}}").unwrap_err();
    assert!(matches!(e, BadJob::Payload(_)), "{e}");
}
