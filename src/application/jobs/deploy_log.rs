//! A deploy job's log for its page: its steps and every line the release prints, with the
//! values of the job's secrets masked, stored in the job database in small batches as they come
//! (so any replica serves the page, live, and after the job ended).

use std::time::Duration;

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use super::db::Store;

/// How long lines gather before they are stored together.
const BATCH_EVERY: Duration = Duration::from_millis(200);
const BATCH_MOST: usize = 500;
/// Lines kept per job; past them one line says the rest was not kept.
pub const LINES_MOST: i64 = 20_000;
/// How long stored lines are kept: the life of a page link, and a day.
pub const KEPT_FOR_MS: i64 = (super::page_links::LINK_LIFETIME_SECS + 24 * 3600) * 1000;

/// What replaces a secret's value in a stored line.
pub const MASK: &str = "•••";

/// Where a job's lines go (cheap to clone, usable from blocking threads).
#[derive(Clone)]
pub struct LogLine {
    tx: UnboundedSender<String>,
    last_step: std::sync::Arc<std::sync::Mutex<String>>,
}

/// How a step starts in the log (the page shows it as a heading line).
pub const STEP: &str = "▶ ";

impl LogLine {
    pub fn push(&self, line: &str) {
        let _ = self.tx.send(line.to_owned());
    }

    /// A step (`🔨 Building images…`), unless it is the one shown last.
    pub fn step(&self, status: &str) {
        if let Ok(mut last) = self.last_step.lock() {
            if *last == status {
                return;
            }
            status.clone_into(&mut last);
        }
        self.push(&format!("{STEP}{status}"));
    }
}

/// The writer of one job's log.
pub struct DeployLog {
    line: LogLine,
    writer: JoinHandle<()>,
}

/// `line` with every value of `secrets` (of four characters or more) masked.
pub fn redact(line: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(line.to_owned(), |l, s| l.replace(s.as_str(), MASK))
}

impl DeployLog {
    /// Starts the log of `job_id` after the lines it has (a job run again goes on).
    pub async fn start(store: Store, job_id: i64, secrets: Vec<String>) -> Self {
        let (tx, mut rx) = unbounded_channel::<String>();
        if let Err(e) = store
            .forget_log_before(chrono::Utc::now().timestamp_millis() - KEPT_FOR_MS)
            .await
        {
            tracing::warn!("cannot forget old deploy log lines: {e}");
        }
        let mut seq = store.next_log_seq(job_id).await.unwrap_or(0);
        let writer = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let until = tokio::time::Instant::now() + BATCH_EVERY;
                while batch.len() < BATCH_MOST {
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(line)) => batch.push(line),
                        Ok(None) | Err(_) => break,
                    }
                }
                if seq > LINES_MOST {
                    continue; // said once, below; the rest is not kept
                }
                let mut lines: Vec<String> = batch.iter().map(|l| redact(l, &secrets)).collect();
                if seq + lines.len() as i64 > LINES_MOST {
                    lines.truncate((LINES_MOST - seq).max(0) as usize);
                    lines.push(format!("… the rest of this log was not kept (over {LINES_MOST} lines)"));
                }
                if let Err(e) = store.append_log(job_id, seq, &lines).await {
                    tracing::warn!(
                        job = job_id,
                        "cannot store {} log line(s) for the deploy page: {e}",
                        lines.len()
                    );
                }
                seq += lines.len() as i64;
            }
        });
        Self {
            line: LogLine {
                tx,
                last_step: Default::default(),
            },
            writer,
        }
    }

    pub fn line(&self) -> LogLine {
        self.line.clone()
    }

    /// Stores what is left; returns once every line pushed before is stored.
    pub async fn close(self) {
        drop(self.line);
        let abort = self.writer.abort_handle();
        // Every other handle is dropped by now; should one not be (or the database hang), the
        // log stops here.
        if tokio::time::timeout(Duration::from_secs(30), self.writer)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

#[cfg(test)]
mod tests;
