//! Link settings for the `latchkey` binary (not the library or the tests).
//!
//! Packed relative relocations (`DT_RELR`): a position-independent executable carries one relocation
//! per pointer in its read-only data (vtables, string tables), about 1.9 MiB of `.rela.dyn` here,
//! which the dynamic loader reads at every start and which then stays resident. `DT_RELR` encodes
//! the same relocations in a few KiB, so start-up touches less and idle memory drops; ASLR is kept.
//! GNU ld only packs them when the C library it links against supports them (glibc 2.36 and later,
//! which records the `GLIBC_ABI_DT_RELR` version so an older loader refuses the binary clearly);
//! otherwise it leaves the usual relocations, so the flag is safe to pass on any GNU/Linux target.
//!
//! Start-up code first (`link-order.txt`): when a process touches one page of its code, the kernel
//! maps the cached pages around it too (fault-around, 64 KiB), and they stay resident. Start-up
//! runs about 3,000 functions (2.9 MB of the 15 MB of machine code) spread over the whole binary,
//! so it used to leave 12.6 MB of code resident in an idle server. `link-order.txt` lists those
//! functions, and the linker puts them next to each other at the start of `.text`, so the idle
//! server maps little more than the code it ran. Names missing from the binary (the list was made
//! from an older build) are skipped without a warning: a stale list costs memory, never a build.
//! `bench/link-order.sh` regenerates the list; `bench/startup.sh` measures the effect.
//!
//! The option is LLD's (and mold's); GNU ld has no such option and would stop the link. Rust links
//! with its own LLD on `x86_64-unknown-linux-gnu` (the default since Rust 1.90), so the list is
//! passed there only, and not when the build names another linker through `RUSTFLAGS` or
//! Cargo's `linker` setting. `LATCHKEY_LINK_ORDER=0` turns it off.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=LATCHKEY_LINK_ORDER");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && target_env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    if links_with_rust_lld() && env::var("LATCHKEY_LINK_ORDER").as_deref() != Ok("0") {
        let manifest_dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        let list = Path::new(&manifest_dir).join("link-order.txt");
        if list.is_file() {
            println!("cargo:rustc-link-arg-bin=latchkey=-Wl,--symbol-ordering-file={}", list.display());
            println!("cargo:rustc-link-arg-bin=latchkey=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// True when rustc links this build with its bundled LLD: the target's default, and no linker
/// named in the flags or the environment.
fn links_with_rust_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    // Cargo sets RUSTC_LINKER when a linker is configured (`.cargo/config.toml` or
    // CARGO_TARGET_<triple>_LINKER).
    if env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    !flags
        .split('\x1f')
        .any(|flag| flag.contains("linker") || flag.contains("fuse-ld") || flag.contains("link-self-contained"))
}
