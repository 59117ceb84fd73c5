//! IMU packets from the colour/IMU MCU's stream endpoint (EP 0x82, reference §4.4).
//!
//! A packet is a 28-byte header followed by `G` gyro records and then `A` accelerometer
//! records, 14 bytes each. The host reads it in 252-byte transfers (8 + 8 samples at most).
//! [`ImuPacket`] is the zero-copy view: `new_checked` applies the host's length rules once
//! (header, then gyro block, then accel block; trailing bytes ignored) with checked arithmetic,
//! because `G` and `A` are device-supplied `u32`s. Records are read lazily by iterators that
//! never allocate, and [`ImuPacket::samples`] pairs `gyro[i]` with `accel[i]` for
//! `i < min(G, A)` exactly as the SDK does.
//!
//! Unit conversions reproduce the SDK's single-precision arithmetic in its evaluation order so
//! that our values are bit-identical to what `k4a_device_get_imu_sample` returns before
//! calibration. [`ImuStartupFilter`] is the SDK's rule for dropping samples stamped before
//! the colour start reset the device clock.

use core::iter::Zip;
use core::slice::ChunksExact;

use crate::error::{Result, WireError};
use crate::time::{Ticks90k, Usec};
use crate::wire::field::{check_len, get, i16_le, room, set, set_i16_le};

const PACKET: &str = "IMU packet";

mod field {
    use crate::wire::field::Field;

    pub const TEMPERATURE_PERIOD_USEC: Field = 0..4;
    pub const TEMPERATURE_SENSITIVITY: Field = 4..6;
    pub const TEMPERATURE_RAW: Field = 6..8;
    pub const GYRO_SENSITIVITY: Field = 8..10;
    pub const GYRO_PERIOD_USEC: Field = 10..14;
    pub const GYRO_COUNT: Field = 14..18;
    pub const ACCEL_SENSITIVITY: Field = 18..20;
    pub const ACCEL_PERIOD_USEC: Field = 20..24;
    pub const ACCEL_COUNT: Field = 24..28;

    pub const RECORD_TICKS: Field = 0..8;
    pub const RECORD_X: Field = 8..10;
    pub const RECORD_Y: Field = 10..12;
    pub const RECORD_Z: Field = 12..14;
}

/// Length of the packet header.
pub const HEADER_LEN: usize = 28;
/// Length of one gyro or accelerometer record.
pub const RECORD_LEN: usize = 14;
/// Most records of one kind an emitted packet carries (the SDK's 252-byte transfer holds 8 + 8).
pub const MAX_RECORDS_PER_KIND: usize = 8;
/// Size of the bulk IN transfers the host arms on EP 0x82, and so the largest packet.
pub const TRANSFER_LEN: usize = HEADER_LEN + 2 * MAX_RECORDS_PER_KIND * RECORD_LEN;

/// Samples stamped after this many µs are dropped by [`ImuStartupFilter`] while it waits.
pub const STARTUP_MAX_TS_USEC: Usec = Usec(1_500_000);
/// A colour start at most this long before the IMU start arms [`ImuStartupFilter`].
pub const STARTUP_WINDOW_USEC: Usec = Usec(1_500_000);

/// Degrees → radians factor as the SDK writes it (single precision). The SDK's truncated π
/// is kept on purpose so converted values match it bit for bit.
#[expect(
    clippy::approx_constant,
    reason = "the SDK's truncated pi, kept so conversions match it bit for bit"
)]
const RADIANS_PER_DEGREE: f32 = 3.141592_f32 / 180.0_f32;
/// Standard gravity the SDK uses, m/s² per g.
const GRAVITY_M_PER_S2: f32 = 9.81;
/// Sensitivities are in micro-units per LSB.
const MICRO: f32 = 1_000_000.0;

/// Gyro raw value → rad/s: `((raw × sensitivity) × (3.141592 / 180)) / 1e6`, all `f32`.
///
/// `sensitivity` is in micro-degrees-per-second per LSB.
#[inline]
pub fn gyro_rad_per_sec(raw: i16, sensitivity: u16) -> f32 {
    ((raw as f32) * (sensitivity as f32)) * RADIANS_PER_DEGREE / MICRO
}

/// Accelerometer raw value → m/s²: `((raw × sensitivity) × 9.81) / 1e6`, all `f32`.
///
/// `sensitivity` is in micro-g per LSB.
#[inline]
pub fn accel_m_per_s2(raw: i16, sensitivity: u16) -> f32 {
    ((raw as f32) * (sensitivity as f32)) * GRAVITY_M_PER_S2 / MICRO
}

/// Raw temperature → °C: `raw / 256 + 15`.
#[inline]
pub fn temperature_celsius(raw: i16) -> f32 {
    (raw as f32) / 256.0 + 15.0
}

/// Bytes needed for the header plus `gyro_count` gyro records plus `accel_count` accel records,
/// or the field whose count makes that overflow `usize`.
#[inline]
fn needed_len(
    gyro_count: u32,
    accel_count: u32,
) -> core::result::Result<(usize, usize), WireError> {
    let block_end = |count: u32, field: &'static str, start: usize| {
        usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(RECORD_LEN))
            .and_then(|len| len.checked_add(start))
            .ok_or(WireError::BadValue {
                packet: PACKET,
                field,
                value: u64::from(count),
            })
    };
    let gyro_end = block_end(gyro_count, "gyro sample count", HEADER_LEN)?;
    let accel_end = block_end(accel_count, "accel sample count", gyro_end)?;
    Ok((gyro_end, accel_end))
}

/// One gyro or accelerometer record: its own timestamp and three raw axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ImuRecord {
    pub ticks: Ticks90k,
    /// Raw X, Y, Z in LSB; scale with the packet's sensitivity.
    pub raw: [i16; 3],
}

impl ImuRecord {
    /// Reads a record from the first [`RECORD_LEN`] bytes of `bytes`.
    #[inline]
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        check_len("IMU record", "record", bytes.len(), RECORD_LEN)?;
        Ok(ImuRecord {
            ticks: get(bytes, field::RECORD_TICKS),
            raw: [
                i16_le(bytes, field::RECORD_X),
                i16_le(bytes, field::RECORD_Y),
                i16_le(bytes, field::RECORD_Z),
            ],
        })
    }

    /// Writes the record into the first [`RECORD_LEN`] bytes of `bytes`.
    #[inline]
    pub fn emit(&self, bytes: &mut [u8]) -> Result<()> {
        room("IMU record", bytes.len(), RECORD_LEN)?;
        set(bytes, field::RECORD_TICKS, self.ticks);
        set_i16_le(bytes, field::RECORD_X, self.raw[0]);
        set_i16_le(bytes, field::RECORD_Y, self.raw[1]);
        set_i16_le(bytes, field::RECORD_Z, self.raw[2]);
        Ok(())
    }

    /// The record's device timestamp in µs (reference §6.2).
    #[inline]
    pub const fn device_ts_usec(&self) -> Usec {
        self.ticks.to_usec()
    }
}

/// Iterator over one block of records (gyro or accel) of a checked packet.
#[derive(Debug, Clone)]
pub struct ImuRecords<'a> {
    chunks: ChunksExact<'a, u8>,
}

impl<'a> ImuRecords<'a> {
    #[inline]
    fn new(block: &'a [u8]) -> Self {
        ImuRecords {
            chunks: block.chunks_exact(RECORD_LEN),
        }
    }
}

impl Iterator for ImuRecords<'_> {
    type Item = ImuRecord;

    #[inline]
    fn next(&mut self) -> Option<ImuRecord> {
        self.chunks.next().and_then(|c| ImuRecord::parse(c).ok())
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for ImuRecords<'_> {}

/// One converted IMU sample as the SDK delivers it (before factory calibration).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ImuSample {
    /// The packet's temperature, shared by all its samples.
    pub temperature_celsius: f32,
    pub gyro_ticks: Ticks90k,
    pub gyro_rad_per_sec: [f32; 3],
    pub accel_ticks: Ticks90k,
    pub accel_m_per_s2: [f32; 3],
}

impl ImuSample {
    #[inline]
    pub const fn gyro_device_ts_usec(&self) -> Usec {
        self.gyro_ticks.to_usec()
    }

    #[inline]
    pub const fn accel_device_ts_usec(&self) -> Usec {
        self.accel_ticks.to_usec()
    }
}

/// Iterator pairing `gyro[i]` with `accel[i]` for `i < min(G, A)`, converted to SI units.
#[derive(Debug, Clone)]
pub struct ImuSamples<'a> {
    pairs: Zip<ImuRecords<'a>, ImuRecords<'a>>,
    temperature_celsius: f32,
    gyro_sensitivity: u16,
    accel_sensitivity: u16,
}

impl Iterator for ImuSamples<'_> {
    type Item = ImuSample;

    #[inline]
    fn next(&mut self) -> Option<ImuSample> {
        let (gyro, accel) = self.pairs.next()?;
        Some(ImuSample {
            temperature_celsius: self.temperature_celsius,
            gyro_ticks: gyro.ticks,
            gyro_rad_per_sec: gyro.raw.map(|r| gyro_rad_per_sec(r, self.gyro_sensitivity)),
            accel_ticks: accel.ticks,
            accel_m_per_s2: accel.raw.map(|r| accel_m_per_s2(r, self.accel_sensitivity)),
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.pairs.size_hint()
    }
}

impl ExactSizeIterator for ImuSamples<'_> {}

view! {
    /// Zero-copy view of an IMU packet; `new_checked` applies the host's length rules
    /// (reference §4.4).
    #[derive(Debug, Clone)]
    pub struct ImuPacket;
}

fields! {
    impl ImuPacket {
        temperature_period_usec, set_temperature_period_usec: u32
            = field::TEMPERATURE_PERIOD_USEC;
        temperature_sensitivity, set_temperature_sensitivity: u16
            = field::TEMPERATURE_SENSITIVITY;
        temperature_raw, set_temperature_raw: i16 = field::TEMPERATURE_RAW;
        /// Micro-degrees-per-second per LSB.
        gyro_sensitivity, set_gyro_sensitivity: u16 = field::GYRO_SENSITIVITY;
        gyro_period_usec, set_gyro_period_usec: u32 = field::GYRO_PERIOD_USEC;
        gyro_count, set_gyro_count: u32 = field::GYRO_COUNT;
        /// Micro-g per LSB.
        accel_sensitivity, set_accel_sensitivity: u16 = field::ACCEL_SENSITIVITY;
        accel_period_usec, set_accel_period_usec: u32 = field::ACCEL_PERIOD_USEC;
        accel_count, set_accel_count: u32 = field::ACCEL_COUNT;
    }
}

impl<T: AsRef<[u8]>> ImuPacket<T> {
    /// Checks the header, gyro block and accel block fit, in that order.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len(PACKET, "header", len, HEADER_LEN)?;
        let (gyro_end, accel_end) = needed_len(self.gyro_count(), self.accel_count())?;
        check_len(PACKET, "gyro samples", len, gyro_end)?;
        check_len(PACKET, "accel samples", len, accel_end)
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn temperature_celsius(&self) -> f32 {
        temperature_celsius(self.temperature_raw())
    }

    /// The byte ranges of the gyro and accel blocks, empty where the buffer is too short.
    #[inline]
    fn blocks(&self) -> (&[u8], &[u8]) {
        let bytes = self.bytes();
        match needed_len(self.gyro_count(), self.accel_count()) {
            Ok((gyro_end, accel_end)) => (
                bytes.get(HEADER_LEN..gyro_end).unwrap_or(&[]),
                bytes.get(gyro_end..accel_end).unwrap_or(&[]),
            ),
            Err(_) => (&[], &[]),
        }
    }

    /// The gyro records, in order.
    #[inline]
    pub fn gyro_records(&self) -> ImuRecords<'_> {
        ImuRecords::new(self.blocks().0)
    }

    /// The accelerometer records, in order.
    #[inline]
    pub fn accel_records(&self) -> ImuRecords<'_> {
        ImuRecords::new(self.blocks().1)
    }

    /// `min(G, A)` converted samples pairing `gyro[i]` with `accel[i]`.
    #[inline]
    pub fn samples(&self) -> ImuSamples<'_> {
        ImuSamples {
            pairs: self.gyro_records().zip(self.accel_records()),
            temperature_celsius: self.temperature_celsius(),
            gyro_sensitivity: self.gyro_sensitivity(),
            accel_sensitivity: self.accel_sensitivity(),
        }
    }
}

/// An owned IMU packet of at most 8 + 8 records, for the emulator and for tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImuPacketRepr {
    pub temperature_period_usec: u32,
    pub temperature_sensitivity: u16,
    pub temperature_raw: i16,
    pub gyro_sensitivity: u16,
    pub gyro_period_usec: u32,
    pub accel_sensitivity: u16,
    pub accel_period_usec: u32,
    pub gyro: heapless::Vec<ImuRecord, MAX_RECORDS_PER_KIND>,
    pub accel: heapless::Vec<ImuRecord, MAX_RECORDS_PER_KIND>,
}

impl ImuPacketRepr {
    /// Reads a checked packet; more than 8 records of one kind does not fit a transfer.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &ImuPacket<T>) -> Result<Self> {
        packet.check_len()?;
        let mut gyro = heapless::Vec::new();
        for record in packet.gyro_records() {
            gyro.push(record).map_err(|_| WireError::BadValue {
                packet: PACKET,
                field: "gyro sample count",
                value: u64::from(packet.gyro_count()),
            })?;
        }
        let mut accel = heapless::Vec::new();
        for record in packet.accel_records() {
            accel.push(record).map_err(|_| WireError::BadValue {
                packet: PACKET,
                field: "accel sample count",
                value: u64::from(packet.accel_count()),
            })?;
        }
        Ok(ImuPacketRepr {
            temperature_period_usec: packet.temperature_period_usec(),
            temperature_sensitivity: packet.temperature_sensitivity(),
            temperature_raw: packet.temperature_raw(),
            gyro_sensitivity: packet.gyro_sensitivity(),
            gyro_period_usec: packet.gyro_period_usec(),
            accel_sensitivity: packet.accel_sensitivity(),
            accel_period_usec: packet.accel_period_usec(),
            gyro,
            accel,
        })
    }

    /// Bytes the packet occupies: header plus 14 bytes per record.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + RECORD_LEN * (self.gyro.len() + self.accel.len())
    }

    /// Writes the packet into the start of `packet`'s buffer.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ImuPacket<T>) -> Result<()> {
        let needed = self.buffer_len();
        room(PACKET, packet.buffer.as_ref().len(), needed)?;
        packet.set_temperature_period_usec(self.temperature_period_usec);
        packet.set_temperature_sensitivity(self.temperature_sensitivity);
        packet.set_temperature_raw(self.temperature_raw);
        packet.set_gyro_sensitivity(self.gyro_sensitivity);
        packet.set_gyro_period_usec(self.gyro_period_usec);
        packet.set_gyro_count(self.gyro.len() as u32);
        packet.set_accel_sensitivity(self.accel_sensitivity);
        packet.set_accel_period_usec(self.accel_period_usec);
        packet.set_accel_count(self.accel.len() as u32);
        let buf = packet.buffer.as_mut();
        let records = buf.get_mut(HEADER_LEN..needed).unwrap_or(&mut []);
        for (record, out) in self
            .gyro
            .iter()
            .chain(self.accel.iter())
            .zip(records.chunks_exact_mut(RECORD_LEN))
        {
            record.emit(out)?;
        }
        Ok(())
    }
}

/// The SDK's IMU start-up filter (reference §4.4).
///
/// Starting the colour camera resets the device clock, which takes a moment to show in IMU
/// timestamps. If colour started at most 1500 ms before the IMU, samples are dropped until
/// one whose *accel* timestamp is ≤ 1,500,000 µs arrives; that sample and all later ones pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ImuStartupFilter {
    waiting: bool,
    dropped: u32,
}

impl ImuStartupFilter {
    /// `colour_lead` is how long before the IMU start the colour camera started, `None` if it
    /// has not.
    #[inline]
    pub const fn new(colour_lead: Option<Usec>) -> Self {
        let waiting = match colour_lead {
            Some(lead) => lead.0 <= STARTUP_WINDOW_USEC.0,
            None => false,
        };
        ImuStartupFilter {
            waiting,
            dropped: 0,
        }
    }

    /// Whether the sample with this accel timestamp is delivered; updates the state.
    #[inline]
    pub fn accept(&mut self, accel_ticks: Ticks90k) -> bool {
        if self.waiting {
            if accel_ticks.to_usec().0 > STARTUP_MAX_TS_USEC.0 {
                self.dropped = self.dropped.saturating_add(1);
                return false;
            }
            self.waiting = false;
        }
        true
    }

    /// Whether samples are still being dropped.
    #[inline]
    pub const fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Samples dropped so far.
    #[inline]
    pub const fn dropped(&self) -> u32 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn header(gyro_count: u32, accel_count: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1000u32.to_le_bytes());
        b.extend_from_slice(&256u16.to_le_bytes());
        b.extend_from_slice(&(-512i16).to_le_bytes());
        b.extend_from_slice(&1000u16.to_le_bytes());
        b.extend_from_slice(&600u32.to_le_bytes());
        b.extend_from_slice(&gyro_count.to_le_bytes());
        b.extend_from_slice(&244u16.to_le_bytes());
        b.extend_from_slice(&601u32.to_le_bytes());
        b.extend_from_slice(&accel_count.to_le_bytes());
        b
    }

    fn record(ticks: u64, x: i16, y: i16, z: i16) -> Vec<u8> {
        let mut b = ticks.to_le_bytes().to_vec();
        for v in [x, y, z] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn header_fields_are_read_at_their_offsets() {
        let bytes = header(0, 0);
        assert_eq!(bytes.len(), HEADER_LEN);
        let p = ImuPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.temperature_period_usec(), 1000);
        assert_eq!(p.temperature_sensitivity(), 256);
        assert_eq!(p.temperature_raw(), -512);
        assert_eq!(p.temperature_celsius(), 13.0);
        assert_eq!(p.gyro_sensitivity(), 1000);
        assert_eq!(p.gyro_period_usec(), 600);
        assert_eq!(p.accel_sensitivity(), 244);
        assert_eq!(p.accel_period_usec(), 601);
        assert_eq!(p.samples().count(), 0);
    }

    #[test]
    fn gyro_block_precedes_accel_block() {
        let mut bytes = header(2, 1);
        bytes.extend(record(100, 1, 2, 3));
        bytes.extend(record(101, 4, 5, 6));
        bytes.extend(record(200, -7, -8, -9));
        let p = ImuPacket::new_checked(&bytes[..]).unwrap();
        let gyro: Vec<_> = p.gyro_records().collect();
        let accel: Vec<_> = p.accel_records().collect();
        assert_eq!(gyro.len(), 2);
        assert_eq!(gyro[1].ticks, Ticks90k(101));
        assert_eq!(gyro[1].raw, [4, 5, 6]);
        assert_eq!(accel.len(), 1);
        assert_eq!(accel[0].raw, [-7, -8, -9]);
    }

    #[test]
    fn uneven_counts_pair_only_min_samples_each_with_its_own_timestamp() {
        let mut bytes = header(2, 1);
        bytes.extend(record(9, 1, 0, 0));
        bytes.extend(record(18, 1, 0, 0));
        bytes.extend(record(18000, 0, 0, 1));
        let p = ImuPacket::new_checked(&bytes[..]).unwrap();
        let samples: Vec<_> = p.samples().collect();
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].gyro_device_ts_usec(), Usec(100));
        assert_eq!(samples[0].accel_device_ts_usec(), Usec(200_000));
        assert_eq!(samples[0].temperature_celsius, 13.0);
    }

    #[test]
    fn short_buffers_are_rejected_naming_the_missing_block() {
        let mut bytes = header(1, 1);
        bytes.extend(record(1, 0, 0, 0));
        let err = |b: &[u8]| ImuPacket::new_checked(b).unwrap_err();
        assert_eq!(
            err(&bytes[..27]),
            WireError::Truncated {
                packet: PACKET,
                field: "header",
                needed: 28,
                got: 27
            }
        );
        assert_eq!(
            err(&bytes[..41]),
            WireError::Truncated {
                packet: PACKET,
                field: "gyro samples",
                needed: 42,
                got: 41
            }
        );
        assert_eq!(
            err(&bytes),
            WireError::Truncated {
                packet: PACKET,
                field: "accel samples",
                needed: 56,
                got: 42
            }
        );
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut bytes = header(1, 1);
        bytes.extend(record(1, 0, 0, 0));
        bytes.extend(record(2, 0, 0, 0));
        bytes.extend([0xAA; 30]);
        let p = ImuPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.samples().count(), 1);
        let repr = ImuPacketRepr::parse(&p).unwrap();
        assert_eq!(repr.buffer_len(), 56);
    }

    #[test]
    fn huge_counts_are_rejected_without_overflow() {
        let bytes = header(u32::MAX, u32::MAX);
        assert!(ImuPacket::new_checked(&bytes[..]).is_err());
        let p = ImuPacket::new_unchecked(&bytes[..]);
        assert_eq!(p.gyro_records().count(), 0);
        assert_eq!(p.samples().count(), 0);
    }

    #[test]
    fn repr_refuses_more_than_eight_records_of_one_kind() {
        let mut bytes = header(9, 0);
        for i in 0..9 {
            bytes.extend(record(i, 0, 0, 0));
        }
        let p = ImuPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            ImuPacketRepr::parse(&p),
            Err(WireError::BadValue {
                packet: PACKET,
                field: "gyro sample count",
                value: 9
            })
        );
    }

    #[test]
    fn full_packet_is_one_transfer() {
        let mut repr = ImuPacketRepr::default();
        for i in 0..8 {
            repr.gyro.push(ImuRecord::default()).unwrap();
            repr.accel
                .push(ImuRecord {
                    ticks: Ticks90k(i),
                    raw: [1, 2, 3],
                })
                .unwrap();
        }
        assert_eq!(repr.buffer_len(), 252);
        assert_eq!(TRANSFER_LEN, 252);
        let mut buf = [0u8; TRANSFER_LEN];
        repr.emit(&mut ImuPacket::new_unchecked(&mut buf[..]))
            .unwrap();
        let parsed = ImuPacketRepr::parse(&ImuPacket::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(parsed, repr);
        let mut small = [0u8; 251];
        assert_eq!(
            repr.emit(&mut ImuPacket::new_unchecked(&mut small[..])),
            Err(WireError::BufferTooSmall {
                packet: PACKET,
                needed: 252,
                got: 251
            })
        );
    }

    #[test]
    fn conversions_follow_the_sdk_single_precision_order() {
        #[expect(
            clippy::approx_constant,
            reason = "the SDK's truncated pi, written out as the SDK does"
        )]
        let expected_gyro = ((1000f32 * 1000f32) * (3.141592f32 / 180f32)) / 1_000_000f32;
        assert_eq!(
            gyro_rad_per_sec(1000, 1000).to_bits(),
            expected_gyro.to_bits()
        );
        assert!((gyro_rad_per_sec(1000, 1000) - 0.017_453_29).abs() < 1e-6);
        let expected_accel = ((4096f32 * 244f32) * 9.81f32) / 1_000_000f32;
        assert_eq!(
            accel_m_per_s2(4096, 244).to_bits(),
            expected_accel.to_bits()
        );
        assert!((accel_m_per_s2(4096, 244) - 9.804_35).abs() < 1e-4);
        assert_eq!(temperature_celsius(0), 15.0);
        assert_eq!(temperature_celsius(2560), 25.0);
        assert_eq!(temperature_celsius(-128), 14.5);
    }

    #[test]
    fn startup_filter_drops_until_an_accel_timestamp_near_zero() {
        let mut f = ImuStartupFilter::new(Some(Usec(1_500_000)));
        assert!(f.is_waiting());
        assert!(!f.accept(Ticks90k(135_001)));
        assert!(!f.accept(Ticks90k(900_000)));
        assert!(f.accept(Ticks90k(135_000)));
        assert!(!f.is_waiting());
        assert!(f.accept(Ticks90k(900_000)));
        assert_eq!(f.dropped(), 2);
    }

    #[test]
    fn startup_filter_passes_everything_when_colour_started_long_before_or_not_at_all() {
        for lead in [None, Some(Usec(1_500_001))] {
            let mut f = ImuStartupFilter::new(lead);
            assert!(!f.is_waiting());
            assert!(f.accept(Ticks90k(u64::MAX / 100)));
        }
    }
}
