//! Reading a webhook body under a shared byte budget. A body must be buffered whole before its
//! signature can be checked, so what unauthenticated requests can make the server hold is
//! bounded twice: each body by GitHub's 25 MB cap, and all bodies being read at once by one
//! budget of bytes (a semaphore). A request that cannot get budget within a few seconds is
//! refused (503 with Retry-After) without its body being read; a body that does not arrive
//! within the read limit is dropped, so a slow sender cannot sit on budget.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// GitHub caps webhook payloads at 25 MB; a larger body is refused before or while it is read.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
/// Bytes of request bodies buffered at once, by all requests together.
pub const BODY_BUDGET_BYTES: usize = 32 * 1024 * 1024;
/// How long a request waits for budget before it is refused with 503.
pub const BUDGET_WAIT: Duration = Duration::from_secs(5);
/// How long a whole body may take to arrive (GitHub itself gives up on a delivery after 10 s).
pub const BODY_READ_LIMIT: Duration = Duration::from_secs(20);

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the server is reading too many bodies at once; retry later")]
    Busy,
    #[error("the body did not arrive within {0:?}")]
    TooSlow(Duration),
    #[error("cannot read the body: {0}")]
    Read(#[from] axum::Error),
}

/// The shared budget of body bytes.
#[derive(Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    max_body: usize,
    wait: Duration,
    read_limit: Duration,
}

impl Default for BodyBudget {
    fn default() -> Self {
        Self::new(BODY_BUDGET_BYTES, MAX_BODY_BYTES, BUDGET_WAIT, BODY_READ_LIMIT)
    }
}

/// A body read whole, holding its share of the budget until dropped.
pub struct BufferedBody {
    pub bytes: Bytes,
    _budget: OwnedSemaphorePermit,
}

impl BodyBudget {
    /// `total` bytes shared by all bodies (at least `max_body`, so every allowed body can fit).
    pub fn new(total: usize, max_body: usize, wait: Duration, read_limit: Duration) -> Self {
        let total = total.max(max_body).min(u32::MAX as usize);
        BodyBudget {
            bytes: Arc::new(Semaphore::new(total)),
            max_body: max_body.min(total),
            wait,
            read_limit,
        }
    }

    /// Bytes of budget free now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// `n` more bytes of budget, waiting until `until` at the latest. Not first-come first-served
    /// on purpose: a small delivery gets budget whenever there is room, even while a large body
    /// waits for more than is free.
    async fn take(&self, n: usize, until: Instant) -> Result<OwnedSemaphorePermit, BodyError> {
        let n = u32::try_from(n).map_err(|_| BodyError::TooLarge { limit: self.max_body })?;
        loop {
            if let Ok(permit) = Arc::clone(&self.bytes).try_acquire_many_owned(n) {
                return Ok(permit);
            }
            if Instant::now() >= until {
                return Err(BodyError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Reads `body` (of `declared` length, when the request says) whole, within the budget: the
    /// declared length is taken before anything is read, a body without one takes budget as its
    /// buffer grows.
    pub async fn read(&self, mut body: Body, declared: Option<u64>) -> Result<BufferedBody, BodyError> {
        let too_large = BodyError::TooLarge { limit: self.max_body };
        let declared = match declared.map(usize::try_from) {
            Some(Ok(n)) if n <= self.max_body => Some(n),
            Some(_) => return Err(too_large),
            None => None,
        };
        let started = Instant::now();
        let mut held = self.take(declared.unwrap_or(0), started + self.wait).await?;
        let mut buffer: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0));
        let read_until = Instant::now() + self.read_limit;
        loop {
            let frame = tokio::time::timeout_at(read_until, poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)))
                .await
                .map_err(|_| BodyError::TooSlow(self.read_limit))?;
            let Some(frame) = frame.transpose()? else {
                break;
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let needed = buffer.len() + data.len();
            if needed > self.max_body {
                return Err(too_large);
            }
            if needed > buffer.capacity() {
                // Grow by doubling (within the cap), with the budget for the whole new buffer.
                let capacity = needed.max(buffer.capacity() * 2).min(self.max_body);
                if capacity > held.num_permits() {
                    held.merge(
                        self.take(capacity - held.num_permits(), Instant::now() + self.wait)
                            .await?,
                    );
                }
                buffer.reserve_exact(capacity - buffer.len());
            }
            buffer.extend_from_slice(&data);
        }
        Ok(BufferedBody {
            bytes: Bytes::from(buffer),
            _budget: held,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(total: usize, max_body: usize) -> BodyBudget {
        BodyBudget::new(total, max_body, Duration::from_millis(100), Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_body_is_read_whole_and_gives_its_budget_back() {
        let b = budget(1000, 100);
        let read = b.read(Body::from("hello"), Some(5)).await.unwrap();
        assert_eq!(&read.bytes[..], b"hello");
        assert_eq!(b.available(), 995);
        drop(read);
        assert_eq!(b.available(), 1000);
        let chunked = b.read(Body::from(vec![b'x'; 80]), None).await.unwrap();
        assert_eq!(chunked.bytes.len(), 80);
    }

    #[tokio::test]
    async fn over_the_cap_is_too_large_declared_or_not() {
        let b = budget(1000, 100);
        let declared = b.read(Body::from("x"), Some(101)).await;
        assert!(matches!(declared, Err(BodyError::TooLarge { limit: 100 })));
        let undeclared = b.read(Body::from(vec![b'x'; 101]), None).await;
        assert!(matches!(undeclared, Err(BodyError::TooLarge { limit: 100 })));
        assert_eq!(b.available(), 1000);
    }

    #[tokio::test]
    async fn without_budget_a_body_is_busy_and_a_small_one_still_fits() {
        let b = budget(150, 100);
        let held = b.read(Body::from(vec![b'x'; 100]), Some(100)).await.unwrap();
        let big = b.read(Body::from(vec![b'x'; 100]), Some(100)).await;
        assert!(matches!(big, Err(BodyError::Busy)));
        let small = b.read(Body::from(vec![b'x'; 40]), Some(40)).await.unwrap();
        assert_eq!(small.bytes.len(), 40);
        drop(held);
    }
}
