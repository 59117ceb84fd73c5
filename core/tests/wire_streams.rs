//! Laws of the streaming half of the wire codec: IMU packets, UVC payloads and metadata, the
//! raw depth trailer and the firmware package (reference §3.5, §3.6, §4.4, §5.4).
//!
//! Every representation round-trips (`emit_then_parse_is_identity`), every valid byte string
//! survives parse → emit (`parse_then_emit_is_identity_on_valid_bytes`, with reserved bytes
//! zeroed where the representation does not keep them), and no parser, iterator or state
//! machine panics on arbitrary input — random bytes, and mutants of valid packets
//! (`support::mutate`), most of which get past the length rules, the CRC and the metadata
//! walk's item checks that random bytes never pass.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on a broken fixture"
)]

use k4sync_core::time::Ticks90k;
use k4sync_core::wire::depth_trailer::{DepthTrailer, DepthTrailerRepr, TRAILER_LEN};
use k4sync_core::wire::firmware::{
    crc32_no_final_xor, seal_crc, AuthBlockRepr, FirmwareHeader, FirmwareHeaderRepr,
    FirmwarePackage, HEADER_LEN as FW_HEADER_LEN,
};
use k4sync_core::wire::imu::{ImuPacket, ImuPacketRepr, HEADER_LEN as IMU_HEADER_LEN, RECORD_LEN};
use k4sync_core::wire::uvc::{
    capture_stats, colour_timestamp, CaptureStats, CaptureStatsRepr, FrameAlignInfo,
    FrameAlignInfoRepr, MetadataItems, PayloadDisposition, UvcFrameAssembler, UvcHeaderRepr,
    UvcPayload, CAPTURE_STATS_LEN, FRAME_ALIGN_INFO_LEN, METADATA_CAPACITY,
};
use k4sync_core::WireError;
use proptest::prelude::*;
use support::mutate::{assert_gate_share, MIN_GATE_SHARE};

mod support {
    pub mod mutate;
}

mod strategies {
    use super::support::mutate::mutated;
    use super::*;
    use k4sync_core::wire::firmware::{ComponentVersion, DepthConfigVersion};
    use k4sync_core::wire::imu::ImuRecord;
    use k4sync_core::wire::uvc::Scr;

    pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..4096)
    }

    pub fn imu_record() -> impl Strategy<Value = ImuRecord> {
        (any::<u64>(), any::<[i16; 3]>()).prop_map(|(t, raw)| ImuRecord {
            ticks: Ticks90k(t),
            raw,
        })
    }

    pub fn imu_repr() -> impl Strategy<Value = ImuPacketRepr> {
        (
            (any::<u32>(), any::<u16>(), any::<i16>(), any::<u16>()),
            (any::<u32>(), any::<u16>(), any::<u32>()),
            prop::collection::vec(imu_record(), 0..=8),
            prop::collection::vec(imu_record(), 0..=8),
        )
            .prop_map(
                |((tp, ts, tr, gs), (gp, as_, ap), gyro, accel)| ImuPacketRepr {
                    temperature_period_usec: tp,
                    temperature_sensitivity: ts,
                    temperature_raw: tr,
                    gyro_sensitivity: gs,
                    gyro_period_usec: gp,
                    accel_sensitivity: as_,
                    accel_period_usec: ap,
                    gyro: gyro.into_iter().collect(),
                    accel: accel.into_iter().collect(),
                },
            )
    }

    /// A valid IMU transfer: arbitrary header and records with G, A ≤ 8, plus trailing junk.
    pub fn imu_bytes() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<[u8; IMU_HEADER_LEN]>(),
            0u32..=8,
            0u32..=8,
            prop::collection::vec(any::<u8>(), 16 * RECORD_LEN..=16 * RECORD_LEN + 40),
        )
            .prop_map(|(mut header, g, a, tail)| {
                header[14..18].copy_from_slice(&g.to_le_bytes());
                header[24..28].copy_from_slice(&a.to_le_bytes());
                let mut b = header.to_vec();
                let records = (g + a) as usize * RECORD_LEN;
                let junk = tail.len() - 16 * RECORD_LEN;
                b.extend_from_slice(&tail[..records + junk]);
                b
            })
    }

    pub fn celsius() -> impl Strategy<Value = f32> {
        -100.0f32..200.0
    }

    pub fn trailer_repr() -> impl Strategy<Value = DepthTrailerRepr> {
        (
            (any::<u32>(), any::<u16>(), any::<u16>(), any::<u64>()),
            (celsius(), celsius(), any::<u64>(), any::<u64>()),
        )
            .prop_map(
                |((sig, size, ver, ts), (st, mt, seq, pts))| DepthTrailerRepr {
                    signature: sig,
                    block_size: size,
                    block_version: ver,
                    timestamp_ticks: Ticks90k(ts),
                    sensor_temperature_celsius: st,
                    module_temperature_celsius: mt,
                    usb_sof_seq: seq,
                    usb_sof_pts: pts,
                },
            )
    }

    fn component() -> impl Strategy<Value = ComponentVersion> {
        (any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(major, minor, build)| {
            ComponentVersion {
                major,
                minor,
                build,
            }
        })
    }

    pub fn firmware_header_repr() -> impl Strategy<Value = FirmwareHeaderRepr> {
        (
            (any::<u8>(), any::<u8>(), any::<u32>()),
            (component(), component(), component()),
            prop::collection::vec(
                (any::<u16>(), any::<u16>())
                    .prop_map(|(major, minor)| DepthConfigVersion { major, minor }),
                0..=5,
            ),
        )
            .prop_map(|((sig, build, auth), (depth, rgb, audio), configs)| {
                FirmwareHeaderRepr {
                    signature_type: sig,
                    build_config: build,
                    auth_block_offset: auth,
                    depth,
                    rgb,
                    audio,
                    depth_configs: configs.into_iter().collect(),
                }
            })
    }

    /// A well-formed package: header, auth block, certificate block, body, CRC.
    pub fn firmware_package() -> impl Strategy<Value = (FirmwareHeaderRepr, AuthBlockRepr, Vec<u8>)>
    {
        (
            firmware_header_repr(),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 1..32),
        )
            .prop_map(|(mut header, body, cert)| {
                let auth_at = FW_HEADER_LEN + body.len();
                let cert_at = auth_at + 6;
                header.auth_block_offset = auth_at as u32;
                let auth = AuthBlockRepr {
                    cert_block_offset: cert_at as u32,
                    cert_block_len: cert.len() as u16,
                };
                let mut file = vec![0u8; FW_HEADER_LEN];
                header
                    .emit(&mut FirmwareHeader::new_unchecked(&mut file[..]))
                    .unwrap();
                file.extend_from_slice(&body);
                file.extend_from_slice(&[0; 6]);
                auth.emit(&mut file[auth_at..]).unwrap();
                file.extend_from_slice(&cert);
                file.extend_from_slice(&[0; 4]);
                seal_crc(&mut file).unwrap();
                (header, auth, file)
            })
    }

    pub fn scr() -> impl Strategy<Value = Option<Scr>> {
        prop::option::of((any::<u32>(), any::<u16>()).prop_map(|(stc, sof)| Scr {
            source_time_clock: stc,
            sof_counter: sof,
        }))
    }

    /// Header fields plus metadata that keep the header within 255 bytes.
    pub fn uvc_header_parts(
    ) -> impl Strategy<Value = ([bool; 3], Option<u32>, Option<Scr>, u8, Vec<u8>)> {
        (
            any::<[bool; 3]>(),
            prop::option::of(any::<u32>()),
            scr(),
            any::<u8>().prop_map(|f| f & k4sync_core::wire::uvc::OTHER_FLAGS),
            prop::collection::vec(any::<u8>(), 0..=243),
        )
    }

    /// A valid payload: consistent header length, arbitrary content and image bytes.
    pub fn uvc_payload_bytes() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..=253),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(flags, header_rest, image)| {
                let std_len =
                    2 + 4 * usize::from(flags & 0x04 != 0) + 6 * usize::from(flags & 0x08 != 0);
                let mut b = vec![0u8, flags];
                b.extend_from_slice(&header_rest);
                b.resize(b.len().max(std_len), 0);
                b[0] = b.len() as u8;
                b.extend_from_slice(&image);
                b
            })
    }

    pub fn align_repr() -> impl Strategy<Value = FrameAlignInfoRepr> {
        (
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(flags, pts, reference, seq, sof_pts)| FrameAlignInfoRepr {
                flags,
                pts_ticks: Ticks90k(pts),
                pts_reference: reference,
                usb_sof_seq: seq,
                usb_sof_pts: sof_pts,
            })
    }

    pub fn stats_repr() -> impl Strategy<Value = CaptureStatsRepr> {
        (
            (
                any::<u32>(),
                any::<u64>(),
                any::<u64>(),
                any::<i32>(),
                any::<u32>(),
            ),
            (
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
            ),
            (any::<u32>(), any::<u64>(), any::<u64>()),
        )
            .prop_map(
                |(
                    (flags, exp, ecf, ecv, iso),
                    (focus, lens, wb, flash, power),
                    (zoom, scene, rate),
                )| {
                    CaptureStatsRepr {
                        flags,
                        exposure_100ns: exp,
                        exposure_compensation_flags: ecf,
                        exposure_compensation_value: ecv,
                        iso_speed: iso,
                        focus_state: focus,
                        lens_position: lens,
                        white_balance_kelvin: wb,
                        flash,
                        flash_power: power,
                        zoom_factor: zoom,
                        scene_mode: scene,
                        sensor_frame_rate: rate,
                    }
                },
            )
    }

    /// Payload sequences mixing valid, malformed, empty and error payloads.
    pub fn payload_sequence() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(
            prop_oneof![
                4 => uvc_payload_bytes(),
                1 => prop::collection::vec(any::<u8>(), 0..300),
            ],
            0..64,
        )
    }

    /// IMU packets for the never-panic property: random, or mutants of emitted packets.
    pub fn imu_input() -> impl Strategy<Value = Vec<u8>> {
        let valid = imu_repr().prop_map(|repr| {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ImuPacket::new_unchecked(&mut buf[..]))
                .unwrap();
            buf
        });
        prop_oneof![1 => bytes(), 4 => mutated(valid)]
    }

    /// A frame and the size `from_frame` expects, for the never-panic property: random bytes
    /// and a random size, or a mutant of a small frame ending in an emitted trailer with the
    /// frame's original length expected.
    pub fn trailer_frame_input() -> impl Strategy<Value = (Vec<u8>, usize)> {
        let valid = (trailer_repr(), 0usize..200).prop_flat_map(|(repr, body)| {
            let mut frame = vec![0u8; body + TRAILER_LEN];
            repr.emit_into_frame(&mut frame).unwrap();
            let expected = frame.len();
            (mutated(Just(frame)), Just(expected))
        });
        prop_oneof![1 => (bytes(), 0usize..5000), 4 => valid]
    }

    /// Firmware packages for the never-panic property: random, mutants of valid packages, and
    /// mutants whose CRC was sealed again (so the checks behind the CRC run on them).
    pub fn firmware_input() -> impl Strategy<Value = Vec<u8>> {
        let valid = || firmware_package().prop_map(|(_, _, file)| file);
        let resealed = mutated(valid()).prop_map(|mut file| {
            let _ = seal_crc(&mut file);
            file
        });
        prop_oneof![1 => bytes(), 2 => mutated(valid()), 2 => resealed]
    }

    /// A colour payload as the camera sends the first of a frame: PTS, frame-align info with
    /// a non-zero PTS, capture stats, image bytes.
    pub fn colour_payload() -> impl Strategy<Value = Vec<u8>> {
        (
            align_repr(),
            stats_repr(),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(mut align, stats, image)| {
                align.pts_ticks.0 |= 1;
                let mut metadata = vec![0u8; FRAME_ALIGN_INFO_LEN + CAPTURE_STATS_LEN];
                let (a, c) = metadata.split_at_mut(FRAME_ALIGN_INFO_LEN);
                align.emit(&mut FrameAlignInfo::new_unchecked(a)).unwrap();
                stats.emit(&mut CaptureStats::new_unchecked(c)).unwrap();
                let header = UvcHeaderRepr {
                    pts: Some(align.pts_ticks.0 as u32),
                    metadata: &metadata,
                    ..UvcHeaderRepr::default()
                };
                let mut payload = vec![0u8; header.buffer_len()];
                header
                    .emit(&mut UvcPayload::new_unchecked(&mut payload[..]))
                    .unwrap();
                payload.extend_from_slice(&image);
                payload
            })
    }

    /// UVC payloads for the never-panic property: random, or mutants of colour payloads.
    pub fn uvc_input() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![1 => bytes(), 4 => mutated(colour_payload())]
    }
}

/// The reserved word of both metadata items, which their representations do not keep.
const ITEM_RESERVED_WORD: std::ops::Range<usize> = 12..16;

fn zeroed(mut bytes: Vec<u8>, ranges: &[std::ops::Range<usize>]) -> Vec<u8> {
    for r in ranges {
        bytes[r.clone()].fill(0);
    }
    bytes
}

proptest! {
    // --- IMU (§4.4) ---

    #[test]
    fn imu_emit_then_parse_is_identity(repr in strategies::imu_repr()) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ImuPacket::new_unchecked(&mut buf[..])).unwrap();
        let packet = ImuPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(ImuPacketRepr::parse(&packet).unwrap(), repr);
    }

    #[test]
    fn imu_parse_then_emit_is_identity_on_valid_bytes(bytes in strategies::imu_bytes()) {
        let repr = ImuPacketRepr::parse(&ImuPacket::new_checked(&bytes[..]).unwrap()).unwrap();
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ImuPacket::new_unchecked(&mut out[..])).unwrap();
        prop_assert_eq!(&out[..], &bytes[..repr.buffer_len()]);
    }

    #[test]
    fn imu_samples_pair_min_of_gyro_and_accel(bytes in strategies::imu_bytes()) {
        let packet = ImuPacket::new_checked(&bytes[..]).unwrap();
        let n = packet.gyro_count().min(packet.accel_count()) as usize;
        prop_assert_eq!(packet.samples().count(), n);
        for ((s, g), a) in packet.samples().zip(packet.gyro_records()).zip(packet.accel_records()) {
            prop_assert_eq!(s.gyro_ticks, g.ticks);
            prop_assert_eq!(s.accel_ticks, a.ticks);
        }
    }

    #[test]
    fn imu_parsing_never_panics_on_random_or_mutated_packets(bytes in strategies::imu_input()) {
        let checked = ImuPacket::new_checked(&bytes[..]);
        let view = ImuPacket::new_unchecked(&bytes[..]);
        let records = view.gyro_records().count() + view.accel_records().count();
        let samples = view.samples().count();
        prop_assert!(samples <= records);
        if let Ok(packet) = checked {
            let _ = ImuPacketRepr::parse(&packet);
        } else {
            prop_assert!(ImuPacketRepr::parse(&view).is_err());
        }
    }

    // --- Raw depth trailer (§3.5) ---

    #[test]
    fn depth_trailer_emit_then_parse_is_identity(repr in strategies::trailer_repr()) {
        let mut buf = [0u8; TRAILER_LEN];
        repr.emit(&mut DepthTrailer::new_unchecked(&mut buf[..])).unwrap();
        let view = DepthTrailer::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(DepthTrailerRepr::parse(&view).unwrap(), repr);
    }

    #[test]
    fn depth_trailer_parse_then_emit_is_identity_on_valid_bytes(bytes in any::<[u8; TRAILER_LEN]>()) {
        let repr = DepthTrailerRepr::parse(&DepthTrailer::new_checked(&bytes[..]).unwrap()).unwrap();
        let mut out = [0u8; TRAILER_LEN];
        repr.emit(&mut DepthTrailer::new_unchecked(&mut out[..])).unwrap();
        prop_assert_eq!(out, bytes);
    }

    #[test]
    fn depth_trailer_parsing_never_panics_on_random_or_mutated_frames(
        (bytes, expected) in strategies::trailer_frame_input(),
    ) {
        let result = DepthTrailer::from_frame(&bytes, expected);
        prop_assert_eq!(result.is_ok(), bytes.len() == expected && expected >= TRAILER_LEN);
        if let Ok(view) = result {
            let mut out = [0u8; TRAILER_LEN];
            DepthTrailerRepr::parse(&view).unwrap().emit_into_frame(&mut out).unwrap();
            prop_assert_eq!(&out[..], &bytes[expected - TRAILER_LEN..]);
        }
        if let Ok(view) = DepthTrailer::new_checked(&bytes[..]) {
            prop_assert!(DepthTrailerRepr::parse(&view).is_ok());
        }
        let view = DepthTrailer::new_unchecked(&bytes[..]);
        let _ = (view.device_ts_usec(), view.usb_sof_pts());
    }

    // --- Firmware package (§3.6) ---

    #[test]
    fn firmware_header_emit_then_parse_is_identity(repr in strategies::firmware_header_repr()) {
        let mut buf = [0u8; FW_HEADER_LEN];
        repr.emit(&mut FirmwareHeader::new_unchecked(&mut buf[..])).unwrap();
        let parsed = FirmwareHeaderRepr::parse(&FirmwareHeader::new_checked(&buf[..]).unwrap()).unwrap();
        prop_assert_eq!(parsed, repr);
    }

    #[test]
    fn firmware_header_parse_then_emit_is_identity_on_valid_bytes(
        mut bytes in any::<[u8; FW_HEADER_LEN]>(),
        count in 0u16..=5,
    ) {
        bytes[42..44].copy_from_slice(&count.to_le_bytes());
        let repr = FirmwareHeaderRepr::parse(&FirmwareHeader::new_checked(&bytes[..]).unwrap()).unwrap();
        let mut out = [0xA5u8; FW_HEADER_LEN];
        repr.emit(&mut FirmwareHeader::new_unchecked(&mut out[..])).unwrap();
        let mut reserved = vec![10..18, 22..30, 34..42];
        for i in 0..5 {
            let at = 44 + 12 * i;
            reserved.push(if i < count as usize { at + 4..at + 12 } else { at..at + 12 });
        }
        prop_assert_eq!(out.to_vec(), zeroed(bytes.to_vec(), &reserved));
    }

    #[test]
    fn firmware_package_emit_then_parse_is_identity((header, auth, file) in strategies::firmware_package()) {
        let package = FirmwarePackage::parse(&file).unwrap();
        prop_assert_eq!(&package.header, &header);
        prop_assert_eq!(package.auth, auth);
        prop_assert_eq!(package.cert_type, file[auth.cert_block_offset as usize]);
        prop_assert_eq!(package.crc, crc32_no_final_xor(&file[..file.len() - 4]));
    }

    #[test]
    fn firmware_package_rejects_any_single_bit_flip((_h, _a, file) in strategies::firmware_package(), bit in any::<prop::sample::Index>()) {
        let mut bad = file.clone();
        let i = bit.index(bad.len() * 8);
        bad[i / 8] ^= 1 << (i % 8);
        prop_assert!(FirmwarePackage::parse(&bad).is_err());
    }

    #[test]
    fn firmware_parsing_never_panics_on_random_or_mutated_packages(bytes in strategies::firmware_input()) {
        if let Ok(package) = FirmwarePackage::parse(&bytes) {
            let cert_at = package.auth.cert_block_offset as usize;
            prop_assert_eq!(package.cert_type, bytes[cert_at]);
            prop_assert!(cert_at + usize::from(package.auth.cert_block_len) <= bytes.len());
        }
        let _ = crc32_no_final_xor(&bytes);
        let _ = AuthBlockRepr::parse(&bytes);
        if let Ok(view) = FirmwareHeader::new_checked(&bytes[..]) {
            let _ = FirmwareHeaderRepr::parse(&view);
        }
        let view = FirmwareHeader::new_unchecked(&bytes[..]);
        let _ = (view.depth_config(4), view.depth_config(5), view.audio_version());
    }

    // --- UVC payloads and metadata (§5.4) ---

    #[test]
    fn uvc_header_emit_then_parse_is_identity(
        (bits, pts, scr, other_flags, metadata) in strategies::uvc_header_parts(),
        image in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let repr = UvcHeaderRepr {
            fid: bits[0],
            end_of_frame: bits[1],
            error: bits[2],
            pts,
            scr,
            other_flags,
            metadata: &metadata,
        };
        let mut buf = vec![0u8; repr.buffer_len() + image.len()];
        repr.emit(&mut UvcPayload::new_unchecked(&mut buf[..])).unwrap();
        buf[repr.buffer_len()..].copy_from_slice(&image);
        let view = UvcPayload::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(view.image(), &image[..]);
        prop_assert_eq!(UvcHeaderRepr::parse(&view).unwrap(), repr);
    }

    #[test]
    fn uvc_header_parse_then_emit_is_identity_on_valid_bytes(bytes in strategies::uvc_payload_bytes()) {
        let view = UvcPayload::new_checked(&bytes[..]).unwrap();
        let repr = UvcHeaderRepr::parse(&view).unwrap();
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut UvcPayload::new_unchecked(&mut out[..])).unwrap();
        prop_assert_eq!(&out[..], &bytes[..view.header_len()]);
    }

    #[test]
    fn frame_align_emit_then_parse_is_identity(repr in strategies::align_repr()) {
        let mut buf = [0u8; FRAME_ALIGN_INFO_LEN];
        repr.emit(&mut FrameAlignInfo::new_unchecked(&mut buf[..])).unwrap();
        let view = FrameAlignInfo::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(FrameAlignInfoRepr::parse(&view).unwrap(), repr);
        let expected = (repr.pts_ticks.0 != 0).then_some(repr.pts_ticks);
        prop_assert_eq!(colour_timestamp(&buf), expected);
    }

    #[test]
    fn frame_align_parse_then_emit_is_identity_on_valid_bytes(mut bytes in any::<[u8; FRAME_ALIGN_INFO_LEN]>()) {
        bytes[0..8].copy_from_slice(&[1, 0, 0, 0x80, 44, 0, 0, 0]);
        let repr = FrameAlignInfoRepr::parse(&FrameAlignInfo::new_checked(&bytes[..]).unwrap()).unwrap();
        let mut out = [0u8; FRAME_ALIGN_INFO_LEN];
        repr.emit(&mut FrameAlignInfo::new_unchecked(&mut out[..])).unwrap();
        prop_assert_eq!(out.to_vec(), zeroed(bytes.to_vec(), &[ITEM_RESERVED_WORD]));
    }

    #[test]
    fn capture_stats_emit_then_parse_is_identity(repr in strategies::stats_repr()) {
        let mut buf = [0u8; CAPTURE_STATS_LEN];
        repr.emit(&mut CaptureStats::new_unchecked(&mut buf[..])).unwrap();
        let view = CaptureStats::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(CaptureStatsRepr::parse(&view).unwrap(), repr);
        prop_assert_eq!(capture_stats(&buf), Some(repr));
    }

    #[test]
    fn capture_stats_parse_then_emit_is_identity_on_valid_bytes(mut bytes in any::<[u8; CAPTURE_STATS_LEN]>()) {
        bytes[0..8].copy_from_slice(&[3, 0, 0, 0, 80, 0, 0, 0]);
        let repr = CaptureStatsRepr::parse(&CaptureStats::new_checked(&bytes[..]).unwrap()).unwrap();
        let mut out = [0u8; CAPTURE_STATS_LEN];
        repr.emit(&mut CaptureStats::new_unchecked(&mut out[..])).unwrap();
        prop_assert_eq!(out.to_vec(), zeroed(bytes.to_vec(), &[ITEM_RESERVED_WORD]));
    }

    #[test]
    fn uvc_parsing_never_panics_on_random_or_mutated_payloads(bytes in strategies::uvc_input()) {
        let view = UvcPayload::new_unchecked(&bytes[..]);
        let _ = (view.pts(), view.scr(), view.metadata().len(), view.image().len());
        if let Ok(view) = UvcPayload::new_checked(&bytes[..]) {
            prop_assert!(UvcHeaderRepr::parse(&view).is_ok());
            prop_assert_eq!(view.header_len() + view.image().len(), bytes.len());
        }
        let mut walked = 0usize;
        for item in MetadataItems::new(&bytes) {
            match item {
                Ok(item) => walked += item.bytes.len(),
                Err(_) => break,
            }
        }
        prop_assert!(walked <= bytes.len());
        let _ = colour_timestamp(&bytes);
        let _ = capture_stats(&bytes);
        let _ = FrameAlignInfo::new_checked(&bytes[..]).map(|v| FrameAlignInfoRepr::parse(&v));
        let _ = CaptureStats::new_checked(&bytes[..]).map(|v| CaptureStatsRepr::parse(&v));
    }

    #[test]
    fn assembler_accounts_for_every_accepted_byte_on_any_payload_sequence(
        payloads in strategies::payload_sequence(),
    ) {
        let mut asm = UvcFrameAssembler::new();
        let (mut image, mut metadata) = (0usize, 0usize);
        let (mut finished_image, mut finished_metadata) = (0usize, 0usize);
        for payload in &payloads {
            let Ok(ev) = asm.push(payload) else { continue };
            for end in ev.completed_before.iter() {
                prop_assert!(end.metadata_len <= METADATA_CAPACITY);
                finished_image += end.image_len;
                finished_metadata += end.metadata_len;
            }
            if ev.disposition != PayloadDisposition::Accepted {
                prop_assert!(ev.image.is_empty() && ev.metadata.is_empty());
            }
            prop_assert_eq!(&payload[ev.image_range.clone()], ev.image);
            image += ev.image.len();
            metadata += ev.metadata.len();
            for end in ev.completed_after.iter() {
                prop_assert!(end.image_len > 0);
                prop_assert!(end.metadata_len <= METADATA_CAPACITY);
                finished_image += end.image_len;
                finished_metadata += end.metadata_len;
            }
            prop_assert!(asm.pending_metadata_len() <= METADATA_CAPACITY);
        }
        let rest = asm.reset();
        prop_assert_eq!(finished_image + rest.image_len, image);
        prop_assert_eq!(finished_metadata + rest.metadata_len, metadata);
    }
}

#[test]
fn most_never_panic_imu_inputs_pass_the_length_rules() {
    assert_gate_share(strategies::imu_input(), MIN_GATE_SHARE, |b| {
        ImuPacket::new_checked(&b[..]).is_ok()
    });
}

#[test]
fn most_never_panic_trailer_inputs_are_frames_of_the_expected_size() {
    assert_gate_share(
        strategies::trailer_frame_input(),
        MIN_GATE_SHARE,
        |(b, expected)| DepthTrailer::from_frame(b, *expected).is_ok(),
    );
}

/// Past the CRC, `FirmwarePackage::parse` either succeeds or refuses a block outside the
/// file; random bytes fail earlier, on the length, the depth-config count or the CRC.
#[test]
fn most_never_panic_firmware_inputs_pass_the_crc() {
    assert_gate_share(
        strategies::firmware_input(),
        MIN_GATE_SHARE,
        |b| match FirmwarePackage::parse(b) {
            Ok(_) => true,
            Err(WireError::BadValue { field, .. }) => field != "depth config count",
            Err(_) => false,
        },
    );
}

#[test]
fn most_never_panic_uvc_inputs_carry_a_colour_timestamp_in_their_metadata() {
    assert_gate_share(strategies::uvc_input(), MIN_GATE_SHARE, |b| {
        UvcPayload::new_checked(&b[..]).is_ok_and(|v| colour_timestamp(v.metadata()).is_some())
    });
}
