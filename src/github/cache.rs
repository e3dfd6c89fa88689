//! Where the App keeps what GitHub told it that never changes: blobs by SHA and the index of a
//! commit by its SHA. The base and head of a pull request share what is unchanged, and a later
//! push fetches only what changed. The App keeps them in its database (bounded, least recently
//! used first out); [`MemoryCache`] is the same in memory.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A content-addressed cache: a key names its bytes for ever. Failures are misses: the caller
/// asks GitHub instead.
pub trait ObjectCache: Send + Sync {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
    fn put<'a>(&'a self, key: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, ()>;
}

/// [`ObjectCache`] in memory, at most `limit` bytes.
pub struct MemoryCache {
    limit: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, (Vec<u8>, u64)>,
    bytes: usize,
    tick: u64,
}

impl MemoryCache {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::default(),
        }
    }

    fn get_now(&self, key: &str) -> Option<Vec<u8>> {
        let mut lru = self.inner.lock().ok()?;
        lru.tick += 1;
        let tick = lru.tick;
        let (bytes, used) = lru.entries.get_mut(key)?;
        *used = tick;
        Some(bytes.clone())
    }

    fn put_now(&self, key: &str, bytes: &[u8]) {
        let Ok(mut lru) = self.inner.lock() else { return };
        if bytes.len() > self.limit || lru.entries.contains_key(key) {
            return;
        }
        while lru.bytes + bytes.len() > self.limit {
            let Some(oldest) = lru
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((gone, _)) = lru.entries.remove(&oldest) {
                lru.bytes -= gone.len();
            }
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.bytes += bytes.len();
        lru.entries.insert(key.to_owned(), (bytes.to_vec(), tick));
    }
}

impl ObjectCache for MemoryCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.get_now(key) })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.put_now(key, bytes) })
    }
}

/// The last ETag and bytes of each URL read conditionally, in memory: at most [`Etags::MAX`]
/// entries of at most [`Etags::MAX_BYTES`] each (small files: the registry at a branch).
#[derive(Default)]
pub struct Etags {
    inner: Mutex<HashMap<String, (String, Vec<u8>)>>,
}

impl Etags {
    pub const MAX: usize = 1024;
    pub const MAX_BYTES: usize = 1 << 20;

    pub fn get(&self, url: &str) -> Option<(String, Vec<u8>)> {
        self.inner.lock().ok()?.get(url).cloned()
    }

    pub fn put(&self, url: String, etag: String, bytes: &[u8]) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if bytes.len() > Self::MAX_BYTES {
            return;
        }
        if inner.len() >= Self::MAX && !inner.contains_key(&url) {
            // Full: start again (the next reads are plain GETs, then conditional again).
            inner.clear();
        }
        inner.insert(url, (etag, bytes.to_vec()));
    }
}
