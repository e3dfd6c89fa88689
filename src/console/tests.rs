use super::*;
use crate::config::LoadError;

#[test]
fn every_workflow_error_has_its_exit_code_here() {
    let usage = [
        WorkflowError::Usage("no such stage".into()),
        WorkflowError::Unconfirmed {
            question: "Apply?".into(),
        },
    ];
    for e in &usage {
        assert_eq!(exit_code(e), exit::USAGE, "{e}");
    }
    let failure = [
        WorkflowError::Load(LoadError::Missing {
            path: "fleet-registry.kdl".into(),
        }),
        WorkflowError::BaseInvalid {
            label: "origin/HEAD (0123456789ab)".into(),
            error: LoadError::Missing {
                path: "fleet-registry.kdl".into(),
            },
        },
        WorkflowError::Cancelled,
        WorkflowError::Routes { failed: 1, total: 2 },
        WorkflowError::Failed("apply failed".into()),
    ];
    for e in &failure {
        assert_eq!(exit_code(e), exit::FAILURE, "{e}");
    }
}

#[test]
fn a_refused_confirmation_names_the_flag_and_a_route_failure_counts() {
    let e = WorkflowError::Unconfirmed {
        question: "Delete the servers?".into(),
    };
    assert_eq!(
        e.to_string(),
        "Delete the servers? — refusing without confirmation: no terminal to ask on. Add --yes to proceed"
    );
    assert_eq!(
        WorkflowError::Routes { failed: 1, total: 3 }.to_string(),
        "1 of 3 route(s) failed"
    );
}

#[test]
fn with_yes_every_confirmation_is_given() {
    let console = Console::new(ColorChoice::Never);
    let reporter = ConsoleReporter {
        console: &console,
        yes: true,
    };
    assert!(reporter.confirm("Apply these changes?").is_ok());
}
