//! A store written outside dmseal runs dmseal's store checks through the
//! `test-util` feature, as a third-party store crate would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;

use dmseal::store::{MemoryStore, conformance};

#[test]
fn a_store_outside_the_crate_passes_the_exported_store_checks() {
    // `Arc<S>` is a store of its own (its impl forwards every call).
    conformance::check(|| Arc::new(MemoryStore::new()));
}
