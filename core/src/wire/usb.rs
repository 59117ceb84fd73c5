//! The camera's USB identity (reference §1.2): vendor and product ids, the configuration, the
//! interface of each MCU and its bulk endpoints.
//!
//! This is the one place these facts live. The nusb transport matches on them, the VM gadget
//! advertises them, colour discovery looks for them in sysfs and the emulator names its
//! endpoints with them, so a camera revision with other numbers is a change to this file only.

use core::fmt;

/// Microsoft's vendor id.
pub const VENDOR_ID: u16 = 0x045E;
/// The depth camera + depth MCU function.
pub const DEPTH_PRODUCT_ID: u16 = 0x097C;
/// The colour camera + colour/IMU MCU function.
pub const COLOUR_PRODUCT_ID: u16 = 0x097D;
/// The configuration the camera runs in.
pub const CONFIGURATION: u8 = 1;
/// Interface of the depth MCU on the depth function.
pub const DEPTH_INTERFACE: u8 = 0;
/// Interface of the colour/IMU MCU on the colour function (0 and 1 are UVC).
pub const COLOUR_INTERFACE: u8 = 2;

enum_with_info! {
    /// Which microcontroller a command is addressed to (its USB function and interface).
    pub enum Mcu, name -> &'static str {
        /// The depth function: [`DEPTH_PRODUCT_ID`], [`DEPTH_INTERFACE`].
        Depth => "depth",
        /// The colour function: [`COLOUR_PRODUCT_ID`], [`COLOUR_INTERFACE`].
        Colour => "colour",
    }
}

impl Mcu {
    /// The product id of this MCU's USB function.
    #[inline]
    pub const fn product_id(self) -> u16 {
        match self {
            Mcu::Depth => DEPTH_PRODUCT_ID,
            Mcu::Colour => COLOUR_PRODUCT_ID,
        }
    }

    /// The interface this MCU's bulk endpoints sit on.
    #[inline]
    pub const fn interface(self) -> u8 {
        match self {
            Mcu::Depth => DEPTH_INTERFACE,
            Mcu::Colour => COLOUR_INTERFACE,
        }
    }

    /// The bulk endpoints of this MCU's interface: command OUT, response IN, stream IN.
    #[inline]
    pub const fn bulk_endpoints(self) -> [Endpoint; 3] {
        match self {
            Mcu::Depth => [
                Endpoint::DepthCommandOut,
                Endpoint::DepthResponseIn,
                Endpoint::DepthStreamIn,
            ],
            Mcu::Colour => [
                Endpoint::ColourCommandOut,
                Endpoint::ColourResponseIn,
                Endpoint::ImuStreamIn,
            ],
        }
    }
}

impl fmt::Display for Mcu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

enum_with_info! {
    /// An endpoint of the camera, named after its role, plus the colour video stream, which is
    /// UVC and not a vendor bulk endpoint.
    pub enum Endpoint,
    /// The endpoint address on the wire; `None` for the UVC video stream.
    address -> Option<u8> {
        /// OUT on the depth function: command packets and write data.
        DepthCommandOut => Some(0x02),
        /// IN on the depth function: read data and 16-byte responses.
        DepthResponseIn => Some(0x81),
        /// IN on the depth function: raw depth frames.
        DepthStreamIn => Some(0x83),
        /// OUT on the colour function: command packets and write data.
        ColourCommandOut => Some(0x04),
        /// IN on the colour function: read data and responses.
        ColourResponseIn => Some(0x83),
        /// IN on the colour function: IMU packets.
        ImuStreamIn => Some(0x82),
        /// The UVC video stream of the colour function (V4L2 on a real camera; its endpoint
        /// address is whatever the UVC descriptors say).
        ColourVideo => None,
    }
}

impl Endpoint {
    /// The USB function (and so MCU) this endpoint belongs to.
    #[inline]
    pub const fn mcu(self) -> Mcu {
        match self {
            Endpoint::DepthCommandOut | Endpoint::DepthResponseIn | Endpoint::DepthStreamIn => {
                Mcu::Depth
            }
            Endpoint::ColourCommandOut
            | Endpoint::ColourResponseIn
            | Endpoint::ImuStreamIn
            | Endpoint::ColourVideo => Mcu::Colour,
        }
    }

    /// The command OUT endpoint of an MCU.
    #[inline]
    pub const fn command_out(mcu: Mcu) -> Endpoint {
        mcu.bulk_endpoints()[0]
    }

    /// The response IN endpoint of an MCU.
    #[inline]
    pub const fn response_in(mcu: Mcu) -> Endpoint {
        mcu.bulk_endpoints()[1]
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address() {
            Some(address) => write!(f, "{} endpoint {address:#04x}", self.mcu()),
            None => f.write_str("colour UVC stream"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn each_mcu_has_command_out_response_in_and_stream_in_on_its_own_function() {
        for mcu in [Mcu::Depth, Mcu::Colour] {
            let [out, resp, stream] = mcu.bulk_endpoints();
            assert!(out.address().is_some_and(|a| a & 0x80 == 0), "{out}");
            assert!(resp.address().is_some_and(|a| a & 0x80 != 0), "{resp}");
            assert!(stream.address().is_some_and(|a| a & 0x80 != 0), "{stream}");
            assert!([out, resp, stream].iter().all(|e| e.mcu() == mcu));
        }
        assert_eq!(Endpoint::ColourVideo.address(), None);
        assert_eq!(Mcu::Colour.product_id(), 0x097D);
        assert_eq!(Mcu::Depth.interface(), 0);
    }

    #[test]
    fn endpoints_print_function_and_address() {
        assert_eq!(
            Endpoint::ColourResponseIn.to_string(),
            "colour endpoint 0x83"
        );
        assert_eq!(Endpoint::DepthCommandOut.to_string(), "depth endpoint 0x02");
        assert_eq!(Endpoint::ColourVideo.to_string(), "colour UVC stream");
    }
}
