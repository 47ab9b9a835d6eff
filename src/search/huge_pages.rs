//! Huge pages under a face set's graph. A search at 10⁶ faces is a walk of a few thousand reads
//! at random over ~1.4 GB of links and vectors: with 4 KiB pages nearly every read also misses
//! the TLB and walks the page tables (in a virtual machine, twice: the guest's and the host's).
//! 2 MiB pages take most of those walks away (measured on this project's machines: a random read
//! over 1.4 GB 256 ns against 303–349 ns, docs/facesets.md).
//!
//! usearch keeps the graph in anonymous memory it maps itself, so the pages are changed from
//! outside: the mappings that appeared while the graph was read or built are found in
//! `/proc/self/maps`, and each 2 MiB block of them whose every page is already resident is
//! collapsed into one huge page (`madvise(MADV_COLLAPSE)`, Linux ≥ 6.1, whatever the system's
//! transparent-huge-page mode). Only fully resident blocks: memory that was never touched is
//! never made resident, so this cannot grow the process.
//!
//! The one module allowed `unsafe` (Cargo.toml): `mincore` and `madvise` are system calls on
//! raw addresses, and no safe crate offers them for memory another library mapped.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const HUGE: usize = 2 << 20;

/// The process's anonymous, private, writable mappings at one moment (start, end).
#[derive(Debug, Default, Clone)]
pub struct Mappings(Vec<(usize, usize)>);

impl Mappings {
    pub fn now() -> Self {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        Self(maps.lines().filter_map(anonymous).collect())
    }
}

/// "start-end rw-p offset dev inode [name]" of an anonymous mapping (no file, or the heap).
fn anonymous(line: &str) -> Option<(usize, usize)> {
    let mut f = line.split_whitespace();
    let range = f.next()?;
    let perms = f.next()?;
    let inode = f.nth(2)?;
    let name = f.next();
    if !perms.starts_with("rw") || !perms.ends_with('p') || inode != "0" {
        return None;
    }
    if name.is_some_and(|n| n != "[heap]") {
        return None;
    }
    range_of(range)
}

/// "start-end" in hexadecimal, as /proc/self/maps and smaps write a mapping's addresses.
fn range_of(text: &str) -> Option<(usize, usize)> {
    let (a, b) = text.split_once('-')?;
    Some((
        usize::from_str_radix(a, 16).ok()?,
        usize::from_str_radix(b, 16).ok()?,
    ))
}

/// What one collapse did.
#[derive(Debug, Default, Clone)]
pub struct Collapsed {
    /// Bytes now in huge pages (blocks collapsed or already huge).
    pub bytes: usize,
    /// Fully resident blocks the kernel did not collapse (no free 2 MiB of memory, say).
    pub refused: usize,
    pub ms: u64,
    /// Ended early by its owner (the graph was dropped).
    pub stopped: bool,
    /// Why nothing could be collapsed at all (an older kernel, no THP support).
    pub unsupported: Option<String>,
}

/// Collapses the fully resident 2 MiB blocks of the mappings that are not in `before` (new, or
/// grown or merged since). Checks `stop` before each block (a block takes a few milliseconds;
/// 10⁶ faces' graph is ~1 500 of them), so whoever owns the memory can end it at once.
pub fn collapse_new(before: &Mappings, stop: &AtomicBool) -> Collapsed {
    let t = Instant::now();
    let mut out = Collapsed::default();
    for &(start, end) in &Mappings::now().0 {
        if before.0.contains(&(start, end)) || end - start < HUGE {
            continue;
        }
        if let Err(e) = collapse_range(start, end, stop, &mut out) {
            out.unsupported = Some(e.to_string());
        }
        if out.stopped || out.unsupported.is_some() {
            break;
        }
    }
    out.ms = t.elapsed().as_millis() as u64;
    out
}

/// Collapses the fully resident blocks of [start, end); Err only when the kernel cannot do it
/// at all.
fn collapse_range(
    start: usize,
    end: usize,
    stop: &AtomicBool,
    out: &mut Collapsed,
) -> std::io::Result<()> {
    let first = start.next_multiple_of(HUGE);
    let last = end / HUGE * HUGE;
    if first >= last {
        return Ok(());
    }
    let page = 4096;
    let mut resident = vec![0u8; (last - first) / page];
    // SAFETY: the range lies inside one mapping of this process (read from /proc/self/maps just
    // before) and `resident` has a byte per page of it; if another thread unmapped it meanwhile
    // mincore fails with ENOMEM and nothing is touched.
    let rc = unsafe {
        libc::mincore(
            first as *mut libc::c_void,
            last - first,
            resident.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Ok(());
    }
    let per_block = HUGE / page;
    for (b, pages) in resident.chunks_exact(per_block).enumerate() {
        if stop.load(Ordering::Relaxed) {
            out.stopped = true;
            return Ok(());
        }
        if !pages.iter().all(|p| p & 1 == 1) {
            continue;
        }
        let at = first + b * HUGE;
        // SAFETY: madvise only changes how already resident anonymous memory is backed; the
        // contents are copied by the kernel under its own locks, so concurrent readers and
        // writers see the same bytes.
        let rc = unsafe { libc::madvise(at as *mut libc::c_void, HUGE, libc::MADV_COLLAPSE) };
        if rc == 0 {
            out.bytes += HUGE;
            continue;
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            // Not supported by this kernel: stop.
            Some(libc::EINVAL) if out.bytes == 0 => return Err(e),
            _ => out.refused += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private anonymous mapping of `len` bytes between two inaccessible pages, so the kernel
    /// never merges it with a neighbour (another test's memory) and smaps shows it alone.
    fn map(len: usize) -> *mut u8 {
        // SAFETY: a fresh private anonymous reservation, checked; then its interior made
        // writable.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                len + 2 * 4096,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(base, libc::MAP_FAILED);
            let inner = base.cast::<u8>().add(4096);
            let rc = libc::mprotect(inner.cast(), len, libc::PROT_READ | libc::PROT_WRITE);
            assert_eq!(rc, 0);
            inner
        }
    }

    fn unmap(p: *mut u8, len: usize) {
        // SAFETY: the reservation `map` made around `p`.
        unsafe { libc::munmap(p.sub(4096).cast(), len + 2 * 4096) };
    }

    /// A field (`AnonHugePages:`, `Rss:`) of the mapping holding `at`, in bytes (/proc/self/smaps).
    fn of_mapping(at: usize, field: &str) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let mut inside = false;
        for l in smaps.lines() {
            if let Some((a, b)) = l.split_whitespace().next().and_then(range_of) {
                inside = (a..b).contains(&at);
                continue;
            }
            if inside && l.starts_with(field) {
                let kb: usize = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                return kb * 1024;
            }
        }
        0
    }

    #[test]
    fn resident_blocks_of_new_mappings_become_huge_and_nothing_grows() {
        let before = Mappings::now();
        let len = 34 << 20;
        let base = map(len);
        // SAFETY: the aligned start lies inside the mapping (at most 2 MiB in of 34).
        let p = unsafe { base.add(base.align_offset(HUGE)) };
        // Touch the first 9 MiB (4 whole blocks and half of a fifth) and one byte in every MiB
        // after it: the sparse rest must stay sparse.
        // SAFETY: all inside the mapping just made.
        unsafe {
            std::ptr::write_bytes(p, 7, 9 << 20);
            for mb in 10..32 {
                *p.add(mb << 20) = 1;
            }
        }
        // The mapping's own resident bytes (the process's would move with tests run beside it).
        let rss0 = of_mapping(p as usize, "Rss:");
        let got = collapse_new(&before, &AtomicBool::new(false));
        assert!(got.unsupported.is_none(), "{got:?}");
        assert!(got.bytes >= 4 * HUGE, "{got:?}");
        assert_eq!(
            of_mapping(p as usize, "AnonHugePages:"),
            4 * HUGE,
            "{got:?}"
        );
        // The contents are kept, and no untouched page was made resident.
        // SAFETY: inside the mapping.
        unsafe {
            assert_eq!(*p.add(5 << 20), 7);
            assert_eq!(*p.add(20 << 20), 1);
            assert_eq!(*p.add((20 << 20) + 4096), 0);
        }
        let rss1 = of_mapping(p as usize, "Rss:");
        assert!(rss0 > 9 << 20 && rss1 <= rss0 + 4096, "rss {rss0} → {rss1}");
        unmap(base, len);
    }

    #[test]
    fn a_collapse_told_to_stop_touches_nothing() {
        let before = Mappings::now();
        let len = 8 << 20;
        let p = map(len);
        // SAFETY: inside the mapping just made.
        unsafe { std::ptr::write_bytes(p, 1, len) };
        let got = collapse_new(&before, &AtomicBool::new(true));
        assert!(got.stopped && got.bytes == 0, "{got:?}");
        unmap(p, len);
    }

    #[test]
    fn maps_lines_are_read_for_anonymous_writable_memory_only() {
        assert_eq!(
            anonymous("7f00a0000000-7f00a4000000 rw-p 00000000 00:00 0 "),
            Some((0x7f00a0000000, 0x7f00a4000000))
        );
        assert!(anonymous("55d0c000-55d0d000 rw-p 00000000 00:00 0 [heap]").is_some());
        assert!(anonymous("7f00-8f00 r--p 00000000 08:01 1234 /usr/lib/libc.so.6").is_none());
        assert!(anonymous("7f00-8f00 rw-s 00000000 00:05 99 /dev/zero").is_none());
        assert!(anonymous("7ffd-7ffe rw-p 00000000 00:00 0 [stack]").is_none());
        assert!(anonymous("garbage").is_none());
    }
}
