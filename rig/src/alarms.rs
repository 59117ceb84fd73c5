//! The rig's alarm rules in one place: what counts as a pulled sync cable or a low disk, what
//! the alarm says and what the operator should do. The take applies them to the agents'
//! published states (terminal output and the manifest's events) and the dashboard to the same
//! states (its alarm list), so both name a problem the same way.

use crate::msg::{AgentState, Jacks};

/// Free space below which an agent's disk raises an alarm.
pub const DISK_LOW_BYTES: u64 = 1 << 30;

/// One condition that needs the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `cable_pulled` or `disk_low`.
    pub kind: &'static str,
    pub what: String,
    pub action: String,
}

/// The alarms an agent's published state can raise, in the order [`of_state`] reports them.
pub const STATE_KINDS: [&str; 2] = ["cable_pulled", "disk_low"];

/// For each of [`STATE_KINDS`], the problem `state` shows, or `None` when that kind does not
/// hold (so a raised alarm of it can be cleared). `chain` is the rig's agents in chain order,
/// the master first: it says which jacks must be plugged and whose Sync Out feeds whom.
pub fn of_state(state: &AgentState, chain: &[&str]) -> [(&'static str, Option<Problem>); 2] {
    let index = chain.iter().position(|&n| n == state.name);
    let cable = match (state.jacks, index) {
        (Some(jacks), Some(i)) => {
            let upstream = i.checked_sub(1).and_then(|u| chain.get(u)).copied();
            cable(&state.name, i, chain.len(), upstream, jacks)
        }
        _ => None,
    };
    [("cable_pulled", cable), ("disk_low", disk(state))]
}

fn cable(
    name: &str,
    index: usize,
    count: usize,
    upstream: Option<&str>,
    jacks: Jacks,
) -> Option<Problem> {
    if count < 2 {
        return None;
    }
    let (what, action) = if index > 0 && !jacks.sync_in {
        let upstream = upstream.unwrap_or("the device before it");
        (
            format!("cable pulled: no plug in {name}'s Sync In"),
            format!(
                "plug the cable from {upstream}'s Sync Out into {name}'s Sync In; a take in \
                 progress has lost this camera's sync: stop it and record again"
            ),
        )
    } else if index == 0 && !jacks.sync_out {
        (
            format!("cable pulled: no plug in the master {name}'s Sync Out"),
            format!(
                "plug the chain's cable into {name}'s Sync Out; no subordinate gets pulses \
                 without it"
            ),
        )
    } else {
        return None;
    };
    Some(Problem {
        kind: "cable_pulled",
        what,
        action,
    })
}

fn disk(s: &AgentState) -> Option<Problem> {
    let free = s.free_disk_bytes.filter(|&f| f < DISK_LOW_BYTES)?;
    Some(Problem {
        kind: "disk_low",
        what: format!(
            "disk low on {}: {:.2} GiB free in {}",
            s.name,
            free as f64 / f64::from(1u32 << 30),
            s.data_dir
        ),
        action: format!(
            "free space on {}'s data directory or mount a larger disk; a recording that fills \
             the disk fails",
            s.name
        ),
    })
}
