//! A tiny POSIX-shell model for the in-memory SSH double (memory_ssh.rs): it runs the scripts
//! the route workflows send against a modelled [`Host`], so what a script does on failure follows
//! from how it is written, as in `sh`.
//!
//! Modelled: quoting (`'…'`, `"…"`, `\`), `$(…)` kept whole, `;` `&&` `||`, `if/then/else/fi`
//! (not nested), `{ … }`, `set -e` (with its exception for all but the last command of an AND-OR
//! list), `trap … EXIT`, `exit`, `$?`/`$var` expansion outside single quotes, `> file`/`>> file`
//! and `2>` (discarded). Commands: `mkdir DIR` takes a lock directory (fails when it exists),
//! `rm -rf DIR` releases it, `printf '%s\n' … > DIR/owner` and `cat DIR/owner` hold its owner,
//! `grep -qxF LINE DIR/owner` tests the owner, `printf … >> …/audit.log` appends to the audit log, `tar -x -f -` unpacks the archive on
//! stdin, `cat > f` reads stdin and `mv f …/.fleetflow/bin/fleet` installs the binary,
//! `…/.fleetflow/bin/fleet --version` prints `fleet <installed>` (127 when not installed), any
//! other `…/bin/fleet` command prints the host's fleet output, `docker ps` prints its
//! containers, `[ A -eq B ]` compares. Anything else succeeds silently.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;

/// What a command does instead of succeeding.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: i32,
    pub stderr: String,
}

/// One run of a fleet command (not `--version`), and the locks held while it ran.
#[derive(Debug, Clone)]
pub struct FleetRun {
    pub argv: Vec<String>,
    pub locks_held: Vec<String>,
}

/// The modelled state of a server.
#[derive(Debug)]
pub struct Host {
    /// The installed fleet binary's version (`None`: not installed).
    pub installed: Option<String>,
    /// What a fleet command prints.
    pub fleet_output: Vec<String>,
    /// `project\tstage\tstate` lines for `docker ps`.
    pub containers: Vec<String>,
    /// Lock directory → owner line.
    pub locks: BTreeMap<String, String>,
    pub audit: Vec<String>,
    /// The files of the last archive unpacked (path → text).
    pub shipped: BTreeMap<String, String>,
    pub fleet_runs: Vec<FleetRun>,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            installed: None,
            fleet_output: vec!["web      created".into(), "1 changed, 0 unchanged".into()],
            containers: Vec::new(),
            locks: BTreeMap::new(),
            audit: Vec::new(),
            shipped: BTreeMap::new(),
            fleet_runs: Vec::new(),
        }
    }
}

/// Whether `word` is the fleet binary a deploy installs.
pub fn is_fleet(word: &str) -> bool {
    word.ends_with("/.fleetflow/bin/fleet")
}

/// What a script run answered.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `script` on `host` with `stdin`; every command for which `fails(argv)` holds (argv after
/// `NAME=value` prefixes) does what `failure` says instead.
pub fn run(
    host: &mut Host,
    script: &str,
    stdin: Option<&[u8]>,
    fails: &dyn Fn(&[String]) -> bool,
    failure: Option<&Failure>,
) -> Output {
    let mut sh = Shell {
        host,
        fails,
        failure,
        stdin,
        vars: BTreeMap::new(),
        stdout: String::new(),
        stderr: String::new(),
        trap: None,
        errexit: false,
        status: 0,
    };
    let status = sh.script(script);
    Output {
        status,
        stdout: sh.stdout,
        stderr: sh.stderr,
    }
}

/// A word of a script: its pieces, each either literal (quoted with `'…'` or `\`) or subject to
/// `$` expansion (unquoted or in `"…"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Word(Vec<(String, bool)>);

impl Word {
    fn push(&mut self, c: char, expands: bool) {
        match self.0.last_mut() {
            Some((s, e)) if *e == expands => s.push(c),
            _ => self.0.push((c.to_string(), expands)),
        }
    }

    /// The word after quote removal, `$…` as written.
    pub fn text(&self) -> String {
        self.0.iter().map(|(s, _)| s.as_str()).collect()
    }

    fn expand(&self, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for (piece, expands) in &self.0 {
            if !expands {
                out.push_str(piece);
                continue;
            }
            let mut chars = piece.chars().peekable();
            while let Some(c) = chars.next() {
                let mut name = String::new();
                if c == '$' && chars.peek() == Some(&'?') {
                    chars.next();
                    name.push('?');
                }
                while c == '$'
                    && let Some(&n) = chars.peek()
                    && (n.is_ascii_alphanumeric() || n == '_')
                    && name != "?"
                {
                    name.push(n);
                    chars.next();
                }
                match (c, name.is_empty()) {
                    ('$', false) => out.push_str(vars.get(&name).map_or("", String::as_str)),
                    _ => out.push(c),
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Word(Word),
    /// `;` `&&` `||` `|` `>` `>>` `<` `2>` …
    Op(String),
}

/// Splits a script into words and operators as `sh` would (no globbing; `$(…)` kept whole).
pub fn tokens(script: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word: Option<Word> = None;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_default();
                for c in chars.by_ref().take_while(|c| *c != '\'') {
                    w.push(c, false);
                }
            }
            '"' => {
                let w = word.get_or_insert_default();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            w.push(chars.next().unwrap_or('\\'), false)
                        }
                        _ => w.push(c, true),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_default();
                if let Some(n) = chars.next() {
                    w.push(n, false);
                }
            }
            '$' if chars.peek() == Some(&'(') => {
                let w = word.get_or_insert_default();
                w.push('$', false);
                let mut depth = 0;
                for c in chars.by_ref() {
                    w.push(c, false);
                    depth += i32::from(c == '(') - i32::from(c == ')');
                    if depth == 0 {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => out.extend(word.take().map(Tok::Word)),
            ';' | '&' | '|' | '>' | '<' | '(' | ')' => {
                let mut op = String::new();
                // `2>`: a file descriptor number right before a redirection.
                if c == '>'
                    && let Some(w) = &word
                    && !w.text().is_empty()
                    && w.0.iter().all(|(s, e)| *e && s.chars().all(|d| d.is_ascii_digit()))
                {
                    op = w.text();
                    word = None;
                }
                out.extend(word.take().map(Tok::Word));
                op.push(c);
                if let Some(&n) = chars.peek()
                    && ((n == c && c != '(' && c != ')') || (c == '>' && n == '&'))
                {
                    op.push(n);
                    chars.next();
                }
                out.push(Tok::Op(op));
            }
            _ => word.get_or_insert_default().push(c, true),
        }
    }
    out.extend(word.map(Tok::Word));
    out
}

/// Every word of a script after quote removal: a quoted value shows up here whole.
pub fn words(script: &str) -> Vec<String> {
    tokens(script)
        .into_iter()
        .filter_map(|t| match t {
            Tok::Word(w) => Some(w.text()),
            Tok::Op(_) => None,
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Seq,
    And,
    Or,
}

/// A simple command: its words and where its stdout goes (`(append, file)`).
struct Cmd {
    sep: Sep,
    words: Vec<Word>,
    out: Option<(bool, Word)>,
}

fn commands(script: &str) -> Vec<Cmd> {
    let mut cmds = Vec::new();
    let mut cur = Cmd {
        sep: Sep::Seq,
        words: Vec::new(),
        out: None,
    };
    let mut toks = tokens(script).into_iter();
    while let Some(t) = toks.next() {
        let sep = match t {
            Tok::Word(w) => {
                cur.words.push(w);
                continue;
            }
            Tok::Op(op) => match op.as_str() {
                "&&" => Sep::And,
                "||" => Sep::Or,
                ";" | "|" | "&" | "(" | ")" => Sep::Seq,
                _ => {
                    let target = match toks.next() {
                        Some(Tok::Word(w)) => w,
                        _ => Word::default(),
                    };
                    if op == ">" || op == ">>" || op == "1>" {
                        cur.out = Some((op == ">>", target));
                    }
                    continue;
                }
            },
        };
        let done = std::mem::replace(
            &mut cur,
            Cmd {
                sep,
                words: Vec::new(),
                out: None,
            },
        );
        if done.words.is_empty() {
            // Nothing between two operators (`) &&`): the later one decides, unless it is `;`.
            cur.sep = if sep == Sep::Seq { done.sep } else { sep };
        } else {
            cmds.push(done);
        }
    }
    if !cur.words.is_empty() {
        cmds.push(cur);
    }
    cmds
}

/// One run of a script on a host.
struct Shell<'a> {
    host: &'a mut Host,
    fails: &'a dyn Fn(&[String]) -> bool,
    failure: Option<&'a Failure>,
    stdin: Option<&'a [u8]>,
    vars: BTreeMap<String, String>,
    stdout: String,
    stderr: String,
    trap: Option<String>,
    errexit: bool,
    status: i32,
}

impl Shell<'_> {
    /// Runs `script`, then its EXIT trap; the exit status.
    fn script(&mut self, script: &str) -> i32 {
        let status = self.list(script).unwrap_or(self.status);
        if let Some(trap) = self.trap.take() {
            self.errexit = false;
            let _ = self.list(&trap);
        }
        status
    }

    /// Runs a command list; `Some(status)` when it exits.
    fn list(&mut self, script: &str) -> Option<i32> {
        let cmds = commands(script);
        // `if`: None outside, else whether the condition held (None inside = skipped if).
        let mut cond: Option<Option<bool>> = None;
        let mut skipping = false;
        let mut branch_ran = false;
        for (i, cmd) in cmds.iter().enumerate() {
            self.vars.insert("?".into(), self.status.to_string());
            let mut argv: Vec<String> = cmd.words.iter().map(|w| w.expand(&self.vars)).collect();
            let mut run = !skipping
                && match cmd.sep {
                    Sep::Seq => true,
                    Sep::And => self.status == 0,
                    Sep::Or => self.status != 0,
                };
            let mut is_condition = false;
            while let Some(k) = argv.first().map(String::as_str) {
                match k {
                    "{" | "}" => {}
                    "if" => {
                        cond = Some(None);
                        branch_ran = false;
                        is_condition = true;
                    }
                    "then" | "else" => {
                        let want = k == "then";
                        skipping = cond.flatten() != Some(want);
                        run = !skipping;
                    }
                    "fi" => {
                        if let Some(Some(_)) = cond
                            && !branch_ran
                        {
                            self.status = 0;
                        }
                        cond = None;
                        skipping = false;
                        run = false;
                    }
                    _ => break,
                }
                argv.remove(0);
            }
            if argv.is_empty() || !run {
                continue;
            }
            if let Some(code) = self.command(&argv, cmd) {
                return Some(code);
            }
            if is_condition {
                cond = Some(Some(self.status == 0));
                continue;
            }
            branch_ran = true;
            let next = cmds.get(i + 1).map(|c| c.sep);
            if self.errexit && self.status != 0 && !matches!(next, Some(Sep::And | Sep::Or)) {
                return Some(self.status);
            }
        }
        None
    }

    fn write(&mut self, cmd: &Cmd, text: &str) {
        let Some((append, file)) = &cmd.out else {
            self.stdout.push_str(text);
            return;
        };
        let file = file.expand(&self.vars);
        if let Some(dir) = file.strip_suffix("/owner")
            && !append
            && let Some(owner) = self.host.locks.get_mut(dir)
        {
            *owner = text.trim_end().to_owned();
        } else if *append && file.ends_with("/audit.log") {
            self.host.audit.push(text.trim_end_matches('\n').to_owned());
        }
    }

    /// Runs one simple command, setting `$?`; `Some(code)` on `exit`.
    fn command(&mut self, argv: &[String], cmd: &Cmd) -> Option<i32> {
        let assignment = |w: &String| {
            w.split_once('=')
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        };
        let env = argv.iter().take_while(|w| assignment(w)).count();
        if env == argv.len() {
            for w in argv {
                if let Some((name, value)) = w.split_once('=') {
                    self.vars.insert(name.to_owned(), value.to_owned());
                }
            }
            self.status = 0;
            return None;
        }
        let argv = &argv[env..];
        if let Some(f) = self.failure
            && (self.fails)(argv)
        {
            self.stderr.push_str(&f.stderr);
            self.stderr.push('\n');
            self.status = f.status;
            return None;
        }
        let arg = |i: usize| argv.get(i).map_or("", String::as_str);
        self.status = match arg(0) {
            "exit" => return Some(arg(1).parse().unwrap_or(self.status)),
            "set" => {
                self.errexit |= arg(1) == "-e";
                0
            }
            "trap" => {
                self.trap = Some(arg(1).to_owned()).filter(|t| t != "-");
                0
            }
            "true" | "cd" | "chmod" => 0,
            "false" => 1,
            "[" => match argv {
                [_, a, op, b, _] if op == "-eq" => i32::from(a != b),
                [_, op, dir, _] if op == "-d" => i32::from(!self.host.locks.contains_key(dir)),
                _ => 1,
            },
            "mkdir" if arg(1) == "-p" => 0,
            "mkdir" if self.host.locks.contains_key(arg(1)) => 1,
            "mkdir" => {
                self.host.locks.insert(arg(1).to_owned(), String::new());
                0
            }
            "rm" => {
                for p in argv.iter().skip(1).filter(|p| !p.starts_with('-')) {
                    self.host.locks.remove(p);
                }
                0
            }
            "printf" => {
                let mut args = argv.iter().skip(2);
                let mut text = String::new();
                let format = arg(1).replace("\\n", "\n").replace("\\t", "\t");
                for (i, part) in format.split("%s").enumerate() {
                    if i > 0 {
                        text.push_str(args.next().map_or("", String::as_str));
                    }
                    text.push_str(part);
                }
                self.write(cmd, &text);
                0
            }
            "echo" => {
                let text = format!("{}\n", argv[1..].join(" "));
                self.write(cmd, &text);
                0
            }
            // `grep -qxF LINE DIR/owner`: whether the lock's owner is LINE.
            "grep" if arg(1) == "-qxF" => match arg(3).strip_suffix("/owner").and_then(|d| self.host.locks.get(d)) {
                Some(owner) => i32::from(owner.trim_end() != arg(2)),
                None => 2,
            },
            "cat" if argv.len() == 1 => i32::from(self.stdin.take().is_none()),
            "cat" => match arg(1)
                .strip_suffix("/owner")
                .and_then(|d| self.host.locks.get(d).cloned())
            {
                Some(owner) => {
                    let text = format!("{owner}\n");
                    self.write(cmd, &text);
                    0
                }
                None => 1,
            },
            "mv" if is_fleet(argv.last().map_or("", String::as_str)) => {
                self.host.installed = Some(env!("CARGO_PKG_VERSION").to_owned());
                0
            }
            "tar" => self.unpack(),
            "docker" => {
                let text: String = self.host.containers.iter().map(|c| format!("{c}\n")).collect();
                self.write(cmd, &text);
                0
            }
            f if is_fleet(f) && arg(1) == "--version" => match self.host.installed.clone() {
                Some(v) => {
                    self.write(cmd, &format!("fleet {v}\n"));
                    0
                }
                None => 127,
            },
            f if is_fleet(f) => {
                let locks_held = self.host.locks.keys().cloned().collect();
                self.host.fleet_runs.push(FleetRun {
                    argv: argv.to_vec(),
                    locks_held,
                });
                let text: String = self.host.fleet_output.iter().map(|l| format!("{l}\n")).collect();
                self.write(cmd, &text);
                0
            }
            _ => 0,
        };
        None
    }

    /// `tar -x -f -`: the archive on stdin, its files remembered.
    fn unpack(&mut self) -> i32 {
        let Some(bytes) = self.stdin.take() else {
            self.stderr.push_str("tar: no archive on stdin\n");
            return 2;
        };
        let mut files = BTreeMap::new();
        let mut archive = tar::Archive::new(bytes);
        let Ok(entries) = archive.entries() else { return 2 };
        for entry in entries {
            let Ok(mut e) = entry else { return 2 };
            let path = e.path().map(|p| p.display().to_string()).unwrap_or_default();
            let mut text = String::new();
            if e.header().entry_type().is_file() && e.read_to_string(&mut text).is_err() {
                return 2;
            }
            files.insert(path, text);
        }
        self.host.shipped = files;
        0
    }
}
