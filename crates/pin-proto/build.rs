//! Compiles `proto/inps/pin/v1/*.proto` with protox (no system `protoc` needed) into prost
//! messages and tonic clients and servers, and writes the encoded file descriptor set that
//! server reflection serves.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let package_dir = proto_root.join("inps/pin/v1");
    let mut files: Vec<PathBuf> = fs::read_dir(&package_dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed={}", package_dir.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptors = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("inps_pin_v1_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    tonic_prost_build::configure()
        // RPCs whose behaviour is not built yet answer UNIMPLEMENTED through the default
        // method bodies; an implemented RPC overrides its default.
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
