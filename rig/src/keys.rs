//! The rig's key expressions: the one place they are written.
//!
//! Every key lives under `k4sync/<rig>/`, so one rig never hears another on a shared network
//! and one access-control rule can cover a whole rig:
//!
//! | Key | Kind | Who writes | Payload |
//! |-----|------|------------|---------|
//! | `k4sync/<rig>/agent/<name>/state` | put on change (jacks read every 250 ms) and every second; also a queryable | agent | [`crate::msg::AgentState`] |
//! | `k4sync/<rig>/agent/<name>/cmd` | queryable (the reply is the answer) | coordinator only | [`crate::msg::Command`] → [`crate::msg::CommandReply`] |
//! | `k4sync/<rig>/agent/<name>/alive` | liveliness token | agent | — |
//! | `k4sync/<rig>/agent/<name>/health` | put every second while recording | agent | [`crate::msg::Health`] |
//! | `k4sync/<rig>/agent/<name>/frames` | put as images are recorded (about one per capture) | agent | [`crate::msg::Frames`] |
//!
//! `<name>` is the agent's node name, which is also the common name of its certificate, so the
//! access-control policy written by [`crate::init`] can bind keys to certificates.

use std::fmt;

/// Why a rig or node name cannot be used in a key expression or a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    pub name: String,
    pub what: &'static str,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} name {:?} is not usable: use 1 to 63 characters from a-z, 0-9, '-' and '_', \
             starting with a letter or digit",
            self.what, self.name
        )
    }
}

impl std::error::Error for NameError {}

/// The name the coordinator's certificate carries; the agents' policies accept commands only
/// from it.
pub const COORDINATOR: &str = "coordinator";

/// Checks a rig or node name: it becomes one chunk of a key expression and a certificate's
/// common name (and, for an agent, a DNS name), so only a conservative alphabet is allowed.
pub fn check_name(name: &str, what: &'static str) -> Result<(), NameError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(NameError {
            name: name.to_string(),
            what,
        })
    }
}

/// Everything under one rig.
pub fn rig_all(rig: &str) -> String {
    format!("k4sync/{rig}/**")
}

/// One agent's subtree.
pub fn agent_all(rig: &str, name: &str) -> String {
    format!("k4sync/{rig}/agent/{name}/**")
}

pub fn state(rig: &str, name: &str) -> String {
    format!("k4sync/{rig}/agent/{name}/state")
}

pub fn cmd(rig: &str, name: &str) -> String {
    format!("k4sync/{rig}/agent/{name}/cmd")
}

pub fn alive(rig: &str, name: &str) -> String {
    format!("k4sync/{rig}/agent/{name}/alive")
}

pub fn health(rig: &str, name: &str) -> String {
    format!("k4sync/{rig}/agent/{name}/health")
}

pub fn frames(rig: &str, name: &str) -> String {
    format!("k4sync/{rig}/agent/{name}/frames")
}

/// Every agent's per-frame timestamps.
pub fn all_frames(rig: &str) -> String {
    frames(rig, "*")
}

/// Every agent's health summaries.
pub fn all_health(rig: &str) -> String {
    health(rig, "*")
}

/// Every agent's state (subscription and status query).
pub fn all_states(rig: &str) -> String {
    state(rig, "*")
}

/// Every agent's liveliness token.
pub fn all_alive(rig: &str) -> String {
    alive(rig, "*")
}

/// The agent name in an agent key of `rig` (`k4sync/<rig>/agent/<name>/...`).
pub fn agent_of<'k>(rig: &str, key: &'k str) -> Option<&'k str> {
    let rest = key.strip_prefix("k4sync/")?.strip_prefix(rig)?;
    let rest = rest.strip_prefix("/agent/")?;
    rest.split('/').next().filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_name_is_read_back_from_each_of_its_keys() {
        for key in [
            state("r1", "sbc-2"),
            cmd("r1", "sbc-2"),
            alive("r1", "sbc-2"),
            health("r1", "sbc-2"),
            frames("r1", "sbc-2"),
        ] {
            assert_eq!(agent_of("r1", &key), Some("sbc-2"), "{key}");
        }
        assert_eq!(agent_of("r2", &state("r1", "a")), None);
        assert_eq!(agent_of("r1", "k4sync/r1/agent//state"), None);
    }

    #[test]
    fn names_that_would_break_a_key_or_a_certificate_are_refused() {
        assert!(check_name("sbc-1", "agent").is_ok());
        assert!(check_name("a_b9", "agent").is_ok());
        for bad in [
            "",
            "a/b",
            "*",
            "a*",
            "$x",
            "A",
            "-a",
            "a b",
            &"x".repeat(64),
        ] {
            let e = check_name(bad, "agent").expect_err(bad);
            assert!(e.to_string().contains("agent name"), "{e}");
        }
    }
}
