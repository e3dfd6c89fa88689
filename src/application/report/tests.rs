use super::*;

#[derive(Debug, thiserror::Error)]
#[error("no credentials: set TOKEN")]
struct Missing;

#[derive(Debug, thiserror::Error)]
enum Setup {
    #[error("provider (a, b): {source}")]
    Quoting {
        #[source]
        source: Missing,
    },
    #[error("provider (a, b) cannot start")]
    Wrapping {
        #[source]
        source: Missing,
    },
}

#[test]
fn a_cause_is_said_once_whether_or_not_its_error_quotes_it() {
    let quoting = Setup::Quoting { source: Missing };
    assert_eq!(said_once(&quoting), "provider (a, b): no credentials: set TOKEN");
    let wrapping = Setup::Wrapping { source: Missing };
    assert_eq!(
        said_once(&wrapping),
        "provider (a, b) cannot start: no credentials: set TOKEN"
    );
    let anyhow = anyhow::Error::new(Setup::Quoting { source: Missing }).context("stage dev");
    assert_eq!(
        WorkflowError::failed_with("apply", &*anyhow).to_string(),
        "apply: stage dev: provider (a, b): no credentials: set TOKEN"
    );
}
