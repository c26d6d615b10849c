//! leanxl links dynamically against Xen 4.17's tool libraries (libxen-dev on the build host,
//! the same Debian 4.17 runtime libraries in the Xen host's dom0).
fn main() {
    for lib in ["xenctrl", "xenguest", "xenstore"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
