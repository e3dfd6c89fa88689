//! Deploy progress: one report per service step; each front door shows it its own way (the
//! console: `console::StderrProgress`).

/// Where a deploy reports each service's steps.
pub trait Progress {
    fn service(&mut self, service: &str, step: &str);
}

/// Records steps (tests, and callers that report elsewhere such as a PR comment).
#[derive(Debug, Default)]
pub struct RecordedProgress {
    pub steps: Vec<(String, String)>,
}

impl Progress for RecordedProgress {
    fn service(&mut self, service: &str, step: &str) {
        self.steps.push((service.to_owned(), step.to_owned()));
    }
}
