//! A byte bound shared between threads: what producers sent and the consumer has not yet
//! taken. The device's event channel and the recorder's writer queue are bounded by it, so a
//! queue of large frames holds a known amount of memory whatever its item count.
//!
//! One item is always admitted when nothing is charged, so a frame larger than the bound still
//! gets through. A producer may wait for room; closing the budget (the consumer is gone) wakes
//! every waiter and refuses from then on.

use std::sync::{Condvar, Mutex, MutexGuard};

pub(crate) struct ByteBudget {
    limit: usize,
    state: Mutex<BudgetState>,
    freed: Condvar,
}

struct BudgetState {
    used: usize,
    closed: bool,
}

impl ByteBudget {
    pub(crate) fn new(limit: usize) -> Self {
        ByteBudget {
            limit,
            state: Mutex::new(BudgetState {
                used: 0,
                closed: false,
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Charges `bytes` if they fit (or nothing is charged yet); with `wait`, waits for room
    /// until the consumer frees some or closes. Returns whether the bytes were charged.
    pub(crate) fn take(&self, bytes: usize, wait: bool) -> bool {
        let mut st = self.lock();
        loop {
            if st.closed {
                return false;
            }
            if st.used == 0 || st.used.saturating_add(bytes) <= self.limit {
                st.used = st.used.saturating_add(bytes);
                return true;
            }
            if !wait {
                return false;
            }
            st = self.freed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(crate) fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            let mut st = self.lock();
            st.used = st.used.saturating_sub(bytes);
            self.freed.notify_all();
        }
    }

    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.freed.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.lock().used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_byte_budget_admits_what_fits_and_always_one_item_into_an_empty_queue() {
        let budget = ByteBudget::new(10);
        assert!(
            budget.take(25, false),
            "an empty queue takes even an oversized item"
        );
        assert!(!budget.take(1, false), "nothing more fits");
        budget.give_back(25);
        assert!(budget.take(6, false));
        assert!(budget.take(4, false));
        assert!(!budget.take(1, false));
        assert_eq!(budget.used(), 10);
    }

    #[test]
    fn a_closed_budget_wakes_a_waiting_sender_and_refuses() {
        let budget = Arc::new(ByteBudget::new(10));
        assert!(budget.take(10, true));
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.take(5, true))
        };
        budget.close();
        assert!(matches!(waiter.join(), Ok(false)));
        assert!(budget.is_closed());
    }
}
