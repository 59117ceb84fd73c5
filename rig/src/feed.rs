//! The hand-over of per-frame device timestamps from an agent's recorder thread to the task
//! that publishes them ([`crate::msg::Frames`]).
//!
//! The recorder thread must never wait for the network, so it only appends to a bounded
//! backlog and wakes the publisher; what does not fit (a publisher stuck for
//! [`BACKLOG`] images) is counted as skipped, never queued without bound.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::msg::Frames;

/// Timestamps kept for the publisher at most (about 4 s of both streams at 30 fps).
pub const BACKLOG: usize = 256;

#[derive(Debug, Default)]
struct Backlog {
    take: String,
    segment: u32,
    colour: Vec<u64>,
    depth: Vec<u64>,
    skipped: u64,
}

/// One recording's timestamps on their way out; shared by the recorder thread and the
/// publisher.
#[derive(Debug, Default)]
pub struct FrameFeed {
    backlog: Mutex<Backlog>,
    ready: Notify,
}

impl FrameFeed {
    fn backlog(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a take's segment: what is left of the previous one is discarded.
    pub fn begin(&self, take: &str, segment: u32) {
        *self.backlog() = Backlog {
            take: take.to_string(),
            segment,
            ..Backlog::default()
        };
    }

    /// The images just handed to the writer (either may be absent).
    pub fn push(&self, colour: Option<u64>, depth: Option<u64>) {
        if colour.is_none() && depth.is_none() {
            return;
        }
        {
            let mut b = self.backlog();
            for (ts, list) in [(colour, 0), (depth, 1)] {
                let Some(ts) = ts else { continue };
                if b.colour.len() + b.depth.len() >= BACKLOG {
                    b.skipped += 1;
                } else if list == 0 {
                    b.colour.push(ts);
                } else {
                    b.depth.push(ts);
                }
            }
        }
        self.ready.notify_one();
    }

    /// Waits until something was pushed since the last [`FrameFeed::take`].
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// What was pushed since the last call, as the message `name` publishes; `None` when
    /// nothing was.
    pub fn take(&self, name: &str) -> Option<Frames> {
        let mut b = self.backlog();
        if b.colour.is_empty() && b.depth.is_empty() {
            return None;
        }
        Some(Frames {
            name: name.to_string(),
            take: b.take.clone(),
            segment: b.segment,
            colour_usec: std::mem::take(&mut b.colour),
            depth_usec: std::mem::take(&mut b.depth),
            skipped: b.skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_stamps_come_out_once_in_order_and_overflow_is_counted() {
        let feed = FrameFeed::default();
        feed.begin("t1", 0);
        assert_eq!(feed.take("a"), None);
        feed.push(Some(100), Some(107));
        feed.push(Some(33_433), None);
        feed.push(None, None);
        let f = feed.take("a").unwrap();
        assert_eq!(
            (f.take.as_str(), f.colour_usec, f.depth_usec, f.skipped),
            ("t1", vec![100, 33_433], vec![107], 0)
        );
        assert_eq!(feed.take("a"), None);
        for i in 0..BACKLOG as u64 + 5 {
            feed.push(Some(i), None);
        }
        let f = feed.take("a").unwrap();
        assert_eq!((f.colour_usec.len(), f.skipped), (BACKLOG, 5));
        feed.begin("t1", 1);
        feed.push(None, Some(9));
        let f = feed.take("a").unwrap();
        assert_eq!((f.segment, f.depth_usec, f.skipped), (1, vec![9], 0));
    }
}
