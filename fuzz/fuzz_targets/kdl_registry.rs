//! The input as `fleet-registry.kdl` (fixed fleet files beside it) through the whole loader:
//! our KDL v2 parser, the KDL v1 fallback (the `kdl` crate) when v2 fails, lowering, the
//! cross-file checks, then what is done with the outcome. Nothing may panic or abort, not
//! even inside a parser `guarded` would catch: libFuzzer's panic hook aborts on any panic.
#![no_main]

use fleetflow_fuzz::{exercise, load_registry, text_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // FS-002 (a fleet without its file) on for even lengths, off for odd: both paths, and the
    // input stays the file as written.
    let result = load_registry(&text_of(data), data.len() % 2 == 0);
    exercise(&result);
});
