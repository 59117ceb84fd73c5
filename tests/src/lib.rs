//! End-to-end tests of k4sync: the integration tests live in `tests/`; this library holds
//! helpers they share.
