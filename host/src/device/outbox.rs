//! The channel from a device's reader threads to [`super::Device::next_capture`], bounded in
//! events ([`EVENT_QUEUE_LEN`]) and in image bytes ([`EVENT_QUEUE_BYTES`]).
//!
//! A real-time reader whose caller falls behind drops the frame that does not fit and counts
//! it: the camera does not wait. A reader on a virtual-time transport (the emulator) waits for
//! room instead, so simulated time never outruns the caller and nothing is dropped, within a
//! smaller byte bound (one frame always fits an empty queue).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use super::RawEvent;
use crate::budget::ByteBudget;
use crate::transport::Endpoint;

/// Events the readers may queue ahead of [`super::Device::next_capture`].
pub const EVENT_QUEUE_LEN: usize = 64;
/// Image bytes those events may hold: six NFOV raw depth frames.
pub const EVENT_QUEUE_BYTES: usize = 32 << 20;
/// The same bound when the readers wait instead of drop: a deeper queue would only hold
/// memory, since the clock waits for the caller anyway; one NFOV raw depth frame and one 2160p
/// MJPG frame fit.
pub const WAITING_QUEUE_BYTES: usize = 8 << 20;

/// Image bytes an event carries.
fn event_bytes(event: &RawEvent) -> usize {
    match event {
        RawEvent::Depth(frame) => frame.data.len(),
        RawEvent::Colour(image) => image.data.len(),
        _ => 0,
    }
}

/// The readers' end of the channel; cloned into every reader thread.
#[derive(Clone)]
pub(super) struct Outbox {
    tx: SyncSender<RawEvent>,
    blocking: bool,
    full: Arc<AtomicU64>,
    budget: Arc<ByteBudget>,
}

/// The caller's end: every event received through it gives its bytes back to the budget.
pub(super) struct Inbox {
    rx: Receiver<RawEvent>,
    budget: Arc<ByteBudget>,
}

/// A bounded channel; `blocking` (virtual time) makes a full one wait instead of drop.
pub(super) fn channel(blocking: bool) -> (Outbox, Inbox) {
    let (tx, rx) = sync_channel(EVENT_QUEUE_LEN);
    let limit = if blocking {
        WAITING_QUEUE_BYTES
    } else {
        EVENT_QUEUE_BYTES
    };
    let budget = Arc::new(ByteBudget::new(limit));
    let outbox = Outbox {
        tx,
        blocking,
        full: Arc::new(AtomicU64::new(0)),
        budget: Arc::clone(&budget),
    };
    (outbox, Inbox { rx, budget })
}

impl Outbox {
    /// False once the device is gone.
    pub(super) fn send(&self, event: RawEvent) -> bool {
        let bytes = event_bytes(&event);
        if !self.budget.take(bytes, self.blocking) {
            if self.budget.is_closed() {
                return false;
            }
            self.full.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if self.blocking {
            let sent = self.tx.send(event).is_ok();
            if !sent {
                self.budget.give_back(bytes);
            }
            return sent;
        }
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.budget.give_back(bytes);
                self.full.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => {
                self.budget.give_back(bytes);
                false
            }
        }
    }

    pub(super) fn drop_event(&self, endpoint: Endpoint, reason: super::DropReason) -> bool {
        self.send(RawEvent::Dropped { endpoint, reason })
    }

    /// Events a real-time reader dropped because the channel was full.
    pub(super) fn dropped_full(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }
}

impl Inbox {
    pub(super) fn recv_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> Result<RawEvent, std::sync::mpsc::RecvTimeoutError> {
        let event = self.rx.recv_timeout(timeout)?;
        self.budget.give_back(event_bytes(&event));
        Ok(event)
    }

    #[cfg(test)]
    fn try_recv(&self) -> Option<RawEvent> {
        let event = self.rx.try_recv().ok()?;
        self.budget.give_back(event_bytes(&event));
        Some(event)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.budget.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::RawDepthFrame;
    use k4sync_core::time::{Ticks90k, Usec};
    use k4sync_core::types::DepthMode;
    use std::time::Duration;

    fn depth_event(len: usize) -> RawEvent {
        RawEvent::Depth(RawDepthFrame {
            data: vec![0; len],
            mode: DepthMode::NfovUnbinned,
            device_ticks: Ticks90k(0),
            device_ts_usec: Usec(0),
            sensor_temperature_celsius: 30.0,
            host_ns: 0,
        })
    }

    const FRAME: usize = 6 << 20;

    #[test]
    fn a_real_time_outbox_drops_frames_past_its_byte_bound_and_frees_them_when_taken() {
        let (outbox, inbox) = channel(false);
        let fit = EVENT_QUEUE_BYTES / FRAME;
        for _ in 0..fit + 2 {
            assert!(outbox.send(depth_event(FRAME)));
        }
        assert_eq!(outbox.dropped_full(), 2);
        assert_eq!(outbox.budget.used(), fit * FRAME);
        assert!(inbox.try_recv().is_some());
        assert!(outbox.send(depth_event(FRAME)));
        assert_eq!(outbox.dropped_full(), 2, "room again after one was taken");
        while inbox.try_recv().is_some() {}
        assert_eq!(outbox.budget.used(), 0);
        assert!(
            outbox.send(depth_event(EVENT_QUEUE_BYTES * 2)),
            "one frame fits an empty queue"
        );
        assert_eq!(outbox.dropped_full(), 2);
    }

    #[test]
    fn a_virtual_time_outbox_waits_at_its_byte_bound_and_drops_nothing() {
        let (outbox, inbox) = channel(true);
        let fit = WAITING_QUEUE_BYTES / FRAME;
        let sender = outbox.clone();
        let sending = std::thread::spawn(move || {
            for _ in 0..fit + 3 {
                assert!(sender.send(depth_event(FRAME)));
            }
        });
        while outbox.budget.used() < fit * FRAME {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(!sending.is_finished(), "the sender waits for room");
        assert_eq!(
            outbox.budget.used(),
            fit * FRAME,
            "never more than the bound"
        );
        let mut received = 0;
        while received < fit + 3 {
            let event = inbox.recv_timeout(Duration::from_secs(5));
            assert!(event.is_ok(), "frame {received} never came");
            assert!(outbox.budget.used() <= WAITING_QUEUE_BYTES);
            received += 1;
        }
        assert!(sending.join().is_ok());
        assert_eq!(outbox.dropped_full(), 0);
        assert_eq!(outbox.budget.used(), 0);
    }

    #[test]
    fn a_virtual_time_sender_learns_that_the_device_is_gone_even_while_waiting() {
        let (outbox, inbox) = channel(true);
        assert!(outbox.send(depth_event(WAITING_QUEUE_BYTES)));
        let sender = outbox.clone();
        let waiting = std::thread::spawn(move || sender.send(depth_event(FRAME)));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiting.is_finished(), "the sender waits for room");
        drop(inbox);
        assert!(matches!(waiting.join(), Ok(false)));
        assert!(!outbox.send(depth_event(FRAME)));
    }
}
