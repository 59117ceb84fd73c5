//! Record and replay of one camera's USB traffic (reference §1.2, §2.3).
//!
//! [`RecordingTransport`] wraps any [`Transport`] and logs every call — endpoint, direction,
//! the bytes that moved and the result — into a [`Transcript`]; [`Transcript::to_bytes`]
//! saves it as a small postcard file (`.k4t`). [`ReplayTransport`] serves a transcript back
//! to the host code that produced it, without a camera, and fails loudly the moment the host
//! does something else: a different call, endpoint, OUT payload or IN transfer size is a
//! [`ReplayError`] naming the call index, after which every call fails. A session captured
//! once on hardware (or on the emulator) thus becomes a regression test of the host's byte
//! sequence.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Endpoint, TransferError, Transport};

/// First bytes of a saved transcript.
pub const MAGIC: [u8; 4] = *b"K4T\x01";

/// Format version of the postcard body after [`MAGIC`].
pub const VERSION: u32 = 1;

/// An [`Endpoint`] as stored in a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndpointId {
    DepthCommandOut,
    DepthResponseIn,
    DepthStreamIn,
    ColourCommandOut,
    ColourResponseIn,
    ImuStreamIn,
    /// The colour video stream (UVC); appended last so older transcripts keep their indices.
    ColourVideo,
}

impl EndpointId {
    /// Every bulk endpoint, in storage order (the colour video stream has no max packet size).
    pub const ALL: [EndpointId; 6] = [
        EndpointId::DepthCommandOut,
        EndpointId::DepthResponseIn,
        EndpointId::DepthStreamIn,
        EndpointId::ColourCommandOut,
        EndpointId::ColourResponseIn,
        EndpointId::ImuStreamIn,
    ];
}

impl From<Endpoint> for EndpointId {
    fn from(endpoint: Endpoint) -> Self {
        match endpoint {
            Endpoint::DepthCommandOut => EndpointId::DepthCommandOut,
            Endpoint::DepthResponseIn => EndpointId::DepthResponseIn,
            Endpoint::DepthStreamIn => EndpointId::DepthStreamIn,
            Endpoint::ColourCommandOut => EndpointId::ColourCommandOut,
            Endpoint::ColourResponseIn => EndpointId::ColourResponseIn,
            Endpoint::ImuStreamIn => EndpointId::ImuStreamIn,
            Endpoint::ColourVideo => EndpointId::ColourVideo,
        }
    }
}

impl From<EndpointId> for Endpoint {
    fn from(id: EndpointId) -> Self {
        match id {
            EndpointId::DepthCommandOut => Endpoint::DepthCommandOut,
            EndpointId::DepthResponseIn => Endpoint::DepthResponseIn,
            EndpointId::DepthStreamIn => Endpoint::DepthStreamIn,
            EndpointId::ColourCommandOut => Endpoint::ColourCommandOut,
            EndpointId::ColourResponseIn => Endpoint::ColourResponseIn,
            EndpointId::ImuStreamIn => Endpoint::ImuStreamIn,
            EndpointId::ColourVideo => Endpoint::ColourVideo,
        }
    }
}

/// A [`TransferError`] as stored in a transcript (the endpoint is the call's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordedError {
    Timeout { timeout: Duration },
    Stall,
    Disconnected,
    Overflow { capacity: usize, got: usize },
    Io { message: String },
}

impl RecordedError {
    fn from_transfer(error: &TransferError) -> Self {
        match error {
            TransferError::Timeout { timeout, .. } => RecordedError::Timeout { timeout: *timeout },
            TransferError::Stall { .. } => RecordedError::Stall,
            TransferError::Disconnected { .. } => RecordedError::Disconnected,
            TransferError::Overflow { capacity, got, .. } => RecordedError::Overflow {
                capacity: *capacity,
                got: *got,
            },
            TransferError::Io { message, .. } => RecordedError::Io {
                message: message.clone(),
            },
        }
    }

    fn to_transfer(&self, endpoint: Endpoint) -> TransferError {
        match self {
            RecordedError::Timeout { timeout } => TransferError::Timeout {
                endpoint,
                timeout: *timeout,
            },
            RecordedError::Stall => TransferError::Stall { endpoint },
            RecordedError::Disconnected => TransferError::Disconnected { endpoint },
            RecordedError::Overflow { capacity, got } => TransferError::Overflow {
                endpoint,
                capacity: *capacity,
                got: *got,
            },
            RecordedError::Io { message } => TransferError::Io {
                endpoint,
                message: message.clone(),
            },
        }
    }
}

/// One transport call and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    /// A bulk OUT transfer of `data`.
    BulkOut {
        endpoint: EndpointId,
        data: Vec<u8>,
        result: Result<(), RecordedError>,
    },
    /// A bulk IN transfer into a `capacity`-byte buffer, and the bytes that arrived.
    BulkIn {
        endpoint: EndpointId,
        capacity: usize,
        result: Result<Vec<u8>, RecordedError>,
    },
}

impl Call {
    pub fn endpoint(&self) -> EndpointId {
        match self {
            Call::BulkOut { endpoint, .. } | Call::BulkIn { endpoint, .. } => *endpoint,
        }
    }

    fn direction(&self) -> &'static str {
        match self {
            Call::BulkOut { .. } => "bulk OUT",
            Call::BulkIn { .. } => "bulk IN",
        }
    }
}

/// A recorded session of one camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    pub usb_serial: String,
    /// wMaxPacketSize of every endpoint when the recording started.
    pub max_packet_sizes: Vec<(EndpointId, usize)>,
    pub calls: Vec<Call>,
}

/// A transcript file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscriptError {
    #[error("not a k4sync transcript: the file does not start with \"K4T\\x01\"")]
    BadMagic,
    #[error("transcript format version {found}, this build reads version {VERSION}")]
    UnsupportedVersion { found: u32 },
    #[error("transcript body: {0}")]
    Postcard(#[from] postcard::Error),
}

#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    version: u32,
    transcript: T,
}

impl Transcript {
    /// [`MAGIC`], then the postcard encoding of the format version and the transcript.
    pub fn to_bytes(&self) -> Result<Vec<u8>, TranscriptError> {
        let body = postcard::to_stdvec(&Versioned {
            version: VERSION,
            transcript: self,
        })?;
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TranscriptError> {
        let body = bytes
            .strip_prefix(&MAGIC[..])
            .ok_or(TranscriptError::BadMagic)?;
        let (version, rest): (u32, &[u8]) = postcard::take_from_bytes(body)?;
        if version != VERSION {
            return Err(TranscriptError::UnsupportedVersion { found: version });
        }
        let (transcript, _) = postcard::take_from_bytes(rest)?;
        Ok(transcript)
    }
}

/// Any transport, with every call logged.
#[derive(Debug)]
pub struct RecordingTransport<T: Transport> {
    inner: T,
    transcript: Transcript,
}

impl<T: Transport> RecordingTransport<T> {
    /// Starts recording `inner`, noting its serial and every endpoint's max packet size.
    pub fn new(inner: T) -> Self {
        let transcript = Transcript {
            usb_serial: inner.usb_serial().to_owned(),
            max_packet_sizes: EndpointId::ALL
                .iter()
                .map(|&id| (id, inner.max_packet_size(id.into())))
                .collect(),
            calls: Vec::new(),
        };
        RecordingTransport { inner, transcript }
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    pub fn into_parts(self) -> (T, Transcript) {
        (self.inner, self.transcript)
    }
}

impl<T: Transport> Transport for RecordingTransport<T> {
    fn usb_serial(&self) -> &str {
        self.inner.usb_serial()
    }

    fn bulk_out(
        &mut self,
        endpoint: Endpoint,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(), TransferError> {
        let result = self.inner.bulk_out(endpoint, data, timeout);
        self.transcript.calls.push(Call::BulkOut {
            endpoint: endpoint.into(),
            data: data.to_vec(),
            result: result
                .as_ref()
                .map(|_| ())
                .map_err(RecordedError::from_transfer),
        });
        result
    }

    fn max_packet_size(&self, endpoint: Endpoint) -> usize {
        self.inner.max_packet_size(endpoint)
    }

    fn bulk_in(
        &mut self,
        endpoint: Endpoint,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransferError> {
        let result = self.inner.bulk_in(endpoint, buf, timeout);
        let recorded = match &result {
            Ok(n) => Ok(buf.get(..*n).unwrap_or(buf).to_vec()),
            Err(e) => Err(RecordedError::from_transfer(e)),
        };
        self.transcript.calls.push(Call::BulkIn {
            endpoint: endpoint.into(),
            capacity: buf.len(),
            result: recorded,
        });
        result
    }
}

/// How a host diverged from the transcript it replays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error(
        "call {index}: the host made a {got} on {endpoint:?} after the transcript's last call"
    )]
    Exhausted {
        index: usize,
        got: &'static str,
        endpoint: EndpointId,
    },
    #[error("call {index}: the host made a {got} on {got_endpoint:?}, the transcript has a {expected} on {expected_endpoint:?}")]
    WrongCall {
        index: usize,
        expected: &'static str,
        expected_endpoint: EndpointId,
        got: &'static str,
        got_endpoint: EndpointId,
    },
    #[error("call {index}: bulk OUT on {endpoint:?} sent {got_len} bytes differing from the transcript's {expected_len} from byte {first_difference}")]
    OutBytes {
        index: usize,
        endpoint: EndpointId,
        first_difference: usize,
        expected_len: usize,
        got_len: usize,
    },
    #[error("call {index}: bulk IN on {endpoint:?} into {got} bytes, the transcript's transfer held {expected}")]
    InCapacity {
        index: usize,
        endpoint: EndpointId,
        expected: usize,
        got: usize,
    },
    #[error("{left} transcript call(s) were never made, from call {index}")]
    Unfinished { index: usize, left: usize },
}

/// A transport that plays a [`Transcript`] back.
///
/// A divergence is reported through the trait as [`TransferError::Io`] carrying the
/// [`ReplayError`]'s text, kept as [`divergence`](Self::divergence), and logged; every
/// later call fails the same way.
#[derive(Debug, Clone)]
pub struct ReplayTransport {
    transcript: Transcript,
    next: usize,
    divergence: Option<ReplayError>,
}

impl ReplayTransport {
    pub fn new(transcript: Transcript) -> Self {
        ReplayTransport {
            transcript,
            next: 0,
            divergence: None,
        }
    }

    /// The first divergence, if the host strayed from the transcript.
    pub fn divergence(&self) -> Option<&ReplayError> {
        self.divergence.as_ref()
    }

    /// Calls served so far.
    pub fn position(&self) -> usize {
        self.next
    }

    /// Whether every call was made and none diverged.
    pub fn finish(&self) -> Result<(), ReplayError> {
        if let Some(e) = &self.divergence {
            return Err(e.clone());
        }
        let left = self.transcript.calls.len().saturating_sub(self.next);
        if left > 0 {
            return Err(ReplayError::Unfinished {
                index: self.next,
                left,
            });
        }
        Ok(())
    }

    fn diverge(&mut self, endpoint: Endpoint, error: ReplayError) -> TransferError {
        log::error!("transcript replay diverged: {error}");
        let message = error.to_string();
        self.divergence.get_or_insert(error);
        TransferError::Io { endpoint, message }
    }

    /// The next call of the transcript, checked against what the host does.
    fn expect(&mut self, endpoint: Endpoint, got: &'static str) -> Result<Call, TransferError> {
        if let Some(e) = &self.divergence {
            return Err(TransferError::Io {
                endpoint,
                message: e.to_string(),
            });
        }
        let index = self.next;
        let Some(call) = self.transcript.calls.get(index).cloned() else {
            let error = ReplayError::Exhausted {
                index,
                got,
                endpoint: endpoint.into(),
            };
            return Err(self.diverge(endpoint, error));
        };
        if call.direction() != got || call.endpoint() != EndpointId::from(endpoint) {
            let error = ReplayError::WrongCall {
                index,
                expected: call.direction(),
                expected_endpoint: call.endpoint(),
                got,
                got_endpoint: endpoint.into(),
            };
            return Err(self.diverge(endpoint, error));
        }
        self.next += 1;
        Ok(call)
    }
}

impl Transport for ReplayTransport {
    fn usb_serial(&self) -> &str {
        &self.transcript.usb_serial
    }

    fn bulk_out(
        &mut self,
        endpoint: Endpoint,
        data: &[u8],
        _timeout: Duration,
    ) -> Result<(), TransferError> {
        let index = self.next;
        let Call::BulkOut {
            data: expected,
            result,
            ..
        } = self.expect(endpoint, "bulk OUT")?
        else {
            return Err(TransferError::Io {
                endpoint,
                message: format!("call {index}: transcript call changed kind"),
            });
        };
        if expected != data {
            let first_difference = expected
                .iter()
                .zip(data)
                .position(|(a, b)| a != b)
                .unwrap_or(expected.len().min(data.len()));
            let error = ReplayError::OutBytes {
                index,
                endpoint: endpoint.into(),
                first_difference,
                expected_len: expected.len(),
                got_len: data.len(),
            };
            return Err(self.diverge(endpoint, error));
        }
        result.map_err(|e| e.to_transfer(endpoint))
    }

    fn max_packet_size(&self, endpoint: Endpoint) -> usize {
        let id = EndpointId::from(endpoint);
        self.transcript
            .max_packet_sizes
            .iter()
            .find(|(e, _)| *e == id)
            .map_or(1024, |(_, size)| *size)
    }

    fn bulk_in(
        &mut self,
        endpoint: Endpoint,
        buf: &mut [u8],
        _timeout: Duration,
    ) -> Result<usize, TransferError> {
        let index = self.next;
        let Call::BulkIn {
            capacity, result, ..
        } = self.expect(endpoint, "bulk IN")?
        else {
            return Err(TransferError::Io {
                endpoint,
                message: format!("call {index}: transcript call changed kind"),
            });
        };
        if capacity != buf.len() {
            let error = ReplayError::InCapacity {
                index,
                endpoint: endpoint.into(),
                expected: capacity,
                got: buf.len(),
            };
            return Err(self.diverge(endpoint, error));
        }
        let data = result.map_err(|e| e.to_transfer(endpoint))?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Endpoint::from(*self), f)
    }
}
