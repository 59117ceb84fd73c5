//! FunctionFS descriptor and string blocks for the two USB functions of an emulated camera
//! (reference §1.1–1.2), at full, high and SuperSpeed.
//!
//! The blocks are what a FunctionFS `ep0` file takes before the gadget is bound: the v2
//! descriptors header, then one interface + endpoint list per speed (SuperSpeed endpoints
//! each followed by their companion), then an empty strings block. Endpoint addresses are
//! the camera's own; the patched `dummy_hcd` (`scripts/vm-usb/dummy_hcd-ep3.patch`) hands
//! each descriptor the endpoint number it asks for, so the host sees 0x02/0x81/0x83 on the
//! depth function and 0x04/0x83/0x82 on interface 2 of the colour function.

use k4sync_core::wire::command::Mcu;
use k4sync_core::wire::usb::{self, Endpoint};

/// `FUNCTIONFS_DESCRIPTORS_MAGIC_V2`.
pub const DESCRIPTORS_MAGIC_V2: u32 = 3;
/// `FUNCTIONFS_STRINGS_MAGIC`.
pub const STRINGS_MAGIC: u32 = 2;
const HAS_FS_DESC: u32 = 1;
const HAS_HS_DESC: u32 = 2;
const HAS_SS_DESC: u32 = 4;

const INTERFACE_DESCRIPTOR: u8 = 4;
const ENDPOINT_DESCRIPTOR: u8 = 5;
const SS_ENDPOINT_COMPANION: u8 = 0x30;
const VENDOR_CLASS: u8 = 0xFF;
const BULK: u8 = 2;

/// A bus speed the gadget offers descriptors for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    Full,
    High,
    Super,
}

impl Speed {
    pub const ALL: [Speed; 3] = [Speed::Full, Speed::High, Speed::Super];

    /// wMaxPacketSize of a bulk endpoint at this speed.
    pub const fn bulk_max_packet(self) -> u16 {
        match self {
            Speed::Full => 64,
            Speed::High => 512,
            Speed::Super => 1024,
        }
    }

    /// The speed named by a UDC's `current_speed` sysfs attribute.
    pub fn from_sysfs(name: &str) -> Option<Speed> {
        match name.trim() {
            "full-speed" => Some(Speed::Full),
            "high-speed" => Some(Speed::High),
            "super-speed" | "super-speed-plus" => Some(Speed::Super),
            _ => None,
        }
    }
}

/// The layout of one camera function's MCU interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionLayout {
    pub mcu: Mcu,
    pub vendor_id: u16,
    pub product_id: u16,
    /// Interface of the MCU; lower numbers are empty stand-ins (the colour function's UVC
    /// interfaces, which neither `dummy_hcd` nor nusb can carry).
    pub interface: u8,
    /// Endpoint addresses in FunctionFS file order (`ep1`, `ep2`, `ep3`): command OUT,
    /// response IN, stream IN.
    pub endpoints: [u8; 3],
    pub product: &'static str,
}

/// The addresses of an MCU's bulk endpoints in FunctionFS file order.
const fn bulk_addresses(mcu: Mcu) -> [u8; 3] {
    const fn address(endpoint: Endpoint) -> u8 {
        match endpoint.address() {
            Some(address) => address,
            None => 0,
        }
    }
    let [out, response, stream] = mcu.bulk_endpoints();
    [address(out), address(response), address(stream)]
}

impl FunctionLayout {
    pub const DEPTH: FunctionLayout = FunctionLayout {
        mcu: Mcu::Depth,
        vendor_id: usb::VENDOR_ID,
        product_id: usb::DEPTH_PRODUCT_ID,
        interface: usb::DEPTH_INTERFACE,
        endpoints: bulk_addresses(Mcu::Depth),
        product: "Azure Kinect Depth Camera",
    };

    pub const COLOUR: FunctionLayout = FunctionLayout {
        mcu: Mcu::Colour,
        vendor_id: usb::VENDOR_ID,
        product_id: usb::COLOUR_PRODUCT_ID,
        interface: usb::COLOUR_INTERFACE,
        endpoints: bulk_addresses(Mcu::Colour),
        product: "Azure Kinect 4K Camera",
    };

    pub const fn of(mcu: Mcu) -> FunctionLayout {
        match mcu {
            Mcu::Depth => FunctionLayout::DEPTH,
            Mcu::Colour => FunctionLayout::COLOUR,
        }
    }

    /// Descriptors of one speed, and how many there are.
    fn speed_descriptors(&self, speed: Speed, out: &mut Vec<u8>) -> u32 {
        let mut count = 0;
        for stand_in in 0..self.interface {
            out.extend_from_slice(&[
                9,
                INTERFACE_DESCRIPTOR,
                stand_in,
                0,
                0,
                VENDOR_CLASS,
                0,
                0,
                0,
            ]);
            count += 1;
        }
        out.extend_from_slice(&[
            9,
            INTERFACE_DESCRIPTOR,
            self.interface,
            0,
            self.endpoints.len() as u8,
            VENDOR_CLASS,
            0,
            0,
            0,
        ]);
        count += 1;
        let [lo, hi] = speed.bulk_max_packet().to_le_bytes();
        for address in self.endpoints {
            out.extend_from_slice(&[7, ENDPOINT_DESCRIPTOR, address, BULK, lo, hi, 0]);
            count += 1;
            if speed == Speed::Super {
                out.extend_from_slice(&[6, SS_ENDPOINT_COMPANION, 0, 0, 0, 0]);
                count += 1;
            }
        }
        count
    }

    /// The FunctionFS v2 descriptors block with full-, high- and SuperSpeed variants.
    pub fn ffs_descriptors(&self) -> Vec<u8> {
        let mut bodies = Vec::new();
        let mut counts = Vec::new();
        for speed in Speed::ALL {
            counts.push(self.speed_descriptors(speed, &mut bodies));
        }
        let mut block = Vec::new();
        block.extend_from_slice(&DESCRIPTORS_MAGIC_V2.to_le_bytes());
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&(HAS_FS_DESC | HAS_HS_DESC | HAS_SS_DESC).to_le_bytes());
        for count in counts {
            block.extend_from_slice(&count.to_le_bytes());
        }
        block.extend_from_slice(&bodies);
        let len = block.len() as u32;
        block[4..8].copy_from_slice(&len.to_le_bytes());
        block
    }
}

/// A FunctionFS strings block with no strings and no languages.
pub fn ffs_strings() -> Vec<u8> {
    let mut block = Vec::new();
    for word in [STRINGS_MAGIC, 16, 0, 0] {
        block.extend_from_slice(&word.to_le_bytes());
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints_of(block: &[u8]) -> Vec<(u8, u16, bool)> {
        let mut at = 24;
        let mut found = Vec::new();
        while at < block.len() {
            let len = usize::from(block[at]);
            if block[at + 1] == ENDPOINT_DESCRIPTOR {
                let companion = block.get(at + len + 1) == Some(&SS_ENDPOINT_COMPANION);
                let mps = u16::from_le_bytes([block[at + 4], block[at + 5]]);
                found.push((block[at + 2], mps, companion));
            }
            at += len;
        }
        found
    }

    #[test]
    fn depth_block_has_the_camera_endpoints_at_every_speed_with_companions_at_super() {
        let block = FunctionLayout::DEPTH.ffs_descriptors();
        assert_eq!(
            u32::from_le_bytes(block[4..8].try_into().unwrap()) as usize,
            block.len()
        );
        let counts: Vec<u32> = block[12..24]
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(counts, [4, 4, 7]);
        let eps = endpoints_of(&block);
        assert_eq!(
            eps,
            [
                (0x02, 64, false),
                (0x81, 64, false),
                (0x83, 64, false),
                (0x02, 512, false),
                (0x81, 512, false),
                (0x83, 512, false),
                (0x02, 1024, true),
                (0x81, 1024, true),
                (0x83, 1024, true),
            ]
        );
    }

    #[test]
    fn colour_block_puts_the_mcu_on_interface_2_after_two_empty_stand_ins() {
        let block = FunctionLayout::COLOUR.ffs_descriptors();
        let interfaces: Vec<(u8, u8)> = (24..block.len())
            .scan(24, |next, at| {
                if at != *next {
                    return Some(None);
                }
                *next += usize::from(block[at]);
                Some(
                    (block[at + 1] == INTERFACE_DESCRIPTOR).then(|| (block[at + 2], block[at + 4])),
                )
            })
            .flatten()
            .take(3)
            .collect();
        assert_eq!(interfaces, [(0, 0), (1, 0), (2, 3)]);
        let addresses: Vec<u8> = endpoints_of(&block).iter().take(3).map(|e| e.0).collect();
        assert_eq!(addresses, [0x04, 0x83, 0x82]);
    }

    #[test]
    fn strings_block_is_the_16_byte_empty_table() {
        assert_eq!(
            ffs_strings(),
            [2, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
