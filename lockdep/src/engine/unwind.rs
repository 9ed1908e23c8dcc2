//! The cached unwinder ([`Unwinder::Cached`](crate::Unwinder::Cached)):
//! a stack capture that computes each return address's unwind rule once and
//! reuses it, where libgcc's `_Unwind_Backtrace` finds the FDE and
//! interprets its DWARF CFI afresh for every frame of every capture (about
//! 2,000 instructions a frame).
//!
//! Built on x86_64 and aarch64 Linux (glibc) only, on framehop's unwinder
//! and rule cache:
//!
//! * the modules (executable and shared objects) come from `dl_iterate_phdr`:
//!   each one's executable `PT_LOAD` range, its `.eh_frame_hdr` (the
//!   `PT_GNU_EH_FRAME` segment) and its `.eh_frame` (from the header's
//!   pointer to the end of the `PT_LOAD` segment holding it), all read in
//!   place from the mapped image;
//! * the loader's counters of loaded and unloaded objects (`dlpi_adds`,
//!   `dlpi_subs`) are read at every capture: when either moved, the module
//!   list is built again before the walk, so the walk never reads unwind data
//!   of an object that was unloaded (a return address on the stack belongs to
//!   an object loaded before the capture began);
//! * the walk starts in [`capture`]'s own frame, from registers read by
//!   inline assembly; every stack read is bounds-checked against the live
//!   part of the current thread's stack: from the stack pointer at the
//!   capture to the stack's top (`pthread_getattr_np`, once per thread);
//! * the module list is shared (an `Arc` behind a lock held only to clone or
//!   replace it: a few `try_lock`s, then a wait, which cannot be long — but
//!   never a wait in a forked child, where a thread of the parent may have
//!   held it at the fork: that child falls back instead); the rule caches
//!   are per thread (four, an address's picked by a hash: framehop's are
//!   direct-mapped): no lock is held while walking.
//!
//! Anything it cannot vouch for — a stack pointer outside the thread's
//! stack (an alternate signal stack, a coroutine's), a read out of bounds,
//! a return address in no known module or null, an unwind error, the lock
//! of the module list not had within its tries, a capture re-entered on the
//! thread (a signal handler's) — makes [`capture`] return `false`, and the
//! caller captures with `backtrace::trace` (libgcc) instead. Where the walk
//! ends is where libgcc ends it: at a frame whose CFI leaves the return
//! address undefined (`_start`, `clone3`), less the null "frame" libgcc
//! reports after it.
//!
//! The frames are return addresses (as libgcc's `_Unwind_GetIP` gives
//! them), the first one the return address into [`capture`]'s caller.

#[cfg(all(target_os = "linux", target_env = "gnu", any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) use imp::capture;

/// No cached unwinder on this platform: every capture is libgcc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu", any(target_arch = "x86_64", target_arch = "aarch64"))))]
pub(crate) fn capture(_max_frames: usize, _ips: &mut Vec<usize>) -> bool {
    false
}

#[cfg(all(target_os = "linux", target_env = "gnu", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use std::cell::{Cell, RefCell};
    use std::ffi::{c_int, c_void};
    use std::ops::Range;
    use std::sync::{Arc, Mutex, TryLockError};

    use framehop::{
        CacheNative, ExplicitModuleSectionInfo, FrameAddress, MayAllocateDuringUnwind, Module, UnwindRegsNative,
        Unwinder as _, UnwinderNative,
    };

    /// Section data: read in place from the mapped image.
    type Data = &'static [u8];

    /// The unwinder of the loaded modules, shared by every thread.
    struct Modules {
        unwinder: UnwinderNative<Data, MayAllocateDuringUnwind>,
        /// The executable ranges of the modules, sorted by start.
        text: Vec<Range<u64>>,
        /// The loader's counters when the module list was read.
        counters: (u64, u64),
    }

    /// The known module's code range `addr` is in (`text` sorted by start).
    fn known(text: &[Range<u64>], addr: u64) -> Option<&Range<u64>> {
        let i = text.partition_point(|r| r.start <= addr);
        text.get(i.checked_sub(1)?).filter(|r| addr < r.end)
    }

    /// The current module list (replaced when the loader's counters move).
    /// Locked only to clone or replace the `Arc` (see [`locked`]).
    static MODULES: Mutex<Option<Arc<Modules>>> = Mutex::new(None);

    thread_local! {
        /// This thread's stack, `[low, high)`; `(0, 0)`: not read yet;
        /// `(1, 1)`: unavailable (every capture then falls back).
        static STACK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        /// This thread's rule caches: per thread, so that no lock is held
        /// while walking (framehop's cache is keyed by the module list's
        /// generation, so a new list makes it miss, never mislead).
        static CACHE: RefCell<Option<Box<Caches>>> = const { RefCell::new(None) };
    }

    /// How many rule caches a thread has. framehop's cache is direct-mapped
    /// (509 slots, by address): two hot return addresses that share a slot
    /// evict each other, and each then costs a DWARF CFI evaluation (~3,000
    /// instructions) at every capture. With one cache and 20 distinct
    /// addresses in a stack that happens one time in three; hashing
    /// addresses over four caches still left it to chance (a change of code
    /// layout elsewhere doubled a traced new edge's time in the `graph`
    /// bench). [`Caches::pick`] places them instead: an address goes to a
    /// cache whose slot for it is free, so two hot addresses evict each other
    /// only when five share a slot. A cache is ~12 KiB.
    const CACHES: usize = 4;

    /// Slots of framehop 0.15's rule cache (`address % SLOTS` is an
    /// address's slot). Were it different, placement would only be as good
    /// as chance; the rules found stay right.
    const SLOTS: usize = 509;

    /// A thread's rule caches, and which address each of their slots was
    /// given to (0: none; cache `c`'s slot `s` at `c * SLOTS + s`, on the
    /// heap: a capture may run on a small stack).
    struct Caches {
        rules: [CacheNative<MayAllocateDuringUnwind>; CACHES],
        owners: Box<[u64]>,
    }

    impl Caches {
        fn new() -> Box<Self> {
            let owners = vec![0; CACHES * SLOTS].into_boxed_slice();
            Box::new(Caches { rules: std::array::from_fn(|_| CacheNative::new()), owners })
        }

        /// The cache for the rule of the lookup address `addr`: the one its
        /// slot was given to before, else one whose slot is free, else (all
        /// four taken by other addresses) one by hash, which takes the slot.
        fn pick(&mut self, addr: u64) -> usize {
            let slot = (addr % SLOTS as u64) as usize;
            let owner = |c: usize| c * SLOTS + slot;
            if let Some(c) = (0..CACHES).find(|&c| self.owners.get(owner(c)) == Some(&addr)) {
                return c;
            }
            let c = (0..CACHES).find(|&c| self.owners.get(owner(c)) == Some(&0)).unwrap_or_else(|| cache_of(addr));
            if let Some(o) = self.owners.get_mut(owner(c)) {
                *o = addr;
            }
            c
        }
    }

    /// A cache by a multiplicative hash of the address (its top bits,
    /// independent of the slot): where [`Caches::pick`] puts an address
    /// whose slot is taken in every cache.
    fn cache_of(lookup: u64) -> usize {
        (lookup.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 62) as usize % CACHES
    }

    /// The module list for the loader's `counters`, built anew if they moved.
    fn modules(counters: (u64, u64)) -> Option<Arc<Modules>> {
        let current = locked(|m| m.clone())?;
        if let Some(m) = current.filter(|m| m.counters == counters) {
            return Some(m);
        }
        // Built outside the lock (it calls into the loader). If the
        // counters moved again meanwhile, the list is newer than `counters`,
        // which is as good: every frame on this stack belongs to an object
        // loaded before they were read.
        let fresh = Arc::new(load_modules()?);
        locked(|m| *m = Some(fresh.clone()));
        Some(fresh)
    }

    /// `f` on the module list. Its lock is only ever held to clone or
    /// replace an `Arc`, so a holder always lets go soon: after a few tries
    /// (its holder was preempted: on a loaded machine a few yields are not
    /// always enough) this thread waits for it. Not in a forked child: a
    /// thread of the parent may have held it at the fork, and nobody would
    /// ever release it there — `None` then, and the capture falls back.
    fn locked<R>(f: impl FnOnce(&mut Option<Arc<Modules>>) -> R) -> Option<R> {
        for _ in 0..64 {
            match MODULES.try_lock() {
                Ok(mut g) => return Some(f(&mut g)),
                Err(TryLockError::Poisoned(_)) => return None,
                Err(TryLockError::WouldBlock) => std::thread::yield_now(),
            }
        }
        if crate::fork::in_forked_child() {
            return None;
        }
        MODULES.lock().ok().map(|mut g| f(&mut g))
    }

    /// The registers the walk starts from: the program counter, stack
    /// pointer and frame pointer (and link register on aarch64) of the
    /// function this expands in, at this point of it.
    macro_rules! registers {
        () => {{
            #[cfg(target_arch = "x86_64")]
            {
                let (pc, sp, fp): (u64, u64, u64);
                // SAFETY: reads three registers into outputs; no memory is
                // touched, the stack and flags are left as they are.
                unsafe {
                    std::arch::asm!(
                        "lea {pc}, [rip]",
                        "mov {sp}, rsp",
                        "mov {fp}, rbp",
                        pc = out(reg) pc,
                        sp = out(reg) sp,
                        fp = out(reg) fp,
                        options(nomem, nostack, preserves_flags)
                    );
                }
                (pc, sp, fp, 0u64)
            }
            #[cfg(target_arch = "aarch64")]
            {
                let (pc, sp, fp, lr): (u64, u64, u64, u64);
                // SAFETY: reads four registers into outputs; no memory is
                // touched, the stack and flags are left as they are.
                unsafe {
                    std::arch::asm!(
                        "adr {pc}, .",
                        "mov {sp}, sp",
                        "mov {fp}, x29",
                        "mov {lr}, x30",
                        pc = out(reg) pc,
                        sp = out(reg) sp,
                        fp = out(reg) fp,
                        lr = out(reg) lr,
                        options(nomem, nostack, preserves_flags)
                    );
                }
                (pc, sp, fp, lr)
            }
        }};
    }

    /// Appends to `ips` the return addresses of the current stack, from the
    /// one into this function's caller outwards, at most `max_frames` (at
    /// least 1) in all. `false`: the walk could not be vouched for (see the
    /// module's documentation) and `ips` is to be captured again another way.
    #[inline(never)]
    pub(crate) fn capture(max_frames: usize, ips: &mut Vec<usize>) -> bool {
        let (pc, sp, fp, lr) = registers!();
        let Some((stack_low, high)) = stack_bounds() else { return false };
        // The walk reads the live stack only: from here to the top. (Below
        // the stack pointer lies what the walk's own calls overwrite.) A
        // stack pointer outside the thread's stack is on another stack (a
        // signal's alternate stack, a coroutine's): not walked here.
        if !(stack_low..high).contains(&sp) {
            return false;
        }
        let Some(counters) = loader_counters() else { return false };
        let Some(modules) = modules(counters) else { return false };
        let walked = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else { return false };
            let caches = cache.get_or_insert_with(Caches::new);
            walk(&modules, caches, (pc, sp, fp, lr), high, max_frames, ips)
        });
        walked.unwrap_or(false)
    }

    /// The walk of [`capture`], from its registers `(pc, sp, fp, lr)`, over
    /// the stack `[sp, high)`.
    fn walk(
        modules: &Modules,
        caches: &mut Caches,
        (pc, sp, fp, lr): (u64, u64, u64, u64),
        high: u64,
        max_frames: usize,
        ips: &mut Vec<usize>,
    ) -> bool {
        let (unwinder, low) = (&modules.unwinder, sp);
        // Most frames are in the module of the frame before: try it first.
        let mut last = 0..0;
        let mut known = |addr: u64| {
            last.contains(&addr) || {
                let found = known(&modules.text, addr);
                if let Some(r) = found {
                    last = r.clone();
                }
                found.is_some()
            }
        };
        let mut read_stack = |addr: u64| -> Result<u64, ()> {
            match addr.checked_add(8) {
                Some(end) if addr >= low && end <= high && addr % 8 == 0 => {
                    // SAFETY: `[addr, addr + 8)` lies between the stack
                    // pointer in `capture` (a live frame: this walk runs in
                    // its callees) and the top of this thread's stack
                    // (checked to hold that stack pointer): mapped, readable
                    // memory of live frames, aligned. Volatile: the compiler
                    // may assume nothing about its contents.
                    Ok(unsafe { std::ptr::read_volatile(addr as *const u64) })
                }
                _ => Err(()),
            }
        };
        #[cfg(target_arch = "x86_64")]
        let regs = {
            let _ = lr;
            UnwindRegsNative::new(pc, sp, fp)
        };
        #[cfg(target_arch = "aarch64")]
        let regs = {
            let mask = framehop::aarch64::PtrAuthMask::from_max_known_address(unwinder.max_known_code_address());
            UnwindRegsNative::new_with_ptr_auth_mask(mask, lr, sp, fp)
        };
        let mut regs = regs;
        // This function's own frame first: its registers are the walk's start.
        let mut address = FrameAddress::from_instruction_pointer(pc);
        let start = ips.len();
        loop {
            let c = caches.pick(address.address_for_lookup());
            let Some(cache) = caches.rules.get_mut(c) else { return false };
            match unwinder.unwind_frame(address, &mut regs, cache, &mut read_stack) {
                Ok(Some(ra)) => {
                    // A null return address: no frame libgcc would walk on from.
                    let Some(next) = FrameAddress::from_return_address(ra) else { return false };
                    ips.push(ra as usize);
                    if ips.len() - start >= max_frames {
                        return true;
                    }
                    // The next step unwinds this frame: its code must be in
                    // a module whose unwind data is known (libgcc would
                    // stop here, or know of code registered with it).
                    if !known(next.address_for_lookup()) {
                        return false;
                    }
                    address = next;
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    /// This thread's stack `[low, high)`, read once per thread.
    fn stack_bounds() -> Option<(u64, u64)> {
        let bounds = STACK.try_with(|s| {
            if s.get() == (0, 0) {
                s.set(read_stack_bounds().unwrap_or((1, 1)));
            }
            s.get()
        });
        bounds.ok().filter(|&(low, high)| low < high)
    }

    fn read_stack_bounds() -> Option<(u64, u64)> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        // SAFETY: `attr` is written by pthread_getattr_np before anything
        // reads it (only on success, checked), and destroyed once after.
        unsafe {
            if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
                return None;
            }
            let (mut addr, mut size) = (std::ptr::null_mut::<c_void>(), 0usize);
            let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
            libc::pthread_attr_destroy(attr.as_mut_ptr());
            if rc != 0 || addr.is_null() {
                return None;
            }
            let low = addr as u64;
            Some((low, low.checked_add(size as u64)?))
        }
    }

    /// The loader's counts of objects loaded and unloaded so far.
    fn loader_counters() -> Option<(u64, u64)> {
        /// `dl_iterate_phdr`'s callback: the counters of the first object,
        /// then stop.
        ///
        /// # Safety
        /// Called by the loader only: `info` valid for `size` bytes, `data`
        /// the `Option<(u64, u64)>` passed with it.
        unsafe extern "C" fn first(info: *mut libc::dl_phdr_info, size: usize, data: *mut c_void) -> c_int {
            // SAFETY: the loader passes a valid `info` of `size` bytes for
            // the duration of the call; `data` is the `Option` below.
            unsafe {
                let out = &mut *(data as *mut Option<(u64, u64)>);
                *out = counters_of(info, size);
            }
            1 // one object is enough: the counters are the process's
        }
        let mut out: Option<(u64, u64)> = None;
        // SAFETY: the callback only writes `out`, which outlives the call,
        // and cannot unwind.
        unsafe {
            libc::dl_iterate_phdr(Some(first), (&mut out as *mut Option<(u64, u64)>).cast());
        }
        out
    }

    /// `dlpi_adds`, `dlpi_subs` of `info` when the loader's struct has them.
    ///
    /// # Safety
    /// `info` points to a `dl_phdr_info` of `size` bytes, valid for the call.
    unsafe fn counters_of(info: *const libc::dl_phdr_info, size: usize) -> Option<(u64, u64)> {
        let needed = std::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) + size_of::<libc::c_ulonglong>();
        if size < needed {
            return None;
        }
        // SAFETY: `size` covers both fields (checked above); the caller vouches for `info`.
        let info = unsafe { &*info };
        Some((info.dlpi_adds, info.dlpi_subs))
    }

    /// Where one loaded object's code and unwind data are (addresses in
    /// the process).
    struct Raw {
        base: u64,
        text: Range<u64>,
        eh_frame_hdr: Range<u64>,
        eh_frame: Range<u64>,
    }

    /// A new unwinder for the objects loaded now (`None`: the loader's
    /// struct lacks the counters).
    fn load_modules() -> Option<Modules> {
        struct Found {
            objects: Vec<Raw>,
            counters: Option<(u64, u64)>,
        }
        /// `dl_iterate_phdr`'s callback: each object's code and unwind data.
        ///
        /// # Safety
        /// Called by the loader only: `info` valid for `size` bytes and its
        /// object loaded, `data` the `Found` passed with it.
        unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, size: usize, data: *mut c_void) -> c_int {
            // SAFETY: the loader passes a valid `info` of `size` bytes whose
            // program headers and segments are mapped while the object is
            // loaded; `data` is the `Found` below.
            unsafe {
                let found = &mut *(data as *mut Found);
                if found.counters.is_none() {
                    found.counters = counters_of(info, size);
                }
                if let Some(raw) = raw_of(&*info) {
                    found.objects.push(raw);
                }
            }
            0
        }
        let mut found = Found { objects: Vec::with_capacity(16), counters: None };
        // SAFETY: the callback only writes `found`, which outlives the call,
        // and cannot panic (no indexing, checked arithmetic).
        unsafe {
            libc::dl_iterate_phdr(Some(each), (&mut found as *mut Found).cast());
        }
        let counters = found.counters?;
        let mut unwinder = UnwinderNative::new();
        let mut text = Vec::with_capacity(found.objects.len());
        for raw in found.objects {
            let len = |r: &Range<u64>| usize::try_from(r.end.checked_sub(r.start)?).ok();
            let (Some(hdr_len), Some(eh_len)) = (len(&raw.eh_frame_hdr), len(&raw.eh_frame)) else { continue };
            // SAFETY: both ranges lie in loaded segments of an object loaded
            // when the counters were read (`raw_of`); they stay mapped until
            // it is unloaded, which moves the counters and makes the next
            // capture rebuild the list before it walks.
            let (hdr_data, eh_data): (Data, Data) = unsafe {
                (
                    std::slice::from_raw_parts(raw.eh_frame_hdr.start as *const u8, hdr_len),
                    std::slice::from_raw_parts(raw.eh_frame.start as *const u8, eh_len),
                )
            };
            let svma = |r: &Range<u64>| r.start.wrapping_sub(raw.base)..r.end.wrapping_sub(raw.base);
            let info = ExplicitModuleSectionInfo {
                base_svma: 0,
                text_svma: Some(svma(&raw.text)),
                eh_frame_hdr_svma: Some(svma(&raw.eh_frame_hdr)),
                eh_frame_hdr: Some(hdr_data),
                eh_frame_svma: Some(svma(&raw.eh_frame)),
                eh_frame: Some(eh_data),
                ..Default::default()
            };
            unwinder.add_module(Module::new(String::new(), raw.text.clone(), raw.base, info));
            text.push(raw.text);
        }
        text.sort_by_key(|r| r.start);
        Some(Modules { unwinder, text, counters })
    }

    /// Where one loaded object's code and unwind data are; `None` when it
    /// has no `.eh_frame_hdr` in the form read here. Never panics (it runs
    /// in the loader's callback).
    ///
    /// # Safety
    /// `info` is the loader's, for an object loaded now: its program
    /// headers and segments are mapped.
    unsafe fn raw_of(info: &libc::dl_phdr_info) -> Option<Raw> {
        if info.dlpi_phdr.is_null() || info.dlpi_phnum == 0 {
            return None;
        }
        // SAFETY: the loader's program header table of `dlpi_phnum` entries.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        let base = info.dlpi_addr;
        let range_of = |p: &libc::Elf64_Phdr| {
            let start = base.checked_add(p.p_vaddr)?;
            Some(start..start.checked_add(p.p_memsz)?)
        };
        let mut text: Option<Range<u64>> = None;
        let mut hdr: Option<Range<u64>> = None;
        for p in phdrs {
            let range = range_of(p)?;
            if p.p_type == libc::PT_LOAD && p.p_flags & libc::PF_X != 0 {
                text = Some(match text {
                    Some(t) => t.start.min(range.start)..t.end.max(range.end),
                    None => range,
                });
            } else if p.p_type == libc::PT_GNU_EH_FRAME {
                hdr = Some(range);
            }
        }
        let (text, hdr) = (text?, hdr?);
        // The loaded segment holding `addr`: its end.
        let segment_end = |addr: u64| {
            phdrs.iter().find_map(|p| {
                let r = range_of(p)?;
                (p.p_type == libc::PT_LOAD && r.contains(&addr)).then_some(r.end)
            })
        };
        // Read only what a loaded segment maps.
        if hdr.end.checked_sub(hdr.start)? < 8 || segment_end(hdr.start)? < hdr.end {
            return None;
        }
        // `.eh_frame_hdr`: version 1, the encoding of `eh_frame_ptr`, two
        // more encodings, then `eh_frame_ptr`. Read here: DW_EH_PE_pcrel |
        // DW_EH_PE_sdata4 (0x1b, what GNU ld, gold, lld and mold write).
        // SAFETY: the first 8 bytes of the PT_GNU_EH_FRAME segment (checked
        // long enough above), mapped while the object is loaded.
        let head: [u8; 8] = unsafe { std::ptr::read_unaligned(hdr.start as *const [u8; 8]) };
        if head[0] != 1 || head[1] != 0x1b {
            return None;
        }
        let rel = i32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let eh_frame_start = hdr.start.checked_add(4)?.checked_add_signed(i64::from(rel))?;
        // `.eh_frame` ends at its terminator at the latest, within the
        // loaded segment that holds it: the range ends at that segment's end.
        let seg_end = segment_end(eh_frame_start)?;
        Some(Raw { base, text, eh_frame_hdr: hdr, eh_frame: eh_frame_start..seg_end })
    }

    #[cfg(test)]
    mod tests {
        use super::{CACHES, Caches, SLOTS, cache_of};

        #[test]
        fn addresses_sharing_a_slot_are_placed_in_different_caches_until_all_are_taken() {
            let mut caches = Caches::new();
            // Six addresses with the same slot (1000 mod 509).
            let same: Vec<u64> = (0..6).map(|k| 1000 + k * SLOTS as u64).collect();
            let placed: Vec<usize> = same[..CACHES].iter().map(|&a| caches.pick(a)).collect();
            let mut distinct = placed.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct, (0..CACHES).collect::<Vec<_>>(), "the first four share no cache");
            for (&a, &c) in same[..CACHES].iter().zip(&placed) {
                assert_eq!(caches.pick(a), c, "an address keeps its cache");
            }
            // A fifth finds every cache's slot taken: it takes its hash's.
            let fifth = caches.pick(same[4]);
            assert_eq!(fifth, cache_of(same[4]));
            assert_eq!(caches.pick(same[4]), fifth);
            // The address it displaced is placed again by hash as well.
            let displaced = same[placed.iter().position(|&c| c == fifth).unwrap()];
            assert_eq!(caches.pick(displaced), cache_of(displaced));
            // Another slot is free in every cache: the first cache.
            assert_eq!(caches.pick(1001), 0);
        }
    }
}
