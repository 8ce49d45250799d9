//! What a `no_std` guest needs from the SDK on `wasm32`: an allocator and a panic handler.
//!
//! Without the `std` feature the SDK provides both, so a policy links no `std` and its
//! component imports nothing from WASI. With `std` (or natively) `std` provides them.

/// The guest's heap: dlmalloc over pages from `memory.grow`, as Rust's own `wasm32` targets
/// use it.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic traps at once: there is no stderr to print to, and the host turns the trap into a
/// deny with a diagnostic.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocator entry point, through which the host writes arguments (strings,
/// lists) into the guest. It must allocate from the same allocator Rust frees them with: the
/// global allocator above. (With `std` on `wasm32-wasip2`, wasi-libc exports one over `malloc`,
/// which is then the global allocator too.)
///
/// # Safety
/// Called by the host only, with the canonical ABI's contract: `old_ptr`/`old_len`/`align`
/// describe an allocation made by this function, or `old_len` is zero.
// A symbol exported under a fixed name, called across the component boundary: this needs
// `no_mangle` and `extern "C"`, so `unsafe` cannot be avoided here.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};

    if new_len == 0 {
        // A zero-sized allocation: any well-aligned non-null pointer will do.
        return align as *mut u8;
    }
    let ptr = match (
        old_len,
        Layout::from_size_align(old_len.max(new_len), align),
    ) {
        (_, Err(_)) => core::ptr::null_mut(),
        // SAFETY: `layout` has a non-zero size (`new_len` is not zero).
        (0, Ok(layout)) => unsafe { alloc(layout) },
        (_, Ok(_)) => match Layout::from_size_align(old_len, align) {
            // SAFETY: the caller guarantees `old_ptr` was allocated by this function with
            // `old_len` and `align`, i.e. by the global allocator with this layout.
            Ok(old) => unsafe { realloc(old_ptr, old, new_len) },
            Err(_) => core::ptr::null_mut(),
        },
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable()
    }
    ptr
}
