//! Who runs fleetflow: the name a lock records as its holder.

/// `user@host` of whoever runs fleetflow (the GitHub actor in Actions): a deploy lock's or the
/// infrastructure state lock's holder.
pub fn who_am_i() -> String {
    let user = ["GITHUB_ACTOR", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let user = user.unwrap_or_else(|| "unknown".into());
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}
