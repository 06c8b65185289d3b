//! Helpers shared by the integration tests: the real-xenstored sandbox and the hand-written
//! section vectors. Each test binary uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]
pub mod sandbox;
pub mod vectors;
