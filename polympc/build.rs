//! With the `train` feature the binary links libtorch: give it (and the tests) a run
//! path to it, from the training crate's build script, so no LD_LIBRARY_PATH is needed.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_POLYMPC_TORCH_LIBDIR");
    if let Some(dir) = std::env::var_os("DEP_POLYMPC_TORCH_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
