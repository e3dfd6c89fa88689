//! Spellings of options that changed so that each flag letter and name means one thing across
//! the command line: still accepted, rewritten to today's before clap reads them, each with a
//! deprecation line.
//!
//! | command                         | old             | now                    |
//! |---------------------------------|-----------------|------------------------|
//! | `build`, `deploy`               | `-n SERVICE`    | `-s`, `--service`      |
//! | `build`, `deploy`, `up`, `stage up` | `--registry P` | `--image-registry P` |
//! | `plan`, `apply`, `registry deploy` | `-s STAGE`   | `--stage`              |
//!
//! (`-n` is `--tail` on `fleet logs`, `-s` is `--service` everywhere, and `--registry` is the
//! fleet-registry.kdl given before the command.)

use std::ffi::OsString;

/// Arguments in today's spelling, and a line for each old spelling met.
#[derive(Debug, PartialEq, Eq)]
pub struct Upgraded {
    pub args: Vec<OsString>,
    pub deprecations: Vec<String>,
}

/// Global options that take a value (given before the command).
const GLOBAL_WITH_VALUE: [&str; 2] = ["--registry", "--color"];

/// Rewrites old spellings in `args` (the program name first).
pub fn upgrade(args: impl IntoIterator<Item = OsString>) -> Upgraded {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let mut deprecations = Vec::new();
    let Some(command_at) = command_position(&args) else {
        return Upgraded { args, deprecations };
    };
    let command = args[command_at].to_string_lossy().into_owned();
    let (path, rest_at) = if command == "registry" || command == "stage" {
        let sub = args.get(command_at + 1).map(|a| a.to_string_lossy().into_owned());
        (format!("{command} {}", sub.unwrap_or_default()), command_at + 2)
    } else {
        (command, command_at + 1)
    };
    for arg in args.iter_mut().skip(rest_at) {
        let text = arg.to_string_lossy().into_owned();
        if text == "--" {
            break;
        }
        if let Some((old, new)) = rewrite(&path, &text) {
            deprecations.push(format!(
                "`fleet {path} {old}` is deprecated: use `{}` (the old spelling goes away in a later release)",
                new.split('=').next().unwrap_or(&new)
            ));
            *arg = OsString::from(new);
        }
    }
    Upgraded { args, deprecations }
}

/// Where the command's name is: the first argument that is neither a global option nor its value.
fn command_position(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        if GLOBAL_WITH_VALUE.contains(&arg.as_ref()) {
            i += 2;
        } else if arg.starts_with('-') {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// The old spelling `arg` of command `path` and what it is now.
fn rewrite(path: &str, arg: &str) -> Option<(String, String)> {
    let image_registry = matches!(path, "build" | "deploy" | "up" | "stage up");
    match arg {
        "-n" if matches!(path, "build" | "deploy") => Some(("-n".into(), "--service".into())),
        "-s" if matches!(path, "plan" | "apply" | "registry deploy") => Some(("-s".into(), "--stage".into())),
        "--registry" if image_registry => Some(("--registry".into(), "--image-registry".into())),
        _ if image_registry && arg.starts_with("--registry=") => {
            Some(("--registry".into(), arg.replacen("--registry=", "--image-registry=", 1)))
        }
        _ => None,
    }
}
