//! Replicas of `fleet serve` for the load examples: a job database (a new SQLite file, or a new
//! database on a PostgreSQL server, dropped after the run) and N processes on it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The run's job database.
pub struct RunDatabase {
    pub url: String,
    /// PostgreSQL: the maintenance URL and the run's database, dropped by [`RunDatabase::drop_database`].
    postgres: Option<(String, String)>,
}

impl RunDatabase {
    /// `sqlite` (a file in `dir`) or a PostgreSQL server URL (a new database on it).
    pub async fn create(database: &str, dir: &Path, name: &str) -> anyhow::Result<Self> {
        use sqlx::Connection;
        if database == "sqlite" {
            return Ok(RunDatabase {
                url: format!("sqlite://{}", dir.join("fleet.db").display()),
                postgres: None,
            });
        }
        let base = database.rsplit_once('/').map_or(database, |(base, _)| base);
        let name = format!("{name}_{}", std::process::id());
        let admin = format!("{base}/postgres");
        let mut db = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut db)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut db).await?;
        Ok(RunDatabase {
            url: format!("{base}/{name}"),
            postgres: Some((admin, name)),
        })
    }

    pub fn backend(&self) -> &'static str {
        if self.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        use sqlx::Connection;
        if let Some((admin, name)) = self.postgres {
            let mut db = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut db)
                .await?;
        }
        Ok(())
    }
}

/// `count` processes of `fleet serve` (`bin`) on `database`, each on its own port, healthy when
/// this returns; their base URLs.
pub async fn start(
    bin: &str,
    count: usize,
    database: &str,
    github_api_url: &str,
    key: &Path,
    secret: &str,
) -> anyhow::Result<(Vec<Child>, Vec<String>)> {
    let http = reqwest::Client::new();
    let (mut children, mut bases) = (Vec::new(), Vec::new());
    for _ in 0..count.max(1) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        children.push(
            Command::new(bin)
                .arg("serve")
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--github-api-url", github_api_url])
                .args(["--app-id", "1"])
                .args(["--workers", "2"])
                .env("FLEET_DATABASE_URL", database)
                .env("GITHUB_APP_PRIVATE_KEY", key)
                .env("GITHUB_WEBHOOK_SECRET", secret)
                .env("RUST_LOG", "error")
                .stderr(Stdio::null())
                .spawn()?,
        );
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/healthz")).send().await.is_err() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(20), "fleet serve did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bases.push(base);
    }
    Ok((children, bases))
}

/// SIGTERM to each, then waits for it.
pub fn stop(children: &mut [Child]) {
    for child in children {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
    }
}

/// Posts `body` to `base`'s webhook as `event`, delivery `id`, signed with `secret`; the status.
pub async fn deliver_signed(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    event: &str,
    id: &str,
    body: Vec<u8>,
) -> anyhow::Result<u16> {
    let r = http
        .post(format!("{base}/webhook"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", id)
        .header("X-Hub-Signature-256", fleetflow::webhook::sign(secret, &body))
        .body(body)
        .send()
        .await?;
    Ok(r.status().as_u16())
}
