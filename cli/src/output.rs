//! Output formatting shared by the subcommands' `--json` modes.

/// `s` as a JSON string literal, quotes and escapes included.
pub fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
