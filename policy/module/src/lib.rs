//! The policy module's exports: the eight-word input of `erasure_policy_rules::wire`
//! as arguments, the packed decision as the result. No imports, no allocator.

#![cfg_attr(target_arch = "wasm32", no_std)]

use erasure_policy_rules::wire;

/// Exports `$name`, which hands the eight argument words to `$decide`.
macro_rules! export {
    ($name:ident, $decide:path) => {
        #[unsafe(no_mangle)]
        #[allow(clippy::too_many_arguments)]
        pub extern "C" fn $name(
            w0: u64,
            w1: u64,
            w2: u64,
            w3: u64,
            w4: u64,
            w5: u64,
            w6: u64,
            w7: u64,
        ) -> u32 {
            wire::pack($decide(&[w0, w1, w2, w3, w4, w5, w6, w7]))
        }
    };
}

export!(decide, wire::decide_words);
export!(may_attempt, wire::may_attempt_words);

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
