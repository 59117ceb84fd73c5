//! The firmware package file the host checks before a firmware update (reference §3.6).
//!
//! A package starts with a 104-byte packed header (signature type, build configuration,
//! component versions, up to five depth-configuration versions and the offset of an
//! authentication block) and ends with a CRC-32 over every preceding byte. The CRC is the
//! reflected 0xEDB88320 variant with initial value 0xFFFFFFFF but *without* the usual final
//! XOR, so it equals the bitwise complement of the common CRC-32; [`crc32_no_final_xor`] is a
//! `const` table-driven implementation.
//!
//! [`FirmwarePackage::parse`] is stricter than the SDK, which only logs and flags problems: a
//! wrong CRC, more than five depth configurations, or an authentication or certificate block
//! outside the file is a typed error. Offsets are absolute file offsets, as in the SDK.

use crate::error::{Result, WireError};
use crate::wire::field::{
    check_len, check_magic, room, set_u16_le, set_u32_le, set_u8, u16_le, u32_le, u8_at,
};

const PACKET: &str = "firmware package";

mod field {
    use crate::wire::field::Field;

    pub const SIGNATURE_TYPE: Field = 0..1;
    pub const BUILD_CONFIG: Field = 1..2;
    pub const AUTH_BLOCK_OFFSET: Field = 2..6;
    pub const DEPTH_VERSION: usize = 6;
    pub const RGB_VERSION: usize = 18;
    pub const AUDIO_VERSION: usize = 30;
    pub const DEPTH_CONFIG_COUNT: Field = 42..44;
    pub const DEPTH_CONFIGS: usize = 44;
    pub const DEPTH_CONFIG_LEN: usize = 12;

    pub const CERT_BLOCK_OFFSET: Field = 0..4;
    pub const CERT_BLOCK_LEN: Field = 4..6;
}

/// Length of the package header.
pub const HEADER_LEN: usize = 104;
/// Length of the authentication block fields the host reads.
pub const AUTH_BLOCK_LEN: usize = 6;
/// Length of the trailing CRC.
pub const CRC_LEN: usize = 4;
/// Most depth-configuration entries a header holds.
pub const MAX_DEPTH_CONFIGS: usize = 5;

#[inline]
const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 (reflected 0xEDB88320, init 0xFFFFFFFF) without the final XOR, as the SDK checks
/// firmware packages. `crc32_no_final_xor(b"123456789") == 0x340B_C6D9`.
#[inline]
pub const fn crc32_no_final_xor(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = crc_table();
    let mut crc = 0xFFFF_FFFFu32;
    let mut i = 0;
    while i < data.len() {
        crc = (crc >> 8) ^ TABLE[((crc ^ data[i] as u32) & 0xFF) as usize];
        i += 1;
    }
    crc
}

/// A component version in the package header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ComponentVersion {
    pub major: u8,
    pub minor: u8,
    pub build: u16,
}

/// A depth-configuration version entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DepthConfigVersion {
    pub major: u16,
    pub minor: u16,
}

view! {
    /// Zero-copy view of the 104-byte package header.
    #[derive(Debug, Clone)]
    pub struct FirmwareHeader;
}

fields! {
    impl FirmwareHeader {
        /// 0 Microsoft-signed, 1 test-signed, 2 unsigned (SDK `k4a_firmware_signature_t`).
        signature_type, set_signature_type: u8 = field::SIGNATURE_TYPE;
        /// 0 release, 1 debug (SDK `k4a_firmware_build_t`).
        build_config, set_build_config: u8 = field::BUILD_CONFIG;
        /// Absolute file offset of the authentication block.
        auth_block_offset, set_auth_block_offset: u32 = field::AUTH_BLOCK_OFFSET;
        /// The entry count as stored; at most [`MAX_DEPTH_CONFIGS`] in a valid header.
        depth_config_count, set_depth_config_count: u16 = field::DEPTH_CONFIG_COUNT;
    }
}

impl<T: AsRef<[u8]>> FirmwareHeader<T> {
    /// At least the 104 header bytes.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        check_len(PACKET, "header", self.bytes().len(), HEADER_LEN)
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    fn version_at(&self, at: usize) -> ComponentVersion {
        let b = self.bytes();
        ComponentVersion {
            major: u8_at(b, at),
            minor: u8_at(b, at + 1),
            build: u16_le(b, at + 2..at + 4),
        }
    }

    #[inline]
    pub fn depth_version(&self) -> ComponentVersion {
        self.version_at(field::DEPTH_VERSION)
    }

    #[inline]
    pub fn rgb_version(&self) -> ComponentVersion {
        self.version_at(field::RGB_VERSION)
    }

    #[inline]
    pub fn audio_version(&self) -> ComponentVersion {
        self.version_at(field::AUDIO_VERSION)
    }

    /// Entry `index` of the five slots, regardless of the count.
    #[inline]
    pub fn depth_config(&self, index: usize) -> Option<DepthConfigVersion> {
        if index >= MAX_DEPTH_CONFIGS {
            return None;
        }
        let at = field::DEPTH_CONFIGS + index * field::DEPTH_CONFIG_LEN;
        Some(DepthConfigVersion {
            major: u16_le(self.bytes(), at..at + 2),
            minor: u16_le(self.bytes(), at + 2..at + 4),
        })
    }
}

/// The owned meaning of a package header. Reserved bytes and unused entries emit as zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirmwareHeaderRepr {
    pub signature_type: u8,
    pub build_config: u8,
    pub auth_block_offset: u32,
    pub depth: ComponentVersion,
    pub rgb: ComponentVersion,
    pub audio: ComponentVersion,
    pub depth_configs: heapless::Vec<DepthConfigVersion, MAX_DEPTH_CONFIGS>,
}

impl FirmwareHeaderRepr {
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(header: &FirmwareHeader<T>) -> Result<Self> {
        header.check_len()?;
        let count = header.depth_config_count();
        if usize::from(count) > MAX_DEPTH_CONFIGS {
            return Err(WireError::BadValue {
                packet: PACKET,
                field: "depth config count",
                value: u64::from(count),
            });
        }
        let mut depth_configs = heapless::Vec::new();
        for entry in (0..usize::from(count)).filter_map(|i| header.depth_config(i)) {
            // Cannot fail: count ≤ capacity was checked above.
            let _ = depth_configs.push(entry);
        }
        Ok(FirmwareHeaderRepr {
            signature_type: header.signature_type(),
            build_config: header.build_config(),
            auth_block_offset: header.auth_block_offset(),
            depth: header.depth_version(),
            rgb: header.rgb_version(),
            audio: header.audio_version(),
            depth_configs,
        })
    }

    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, zeroing reserved bytes and unused entries.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut FirmwareHeader<T>) -> Result<()> {
        room(PACKET, header.buffer.as_ref().len(), HEADER_LEN)?;
        if let Some(bytes) = header.buffer.as_mut().get_mut(..HEADER_LEN) {
            bytes.fill(0);
        }
        header.set_signature_type(self.signature_type);
        header.set_build_config(self.build_config);
        header.set_auth_block_offset(self.auth_block_offset);
        header.set_depth_config_count(self.depth_configs.len() as u16);
        let buf = header.buffer.as_mut();
        for (at, v) in [
            (field::DEPTH_VERSION, self.depth),
            (field::RGB_VERSION, self.rgb),
            (field::AUDIO_VERSION, self.audio),
        ] {
            set_u8(buf, at, v.major);
            set_u8(buf, at + 1, v.minor);
            set_u16_le(buf, at + 2..at + 4, v.build);
        }
        for (i, c) in self.depth_configs.iter().enumerate() {
            let at = field::DEPTH_CONFIGS + i * field::DEPTH_CONFIG_LEN;
            set_u16_le(buf, at..at + 2, c.major);
            set_u16_le(buf, at + 2..at + 4, c.minor);
        }
        Ok(())
    }
}

fields! {
    impl [u8] =>
    /// The authentication block fields: where the certificate block is and how long it is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    AuthBlockRepr: AUTH_BLOCK_LEN, PACKET, "authentication block" {
        /// Absolute file offset of the certificate block.
        cert_block_offset: u32 = field::CERT_BLOCK_OFFSET;
        cert_block_len: u16 = field::CERT_BLOCK_LEN;
    }
}

/// A validated firmware package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwarePackage<'a> {
    pub header: FirmwareHeaderRepr,
    pub auth: AuthBlockRepr,
    /// First byte of the certificate block (same numbering as `signature_type`).
    pub cert_type: u8,
    pub crc: u32,
    bytes: &'a [u8],
}

#[inline]
fn region<'a>(bytes: &'a [u8], offset: u32, len: usize, field: &'static str) -> Result<&'a [u8]> {
    let out_of_file = WireError::BadValue {
        packet: PACKET,
        field,
        value: u64::from(offset),
    };
    let start = usize::try_from(offset).map_err(|_| out_of_file)?;
    let end = start.checked_add(len).ok_or(out_of_file)?;
    bytes.get(start..end).ok_or(out_of_file)
}

impl<'a> FirmwarePackage<'a> {
    /// Checks header, CRC, authentication block and certificate block bounds.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        check_len(PACKET, "header and CRC", bytes.len(), HEADER_LEN + CRC_LEN)?;
        let header = FirmwareHeaderRepr::parse(&FirmwareHeader::new_checked(bytes)?)?;
        let crc_at = bytes.len().saturating_sub(CRC_LEN);
        let covered = bytes.get(..crc_at).unwrap_or(&[]);
        let crc = u32_le(bytes, crc_at..bytes.len());
        let computed = crc32_no_final_xor(covered);
        check_magic(PACKET, "CRC-32", computed, crc)?;
        let auth = AuthBlockRepr::parse(region(
            bytes,
            header.auth_block_offset,
            AUTH_BLOCK_LEN,
            "authentication block offset",
        )?)?;
        if auth.cert_block_len == 0 {
            return Err(WireError::BadValue {
                packet: PACKET,
                field: "certificate block length",
                value: 0,
            });
        }
        let cert = region(
            bytes,
            auth.cert_block_offset,
            usize::from(auth.cert_block_len),
            "certificate block offset",
        )?;
        Ok(FirmwarePackage {
            header,
            auth,
            cert_type: cert.first().copied().unwrap_or(0),
            crc,
            bytes,
        })
    }

    /// The whole package file.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Writes the CRC of everything before the last 4 bytes into those bytes.
#[inline]
pub fn seal_crc(package: &mut [u8]) -> Result<u32> {
    let len = package.len();
    room(PACKET, len, CRC_LEN)?;
    let crc_at = len - CRC_LEN;
    let crc = crc32_no_final_xor(package.get(..crc_at).unwrap_or(&[]));
    set_u32_le(package, crc_at..len, crc);
    Ok(crc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn crc_of_check_string_is_complement_of_standard_crc32() {
        assert_eq!(crc32_no_final_xor(b"123456789"), 0x340B_C6D9);
        assert_eq!(crc32_no_final_xor(b"123456789"), !0xCBF4_3926);
        assert_eq!(crc32_no_final_xor(b""), 0xFFFF_FFFF);
        assert_eq!(crc32_no_final_xor(&[0]), !0xD202_EF8D);
        assert_eq!(crc_table()[1], 0x7707_3096);
        assert_eq!(crc_table()[255], 0x2D02_EF8D);
    }

    fn header_bytes() -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[0] = 1;
        b[1] = 0;
        b[2..6].copy_from_slice(&120u32.to_le_bytes());
        b[6] = 1;
        b[7] = 6;
        b[8..10].copy_from_slice(&110u16.to_le_bytes());
        b[18] = 1;
        b[19] = 6;
        b[20..22].copy_from_slice(&98u16.to_le_bytes());
        b[30] = 1;
        b[31] = 6;
        b[32..34].copy_from_slice(&14u16.to_le_bytes());
        b[42..44].copy_from_slice(&2u16.to_le_bytes());
        b[44..46].copy_from_slice(&6109u16.to_le_bytes());
        b[46..48].copy_from_slice(&7u16.to_le_bytes());
        b[56..58].copy_from_slice(&5006u16.to_le_bytes());
        b[58..60].copy_from_slice(&27u16.to_le_bytes());
        b
    }

    fn package() -> Vec<u8> {
        let mut b = header_bytes();
        b.resize(120, 0xEE);
        b.extend_from_slice(&130u32.to_le_bytes());
        b.extend_from_slice(&3u16.to_le_bytes());
        b.resize(130, 0);
        b.extend_from_slice(&[1, 9, 9]);
        b.extend_from_slice(&[0; 4]);
        seal_crc(&mut b).unwrap();
        b
    }

    #[test]
    fn header_fields_are_read_at_their_offsets() {
        let bytes = header_bytes();
        let h =
            FirmwareHeaderRepr::parse(&FirmwareHeader::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(h.signature_type, 1);
        assert_eq!(h.build_config, 0);
        assert_eq!(h.auth_block_offset, 120);
        assert_eq!(
            h.depth,
            ComponentVersion {
                major: 1,
                minor: 6,
                build: 110
            }
        );
        assert_eq!(
            h.rgb,
            ComponentVersion {
                major: 1,
                minor: 6,
                build: 98
            }
        );
        assert_eq!(
            h.audio,
            ComponentVersion {
                major: 1,
                minor: 6,
                build: 14
            }
        );
        assert_eq!(
            &h.depth_configs[..],
            &[
                DepthConfigVersion {
                    major: 6109,
                    minor: 7
                },
                DepthConfigVersion {
                    major: 5006,
                    minor: 27
                }
            ]
        );
        let mut out = [0xFFu8; HEADER_LEN];
        h.emit(&mut FirmwareHeader::new_unchecked(&mut out[..]))
            .unwrap();
        assert_eq!(&out[..], &bytes[..]);
    }

    #[test]
    fn valid_package_parses_with_its_certificate_type() {
        let bytes = package();
        let p = FirmwarePackage::parse(&bytes).unwrap();
        assert_eq!(p.auth.cert_block_offset, 130);
        assert_eq!(p.auth.cert_block_len, 3);
        assert_eq!(p.cert_type, 1);
        assert_eq!(p.crc, crc32_no_final_xor(&bytes[..bytes.len() - 4]));
    }

    #[test]
    fn any_flipped_bit_fails_the_crc() {
        let bytes = package();
        let mut bad = bytes.clone();
        bad[50] ^= 0x10;
        assert!(matches!(
            FirmwarePackage::parse(&bad),
            Err(WireError::BadMagic {
                field: "CRC-32",
                ..
            })
        ));
    }

    #[test]
    fn more_than_five_depth_configs_are_rejected() {
        let mut bytes = package();
        bytes[42] = 6;
        seal_crc(&mut bytes).unwrap();
        assert_eq!(
            FirmwarePackage::parse(&bytes),
            Err(WireError::BadValue {
                packet: PACKET,
                field: "depth config count",
                value: 6
            })
        );
    }

    #[test]
    fn blocks_outside_the_file_are_rejected() {
        let mut bytes = package();
        let len = bytes.len() as u32;
        bytes[2..6].copy_from_slice(&(len - 5).to_le_bytes());
        seal_crc(&mut bytes).unwrap();
        assert!(matches!(
            FirmwarePackage::parse(&bytes),
            Err(WireError::BadValue {
                field: "authentication block offset",
                ..
            })
        ));

        let mut bytes = package();
        bytes[124..126].copy_from_slice(&9u16.to_le_bytes());
        seal_crc(&mut bytes).unwrap();
        assert!(matches!(
            FirmwarePackage::parse(&bytes),
            Err(WireError::BadValue {
                field: "certificate block offset",
                ..
            })
        ));

        let mut bytes = package();
        bytes[124..126].copy_from_slice(&0u16.to_le_bytes());
        seal_crc(&mut bytes).unwrap();
        assert!(matches!(
            FirmwarePackage::parse(&bytes),
            Err(WireError::BadValue {
                field: "certificate block length",
                ..
            })
        ));
    }

    #[test]
    fn short_files_are_rejected() {
        assert_eq!(
            FirmwarePackage::parse(&[0u8; 107]),
            Err(WireError::Truncated {
                packet: PACKET,
                field: "header and CRC",
                needed: 108,
                got: 107
            })
        );
    }
}
