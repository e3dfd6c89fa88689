use super::*;

#[test]
fn cache_refreshes_before_expiry() {
    let mut cache = TokenCache::default();
    cache.put(
        7,
        InstallationToken {
            token: Secret::new("t"),
            expires_at: 10_000,
        },
    );
    assert!(cache.get(7, 10_000 - TOKEN_REFRESH_MARGIN_SECS - 1).is_some());
    assert!(cache.get(7, 10_000 - TOKEN_REFRESH_MARGIN_SECS).is_none());
    assert!(cache.get(8, 0).is_none());
}
