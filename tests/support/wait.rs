//! Readiness waits: poll a condition at a short interval until it holds,
//! and fail after a deadline naming what did not happen. The deadline is
//! only reached when something is broken, so it can be generous (a loaded
//! CI machine is slow, not wrong); a working run waits only as long as the
//! condition takes.

use std::time::Duration;

/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `ready` every [`POLL`] until it gives a value and returns it;
/// panics with "`what` did not happen within `deadline`" otherwise.
pub async fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut ready: impl AsyncFnMut() -> Option<T>,
) -> T {
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = ready().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "{what} did not happen within {deadline:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `ready` every [`POLL`] until it holds; panics with "`what` did
/// not happen within `deadline`" otherwise.
pub async fn wait_until(what: &str, deadline: Duration, mut ready: impl AsyncFnMut() -> bool) {
    wait_for(what, deadline, async || ready().await.then_some(())).await
}

/// [`wait_until`] for code without a runtime: blocks the thread between
/// polls.
pub fn wait_until_blocking(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + deadline;
    while !ready() {
        assert!(
            std::time::Instant::now() < end,
            "{what} did not happen within {deadline:?}"
        );
        std::thread::sleep(POLL);
    }
}
