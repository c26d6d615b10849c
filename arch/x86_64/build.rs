//! Puts the guest linker script on the link search path of every binary that depends on this
//! crate; `.cargo/config.toml` passes `-Tminios-x86_64.ld` for the guest target.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::copy("minios-x86_64.ld", out.join("minios-x86_64.ld")).expect("copy linker script");
    println!("cargo:rustc-link-search={}", out.display());
    // cargo does not relink when only a linker script changes unless told to.
    println!("cargo:rerun-if-changed=minios-x86_64.ld");
}
