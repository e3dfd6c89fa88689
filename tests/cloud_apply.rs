//! Seed 003's retry policy and partial-failure handling, against a scripted provider and a
//! recording clock (no real waiting).

#[path = "support/cloud_fixture.rs"]
mod cloud_fixture;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use cloud_fixture::RecordingClock;
use fleetflow::cloud::{Action, CloudProvider, Op, ProviderError, RetryConfig, apply_actions, remaining};
use fleetflow::plan::state::{State, StateResource};

/// Fails each address as scripted (a queue of errors per address), else succeeds.
#[derive(Default)]
struct ScriptedProvider {
    failures: Mutex<BTreeMap<String, Vec<ProviderError>>>,
    calls: Mutex<Vec<String>>,
}

impl CloudProvider for ScriptedProvider {
    fn name(&self) -> &str {
        "scripted"
    }
    fn get_state(&self) -> Result<Vec<StateResource>, ProviderError> {
        Ok(Vec::new())
    }
    fn apply(&self, action: &Action, _state: &State) -> Result<Option<StateResource>, ProviderError> {
        self.calls.lock().unwrap().push(action.address.clone());
        if let Some(queue) = self.failures.lock().unwrap().get_mut(&action.address)
            && !queue.is_empty()
        {
            return Err(queue.remove(0));
        }
        Ok((action.op != Op::Delete).then(|| StateResource {
            address: action.address.clone(),
            provider: Some("scripted".into()),
            id: Some(format!("id-{}", action.address)),
            attributes: action.attributes.clone(),
            created_at: None,
        }))
    }
    fn destroy(&self, _id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn create(address: &str) -> Action {
    Action {
        address: address.into(),
        op: Op::Create,
        attributes: BTreeMap::from([("size".into(), "4".into())]),
    }
}

#[test]
fn backoff_is_1s_2s_then_capped_at_30s() {
    let r = RetryConfig::default();
    assert_eq!(
        (r.max_attempts, r.initial_delay, r.max_delay),
        (3, Duration::from_secs(1), Duration::from_secs(30))
    );
    let delays: Vec<u64> = (1..=7).map(|n| r.delay_after(n).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
}

#[test]
fn transient_errors_are_retried_permanent_ones_are_not() {
    let clock = RecordingClock::default();
    let provider = ScriptedProvider::default();
    provider.failures.lock().unwrap().insert(
        "a".into(),
        vec![
            ProviderError::Transient("503".into()),
            ProviderError::Transient("timeout".into()),
        ],
    );
    let mut state = State::default();
    let report = apply_actions(&provider, &clock, &RetryConfig::default(), &[create("a")], &mut state);
    assert!(report.ok(), "{report:?}");
    assert_eq!(provider.calls.lock().unwrap().len(), 3, "three attempts");
    assert_eq!(clock.slept(), [Duration::from_secs(1), Duration::from_secs(2)]);

    let clock = RecordingClock::default();
    let provider = ScriptedProvider::default();
    provider
        .failures
        .lock()
        .unwrap()
        .insert("a".into(), vec![ProviderError::Permanent("quota exceeded".into())]);
    let report = apply_actions(
        &provider,
        &clock,
        &RetryConfig::default(),
        &[create("a")],
        &mut State::default(),
    );
    assert_eq!(report.failed, Some(("a".into(), "scripted: quota exceeded".into())));
    assert_eq!(provider.calls.lock().unwrap().len(), 1, "no retry");
    assert!(clock.slept().is_empty());
}

#[test]
fn a_partial_failure_records_what_succeeded_and_the_next_apply_continues() {
    let clock = RecordingClock::default();
    let provider = ScriptedProvider::default();
    provider
        .failures
        .lock()
        .unwrap()
        .insert("b".into(), vec![ProviderError::Transient("503".into()); 3]);
    let actions = [create("a"), create("b"), create("c")];
    let mut state = State::default();
    let report = apply_actions(&provider, &clock, &RetryConfig::default(), &actions, &mut state);
    assert_eq!(report.applied, ["a"]);
    assert_eq!(report.failed.as_ref().map(|(a, _)| a.as_str()), Some("b"));
    assert_eq!(report.not_attempted, ["c"]);
    assert!(state.resource("a").is_some() && state.resource("b").is_none() && state.resource("c").is_none());

    // The next run: only what the state does not show yet, and it completes.
    let rest: Vec<Action> = remaining(&actions, &state).into_iter().cloned().collect();
    assert_eq!(rest.iter().map(|a| a.address.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    let report = apply_actions(&provider, &clock, &RetryConfig::default(), &rest, &mut state);
    assert!(report.ok(), "{report:?}");
    assert_eq!(state.resources.len(), 3);
    assert!(remaining(&actions, &state).is_empty(), "a third run has nothing to do");
    let delete = Action {
        address: "a".into(),
        op: Op::Delete,
        attributes: BTreeMap::new(),
    };
    apply_actions(
        &provider,
        &clock,
        &RetryConfig::default(),
        std::slice::from_ref(&delete),
        &mut state,
    );
    assert!(
        state.resource("a").is_none(),
        "a delete removes the resource from state"
    );
}
