//! What a `no_std` guest needs from the SDK on `wasm32`: an allocator and a panic handler.
//!
//! Without the `std` feature the SDK provides both, so a policy links no `std` and its
//! component imports nothing from WASI. With `std` (or natively) `std` provides them.

#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[global_allocator]
static ALLOCATOR: heap::Heap = heap::Heap::new();

/// The guest's heap: a bump arena in the module's own zeroed data (`.bss`), then dlmalloc over
/// pages from `memory.grow` once the arena cannot serve a request.
///
/// Every decision runs in a fresh instance that is thrown away after one call, so most of what
/// a general-purpose allocator does (free lists, coalescing, reuse) is wasted work there:
/// allocating from the arena is a pointer bump, freeing is nothing (or a rollback of the most
/// recent allocation, which also lets a growing vector grow in place). The arena never needs
/// `memory.grow`, which costs the host an `mprotect` and a TLB flush to make new pages
/// accessible and again to take them back. A policy whose call allocates more than the arena
/// holds carries on with a real allocator (dlmalloc), so its memory use stays what it would
/// be anywhere else; pages of the arena a call never touches cost nothing.
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

    // SAFETY: single-threaded, see `Heap`.
    unsafe impl Sync for Arena {}

    /// The arena: all zeros, so it lands in `.bss` and adds nothing to the module's data image
    /// (a static of its own: dlmalloc's initial state is not all zeros).
    static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));

    /// Where dlmalloc's memory comes from: `memory.grow` only (the arena is the bump part's).
    struct System;

    // SAFETY: regions handed out are new pages, never handed out twice, and zeroed, as
    // `allocates_zeros` says.
    unsafe impl dlmalloc::Allocator for System {
        fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
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

    /// The global allocator: the bump arena, then dlmalloc.
    pub(super) struct Heap {
        /// Offset of the arena's first free byte.
        next: UnsafeCell<usize>,
        /// One past the offset of the most recent arena allocation; 0 when it cannot be rolled
        /// back.
        last: UnsafeCell<usize>,
        dlmalloc: UnsafeCell<Dlmalloc<System>>,
    }

    // SAFETY: `wasm32` guests built by the SDK are single-threaded (no shared memory, no
    // threads proposal), so nothing is ever accessed concurrently.
    unsafe impl Sync for Heap {}

    impl Heap {
        pub(super) const fn new() -> Self {
            Self {
                next: UnsafeCell::new(0),
                last: UnsafeCell::new(0),
                dlmalloc: UnsafeCell::new(Dlmalloc::new_with_allocator(System)),
            }
        }

        #[allow(clippy::mut_from_ref)]
        fn dlmalloc(&self) -> &mut Dlmalloc<System> {
            // SAFETY: single-threaded and not reentrant (dlmalloc never calls back into the
            // global allocator), so this is the only reference while it lives.
            unsafe { &mut *self.dlmalloc.get() }
        }

        fn base(&self) -> usize {
            ARENA.0.get() as usize
        }

        /// The offset of `ptr` in the arena, if it points into it.
        fn offset(&self, ptr: *mut u8) -> Option<usize> {
            (ptr as usize)
                .checked_sub(self.base())
                .filter(|&offset| offset < ARENA_BYTES)
        }

        /// Bumps a block of `layout` out of the arena, if it still fits.
        fn bump(&self, layout: Layout) -> Option<*mut u8> {
            // SAFETY: single-threaded, see `Sync`; no other reference to these cells lives.
            let (next, last) = unsafe { (&mut *self.next.get(), &mut *self.last.get()) };
            let start = (self.base() + *next).next_multiple_of(layout.align()) - self.base();
            let end = start.checked_add(layout.size())?;
            if end > ARENA_BYTES {
                return None;
            }
            (*last, *next) = (start + 1, end);
            Some((self.base() + start) as *mut u8)
        }

        /// Gives arena block `offset` back if it is the most recent allocation.
        fn roll_back(&self, offset: usize) {
            // SAFETY: single-threaded, see `Sync`.
            let (next, last) = unsafe { (&mut *self.next.get(), &mut *self.last.get()) };
            if *last == offset + 1 {
                (*next, *last) = (offset, 0);
            }
        }

        /// Grows or shrinks arena block `offset` in place if it is the most recent allocation
        /// and the arena has room.
        fn resize_in_place(&self, offset: usize, new_size: usize) -> bool {
            // SAFETY: single-threaded, see `Sync`.
            let (next, last) = unsafe { (&mut *self.next.get(), &*self.last.get()) };
            match offset.checked_add(new_size) {
                Some(end) if *last == offset + 1 && end <= ARENA_BYTES => {
                    *next = end;
                    true
                }
                _ => false,
            }
        }
    }

    // SAFETY: arena blocks are aligned, in bounds and disjoint (the bump pointer only moves
    // back over the most recent block, once it is freed or resized); everything else is
    // forwarded to dlmalloc, which upholds `GlobalAlloc`'s contract for the layouts it is given.
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            match self.bump(layout) {
                Some(ptr) => ptr,
                // SAFETY: forwarded contract.
                None => unsafe { self.dlmalloc().malloc(layout.size(), layout.align()) },
            }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            match self.bump(layout) {
                Some(ptr) => {
                    // SAFETY: the block was just bumped: in bounds for `layout.size()` bytes.
                    // (A rolled-back block may have been written, so zero it.)
                    unsafe { ptr.write_bytes(0, layout.size()) };
                    ptr
                }
                // SAFETY: forwarded contract.
                None => unsafe { self.dlmalloc().calloc(layout.size(), layout.align()) },
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            match self.offset(ptr) {
                Some(offset) => self.roll_back(offset),
                // SAFETY: forwarded contract.
                None => unsafe { self.dlmalloc().free(ptr, layout.size(), layout.align()) },
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let Some(offset) = self.offset(ptr) else {
                // SAFETY: forwarded contract.
                return unsafe {
                    self.dlmalloc()
                        .realloc(ptr, layout.size(), layout.align(), new_size)
                };
            };
            if self.resize_in_place(offset, new_size) {
                return ptr;
            }
            // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: forwarded contract (non-zero size).
            let new = unsafe { self.alloc(new_layout) };
            if !new.is_null() {
                // SAFETY: both blocks are valid for the smaller size and do not overlap (the
                // old block is live, so the new one was carved elsewhere).
                unsafe { new.copy_from_nonoverlapping(ptr, layout.size().min(new_size)) };
                self.roll_back(offset);
            }
            new
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
