//! Helpers shared by the integration tests: the real-xenstored sandbox, QEMU's way of
//! writing records, the hand-written section vectors, and scratch directories. Each test binary uses a subset, hence the
//! `dead_code` allowance.
#![allow(dead_code)]
pub mod qemu;
pub mod sandbox;
pub mod vectors;

use std::path::PathBuf;

/// A fresh directory for a test's files, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        TempDir(sandbox::fresh_dir())
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
