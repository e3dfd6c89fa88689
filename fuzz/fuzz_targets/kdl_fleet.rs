//! The input as fleets/web/.fleetflow/fleet.kdl under the fixed registry (the sample's),
//! through the whole loader and what is done with the outcome. Nothing may panic or abort.
#![no_main]

use fleetflow_fuzz::{exercise, load_fleet, text_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise(&load_fleet(&text_of(data)));
});
