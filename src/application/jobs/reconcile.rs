//! Deliveries missed while the App was down or unreachable: GitHub keeps them as failed and
//! does not send them again by itself. At start and periodically the App lists its recent
//! failed deliveries and asks again for each event (`guid`) it never stored. Idempotent across
//! replicas: a delivery stored twice is acknowledged once.

use std::collections::BTreeSet;

use super::db::Store;
use crate::github::{GitHub, GitHubError};

/// Asks GitHub to redeliver every recent failed delivery whose event this store never stored;
/// returns how many were asked for.
pub async fn redeliver_missed(github: &GitHub, store: &Store) -> Result<usize, GitHubError> {
    let mut asked = BTreeSet::new();
    for d in github.failed_deliveries().await? {
        // What the App refused on purpose (bad signature, too large, unparseable) stays refused.
        let refused = (400..500).contains(&d.status_code) && !matches!(d.status_code, 408 | 429);
        if refused || asked.contains(&d.guid) {
            continue;
        }
        match store.has_delivery(&d.guid).await {
            Ok(false) => {}
            Ok(true) => continue,
            Err(e) => {
                tracing::warn!("cannot read the deliveries: {e}; redelivery sweep stopped");
                break;
            }
        }
        tracing::info!(guid = %d.guid, event = %d.event, status = d.status_code, "redelivering a missed delivery");
        // One that cannot be redelivered (too old, say) does not stop the others.
        match github.redeliver(d.id).await {
            Ok(()) => {
                asked.insert(d.guid);
            }
            Err(e) => tracing::warn!(guid = %d.guid, "cannot redeliver: {e}"),
        }
    }
    Ok(asked.len())
}
