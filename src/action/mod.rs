//! The containerized GitHub Action (`fleet action`, action.yml): what the runner passes
//! (GITHUB_* variables, INPUT_* inputs, the event file) becomes a validated [`ActionRequest`];
//! the workflows are the application layer's, with the Action's ways to report: the log,
//! `::error` annotations, the step summary, outputs and the job token's plan comment.

mod comment;
mod report;
pub mod request;
pub mod runner;
mod ssh_files;
mod workflows;

use serde_json::{Value, json};

use crate::application::report::WorkflowError;
use crate::console::{Console, Effects};
pub use request::{ActionCommand, ActionRequest, Inputs, RunnerEnv};
use runner::{append, output_entry};

/// What one run learned, written to GITHUB_OUTPUT at the end.
#[derive(Default)]
pub struct Outputs {
    pub has_changes: bool,
    pub summary: String,
    pub images: Value,
    pub deployed: Vec<Value>,
}

/// Runs the Action from the runner's environment; returns the exit code.
pub fn run(console: &Console) -> u8 {
    let request = match ActionRequest::from_env(&|name| std::env::var(name).ok()) {
        Ok(r) => r,
        Err(e) => return console.finish(Err(e)),
    };
    // The key's files are removed when the run ends.
    let ssh = match ssh_files::install(&request.inputs, request.runner.temp.as_deref()) {
        Ok(files) => files,
        Err(e) => return console.finish(Err(e)),
    };
    let mut outputs = Outputs {
        images: json!([]),
        ..Outputs::default()
    };
    let fx = Effects::new(ssh.connector.clone());
    let reporter = report::ActionReporter::new(console, &request.workspace);
    let run = workflows::Run {
        console,
        reporter: &reporter,
        request: &request,
        fx: &fx,
    };
    let result = match &request.command {
        ActionCommand::Plan => run.plan(&mut outputs),
        ActionCommand::Push => run.push(&mut outputs),
        ActionCommand::Dispatch => run.dispatch(&mut outputs),
        ActionCommand::Build => run.build(&mut outputs),
        ActionCommand::Rollback(to) => run.rollback(to, &mut outputs),
        ActionCommand::Comment => comment::run(console, &fx, &request, &mut outputs),
        ActionCommand::Nothing(event) => {
            console.print(&format!("fleet action: nothing to do for the `{event}` event.\n"));
            Ok(())
        }
    };
    let code = run.finish(result);
    match write_outputs(&request, &outputs) {
        Ok(()) => code,
        Err(e) => console.finish(Err(WorkflowError::failed(format!("cannot write GITHUB_OUTPUT: {e}")))),
    }
}

fn write_outputs(request: &ActionRequest, o: &Outputs) -> std::io::Result<()> {
    let Some(path) = &request.runner.output else {
        return Ok(());
    };
    let text = [
        output_entry("plan-has-changes", if o.has_changes { "true" } else { "false" }),
        output_entry("plan-summary", &o.summary),
        output_entry("images", &o.images.to_string()),
        output_entry("deployed", &Value::Array(o.deployed.clone()).to_string()),
    ]
    .concat();
    append(path, &text)
}
