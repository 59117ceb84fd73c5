//! The camera's bulk endpoints by role and what can go wrong on one transfer (reference §1.2,
//! §3.5). A leaf module: the transports, the error type and the transcript all name endpoints
//! and transfer failures, so these two types depend on nothing else in the crate (as nusb
//! keeps its `transfer` module free of its error type), and `crate::error` can carry them
//! without an import cycle.

use std::time::Duration;

pub use k4sync_core::wire::usb::Endpoint;

/// What can go wrong on one transfer. Timeouts are recoverable on streams (§3.5); the others
/// end the transfer for good.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferError {
    #[error("{endpoint}: transfer timed out after {timeout:?}")]
    Timeout {
        endpoint: Endpoint,
        timeout: Duration,
    },
    #[error("{endpoint}: endpoint stalled")]
    Stall { endpoint: Endpoint },
    #[error("{endpoint}: device is gone (unplugged or reset)")]
    Disconnected { endpoint: Endpoint },
    #[error("{endpoint}: device sent {got} bytes into a {capacity}-byte transfer")]
    Overflow {
        endpoint: Endpoint,
        capacity: usize,
        got: usize,
    },
    #[error("{endpoint}: I/O error: {message}")]
    Io { endpoint: Endpoint, message: String },
}

impl TransferError {
    /// The endpoint the failed transfer was on.
    pub fn endpoint(&self) -> Endpoint {
        match self {
            TransferError::Timeout { endpoint, .. }
            | TransferError::Stall { endpoint }
            | TransferError::Disconnected { endpoint }
            | TransferError::Overflow { endpoint, .. }
            | TransferError::Io { endpoint, .. } => *endpoint,
        }
    }

    /// The kind of failure as one word: `timeout`, `stall`, `disconnected`, `overflow`, `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            TransferError::Timeout { .. } => "timeout",
            TransferError::Stall { .. } => "stall",
            TransferError::Disconnected { .. } => "disconnected",
            TransferError::Overflow { .. } => "overflow",
            TransferError::Io { .. } => "io",
        }
    }

    /// Whether the transfer may simply be re-armed (§3.5: only timeouts are).
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransferError::Timeout { .. })
    }
}
