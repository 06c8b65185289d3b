// Gives the shared object a versioned soname (libphysmap_hooks.so.<major>), so that the
// runtime linker and packagers see the ABI version: the major version of the crate is the
// ABI version of the C interface.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libphysmap_hooks.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
