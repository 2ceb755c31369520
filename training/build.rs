//! Gives binaries that link libtorch a run path to it, so they run without
//! LD_LIBRARY_PATH: this crate's tests directly, and dependents through
//! `DEP_POLYMPC_TORCH_LIBDIR`. `LIBTORCH` comes from .cargo/config.toml (scripts/setup).
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib = std::env::var_os("LIBTORCH")
        .and_then(|t| std::fs::canonicalize(std::path::Path::new(&t).join("lib")).ok());
    match lib {
        Some(lib) => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
            println!("cargo:libdir={}", lib.display());
        }
        None => println!(
            "cargo:warning=LIBTORCH is not set or has no lib/ folder: run scripts/setup; \
             binaries will need LD_LIBRARY_PATH to find libtorch"
        ),
    }
}
