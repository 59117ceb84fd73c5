//! The sync cable: how a master's VSYNC pulse reaches each subordinate (reference §10.1, §10.2).
//!
//! In the simulator device 0 is the master and the daisy chain runs in index order (master →
//! device 1 → device 2 …); in a star every subordinate hangs off the master's Sync Out through a
//! splitter. Each repeat through a subordinate's Sync Out adds `hop_delay_nsec` (undocumented on
//! hardware; #1228's ~500 ns is a reporter's expectation, hence configurable).

/// Index of the master in a simulated rig.
pub const MASTER: usize = 0;

/// How the sync cables connect the rig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Topology {
    #[default]
    DaisyChain,
    Star,
}

/// The cabling of a rig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cable {
    pub topology: Topology,
    /// Latency of one cable segment plus the Sync In → Sync Out repeat of a subordinate.
    pub hop_delay_nsec: u32,
}

impl Default for Cable {
    fn default() -> Self {
        Self {
            topology: Topology::DaisyChain,
            hop_delay_nsec: 500,
        }
    }
}

impl Cable {
    /// Cable segments between the master's Sync Out and `device`'s Sync In (0 for the master).
    pub const fn hops(&self, device: usize) -> u32 {
        if device == MASTER {
            return 0;
        }
        match self.topology {
            Topology::DaisyChain => device as u32,
            Topology::Star => 1,
        }
    }

    /// How long after the master's VSYNC a pulse reaches `device`.
    pub const fn arrival_delay_nsec(&self, device: usize) -> i64 {
        self.hops(device) as i64 * self.hop_delay_nsec as i64
    }

    /// Whether pulses reach `device` when `unplugged[i]` says device `i`'s Sync In cable is out:
    /// in a daisy chain a pulled cable silences every device downstream of it.
    pub fn receives(&self, device: usize, unplugged: &[bool]) -> bool {
        if device == MASTER {
            return true;
        }
        match self.topology {
            Topology::DaisyChain => !unplugged
                .iter()
                .take(device.saturating_add(1))
                .skip(1)
                .any(|&out| out),
            Topology::Star => !unplugged.get(device).copied().unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daisy_chain_hops_grow_with_position_and_star_is_one_hop() {
        let chain = Cable {
            topology: Topology::DaisyChain,
            hop_delay_nsec: 500,
        };
        let star = Cable {
            topology: Topology::Star,
            ..chain
        };
        assert_eq!(chain.arrival_delay_nsec(0), 0);
        assert_eq!(chain.arrival_delay_nsec(1), 500);
        assert_eq!(chain.arrival_delay_nsec(8), 4_000);
        assert_eq!(star.arrival_delay_nsec(1), 500);
        assert_eq!(star.arrival_delay_nsec(2), 500);
    }

    #[test]
    fn a_pulled_cable_silences_downstream_devices_only_in_a_chain() {
        let chain = Cable::default();
        let star = Cable {
            topology: Topology::Star,
            ..chain
        };
        let unplugged = [false, false, true, false];
        assert!(chain.receives(0, &unplugged));
        assert!(chain.receives(1, &unplugged));
        assert!(!chain.receives(2, &unplugged));
        assert!(!chain.receives(3, &unplugged));
        assert!(star.receives(1, &unplugged));
        assert!(!star.receives(2, &unplugged));
        assert!(star.receives(3, &unplugged));
    }
}
