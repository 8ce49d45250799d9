//! What a `no_std` guest needs from the SDK on `wasm32`: an allocator and a panic handler.
//!
//! Without the `std` feature the SDK provides both, so a policy links no `std` and its
//! component imports nothing from WASI. With `std` (or natively) `std` provides them.

#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[global_allocator]
static ALLOCATOR: heap::Heap = heap::Heap::new();

/// The guest's heap: dlmalloc whose first region is an arena in the module's own zeroed data
/// (`.bss`), so a typical decision never executes `memory.grow`.
///
/// Every decision runs in a fresh instance, and growing linear memory is what costs there:
/// the host must change page protections (an `mprotect` and a TLB flush) to make the new
/// pages accessible and again to take them back before the slot is reused. Pages of the
/// arena that a decision never touches cost nothing: they are neither in the module's data
/// image nor resident. dlmalloc still grows memory when a decision needs more than the arena.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[allow(unsafe_code)] // a global allocator and its system interface are `unsafe` traits
mod heap {
    use core::alloc::{GlobalAlloc, Layout};
    use core::arch::wasm32;
    use core::cell::UnsafeCell;

    use dlmalloc::Dlmalloc;

    /// Size of the arena: enough for the requests and settings policies see.
    const ARENA_BYTES: usize = 256 << 10;
    /// Wasm page size.
    const PAGE: usize = 64 << 10;

    #[repr(C, align(16))]
    struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

    /// Where the memory dlmalloc manages comes from: the arena once, then `memory.grow`.
    struct Source {
        arena: Arena,
        arena_taken: UnsafeCell<bool>,
    }

    // SAFETY: `wasm32` guests built by the SDK are single-threaded (no shared memory, no
    // threads proposal), so nothing is ever accessed concurrently.
    unsafe impl Sync for Source {}

    static SOURCE: Source = Source {
        arena: Arena(UnsafeCell::new([0; ARENA_BYTES])),
        arena_taken: UnsafeCell::new(false),
    };

    /// dlmalloc's view of [`SOURCE`].
    struct System;

    // SAFETY: regions handed out are never handed out twice (the arena once, grown pages are
    // new) and are zeroed (`.bss` and fresh pages), as `allocates_zeros` says.
    unsafe impl dlmalloc::Allocator for System {
        fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
            // SAFETY: single-threaded, see `Source`.
            let taken = unsafe { &mut *SOURCE.arena_taken.get() };
            if !*taken && size <= ARENA_BYTES {
                *taken = true;
                return (SOURCE.arena.0.get().cast(), ARENA_BYTES, 0);
            }
            let pages = size.div_ceil(PAGE);
            let previous = wasm32::memory_grow(0, pages);
            if previous == usize::MAX {
                return (core::ptr::null_mut(), 0, 0);
            }
            ((previous * PAGE) as *mut u8, pages * PAGE, 0)
        }

        fn remap(&self, _: *mut u8, _: usize, _: usize, _: bool) -> *mut u8 {
            core::ptr::null_mut()
        }

        fn free_part(&self, _: *mut u8, _: usize, _: usize) -> bool {
            false
        }

        fn free(&self, _: *mut u8, _: usize) -> bool {
            false
        }

        fn can_release_part(&self, _: u32) -> bool {
            false
        }

        fn allocates_zeros(&self) -> bool {
            true
        }

        fn page_size(&self) -> usize {
            PAGE
        }
    }

    /// The global allocator: dlmalloc over [`System`].
    pub(super) struct Heap(UnsafeCell<Dlmalloc<System>>);

    // SAFETY: single-threaded, see `Source`.
    unsafe impl Sync for Heap {}

    impl Heap {
        pub(super) const fn new() -> Self {
            Self(UnsafeCell::new(Dlmalloc::new_with_allocator(System)))
        }

        #[allow(clippy::mut_from_ref)]
        fn dlmalloc(&self) -> &mut Dlmalloc<System> {
            // SAFETY: single-threaded and not reentrant (dlmalloc never calls back into the
            // global allocator), so this is the only reference while it lives.
            unsafe { &mut *self.0.get() }
        }
    }

    // SAFETY: forwards to dlmalloc, which upholds `GlobalAlloc`'s contract for the layouts
    // it is given.
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded contract.
            unsafe { self.dlmalloc().malloc(layout.size(), layout.align()) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded contract.
            unsafe { self.dlmalloc().calloc(layout.size(), layout.align()) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded contract.
            unsafe { self.dlmalloc().free(ptr, layout.size(), layout.align()) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded contract.
            unsafe {
                self.dlmalloc()
                    .realloc(ptr, layout.size(), layout.align(), new_size)
            }
        }
    }
}

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
