//! The containerized GitHub Action (`fleet action`, action.yml): what the runner passes
//! (GITHUB_* variables, INPUT_* inputs, the event file) becomes a validated [`ActionRequest`];
//! the workflows are the application layer's, with the Action's ways to report: the log,
//! `::error` annotations, the step summary, outputs and the job token's plan comment.

mod report;
pub mod request;
pub mod runner;

use serde_json::{Value, json};

pub use crate::application::action_run::Outputs;
use crate::application::action_run::Run;
use crate::application::report::WorkflowError;
use crate::config::LoadError;
use crate::config::load::split_path;
use crate::console::{Console, Effects};
use crate::ssh::KeyFiles;
pub use request::{ActionCommand, ActionRequest, Inputs, RunnerEnv};
use runner::{append, escape_data, output_entry};

/// Runs the Action from the runner's environment; returns the exit code.
pub fn run(console: &Console) -> u8 {
    let request = match ActionRequest::from_env(&|name| std::env::var(name).ok()) {
        Ok(r) => r,
        Err(e) => return console.finish(Err(e)),
    };
    // The key's files are removed when the run ends. A container action gets the runner's
    // RUNNER_TEMP path but not that directory (only the workspace, home, workflow and
    // file-command directories are mounted): then they go to the system temp dir.
    let (key, known) = (
        request.inputs.ssh_private_key.as_deref(),
        request.inputs.ssh_known_hosts.as_deref(),
    );
    let ssh = match KeyFiles::write(key, known, request.runner.temp.as_deref()) {
        Ok(files) => files,
        Err(e) => return console.finish(Err(WorkflowError::failed(e))),
    };
    let mut outputs = Outputs {
        images: json!([]),
        ..Outputs::default()
    };
    let fx = Effects::new(ssh.connector.clone());
    let reporter = report::ActionReporter::new(console, &request.workspace);
    let run = Run {
        reporter: &reporter,
        request: &request,
        fx: &fx,
    };
    let result = run.run(&mut outputs);
    let code = finish(console, &run, &reporter, result);
    match write_outputs(&request, &outputs) {
        Ok(()) => code,
        Err(e) => console.finish(Err(e)),
    }
}

/// Shows how the command ended (a configuration error also as annotations); the exit code.
fn finish(console: &Console, run: &Run, reporter: &report::ActionReporter, result: Result<(), WorkflowError>) -> u8 {
    match &result {
        Err(WorkflowError::Load(LoadError::Config(c))) => {
            let dir = run.registry_file().map(|f| split_path(&f).0).unwrap_or_default();
            crate::application::report::Reporter::diagnostics(reporter, &dir, &c.diagnostics);
        }
        Err(WorkflowError::Load(e)) => console.print(&format!("::error::{}\n", escape_data(&e.to_string()))),
        _ => {}
    }
    console.finish(result)
}

/// The step summary (the plan) and the outputs, where the runner reads them.
fn write_outputs(request: &ActionRequest, o: &Outputs) -> Result<(), WorkflowError> {
    let summary = match (&request.runner.step_summary, &o.step_summary) {
        (Some(path), Some(markdown)) => append(path, &format!("{markdown}\n"))
            .map_err(|e| WorkflowError::failed(format!("cannot write GITHUB_STEP_SUMMARY: {e}"))),
        _ => Ok(()),
    };
    let Some(path) = &request.runner.output else {
        return summary;
    };
    let text = [
        output_entry("plan-has-changes", if o.has_changes { "true" } else { "false" }),
        output_entry("plan-summary", &o.summary),
        output_entry("images", &o.images.to_string()),
        output_entry("deployed", &Value::Array(o.deployed.clone()).to_string()),
    ]
    .concat();
    append(path, &text).map_err(|e| WorkflowError::failed(format!("cannot write GITHUB_OUTPUT: {e}")))?;
    summary
}
