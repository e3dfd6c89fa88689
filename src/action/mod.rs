//! The containerized GitHub Action (`fleet action`, action.yml): what the runner passes
//! (GITHUB_* variables, INPUT_* inputs, the event file) becomes a validated [`ActionRequest`];
//! the workflows are the application layer's, with the Action's ways to report: the log,
//! `::error` annotations, the step summary, outputs and the job token's plan comment.

mod comment;
mod request;
pub mod runner;
mod ssh_files;
mod workflows;

use std::path::Path;

use serde_json::{Value, json};

use crate::console::{Console, ConsoleReporter, Effects, exit};
pub use request::{ActionCommand, ActionRequest};
use runner::{append, output_entry};

/// What one run learned, written to GITHUB_OUTPUT at the end.
#[derive(Default)]
pub struct Outputs {
    pub has_changes: bool,
    pub summary: String,
    pub images: Value,
    pub deployed: Vec<Value>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Runs the Action from the runner's environment; returns the exit code.
pub fn run(console: &Console) -> u8 {
    let get = |name: &str| env(name);
    let dry_run = match request::dry_run(&get) {
        Ok(v) => v,
        Err(e) => return console.finish(Err(e)),
    };
    // The key's files are removed when the run ends.
    let ssh = match ssh_files::install() {
        Ok(dir) => dir,
        Err(e) => {
            console.error(&e);
            return exit::FAILURE;
        }
    };
    let request = match ActionRequest::from_env(&get, dry_run) {
        Ok(r) => r,
        Err(e) => return console.finish(Err(e)),
    };
    let mut outputs = Outputs {
        images: json!([]),
        ..Outputs::default()
    };
    let reporter = ConsoleReporter { console, yes: true };
    let fx = Effects::new(ssh.connector.clone());
    let run = workflows::Run {
        console,
        reporter: &reporter,
        request: &request,
        fx: &fx,
    };
    let code = match &request.command {
        ActionCommand::Plan => run.plan(&mut outputs),
        ActionCommand::Push => run.push(&mut outputs),
        ActionCommand::Dispatch => run.dispatch(&mut outputs),
        ActionCommand::Build => run.build(&mut outputs),
        ActionCommand::Comment => {
            let (code, deployed) = comment::run(console, &fx, &request.event, dry_run);
            outputs.deployed = deployed;
            code
        }
        ActionCommand::Nothing(event) => {
            console.print(&format!("fleet action: nothing to do for the `{event}` event.\n"));
            exit::OK
        }
        ActionCommand::Unknown(command) => {
            console.error(&format!(
                "input command: expected plan, build, deploy or auto, got {command:?}"
            ));
            exit::USAGE
        }
    };
    if let Err(e) = write_outputs(&outputs) {
        console.error(&format!("cannot write GITHUB_OUTPUT: {e}"));
        return exit::FAILURE;
    }
    code
}

fn write_outputs(o: &Outputs) -> std::io::Result<()> {
    let Some(path) = env("GITHUB_OUTPUT") else {
        return Ok(());
    };
    let text = [
        output_entry("plan-has-changes", if o.has_changes { "true" } else { "false" }),
        output_entry("plan-summary", &o.summary),
        output_entry("images", &o.images.to_string()),
        output_entry("deployed", &Value::Array(o.deployed.clone()).to_string()),
    ]
    .concat();
    append(Path::new(&path), &text)
}
