//! The `inps.pin.v1` gRPC contract: prost messages and tonic clients and servers generated
//! from `proto/inps/pin/v1`, plus the encoded file descriptor set for server reflection.
//!
//! Architecture invariant: this crate knows tonic and prost only. It never sees the domain;
//! conversions between these messages and domain values live in `pin-server`.

#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]

/// Everything generated from package `inps.pin.v1`.
pub mod v1 {
    tonic::include_proto!("inps.pin.v1");
}

/// The encoded `FileDescriptorSet` of the whole contract (with its imports), for
/// `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/inps_pin_v1_descriptor.bin"));
