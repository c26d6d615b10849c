//! Memory: the split of free pages between the heap and the page allocator, and the page
//! allocator itself.
//!
//! The page allocator owns runs of pages as `&'static mut [MaybeUninit<T>]` slices handed over
//! by the arch crate, so ownership is tracked by the borrow checker: a page handed out is
//! out of the allocator until it is given back, and it cannot be given back twice (the
//! caller's `&'static mut` moves in). It is generic over the page type so that the host
//! tests run it on ordinary memory.

use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// The default share of free pages that goes to the heap: one half.
pub const DEFAULT_HEAP_SHARE_DIV: u64 = 2;

/// How many of `free_pages` pages (of `page_size` bytes) go to the heap, for an optional
/// `heap_kb` request. Always leaves at least one page to the page allocator when there is
/// more than one, and gives the heap at least one page.
pub fn heap_pages(free_pages: u64, page_size: u64, heap_kb: Option<u64>) -> u64 {
    let want = match heap_kb {
        Some(kb) => (kb.saturating_mul(1024)).div_ceil(page_size),
        None => free_pages / DEFAULT_HEAP_SHARE_DIV,
    };
    want.clamp(1, free_pages.saturating_sub(1).max(1))
}

/// A page allocator over runs of owned pages.
#[derive(Debug)]
pub struct PageAllocator<T: 'static> {
    runs: Vec<&'static mut [MaybeUninit<T>]>,
    free: usize,
}

impl<T: 'static> Default for PageAllocator<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> PageAllocator<T> {
    pub const fn new() -> Self {
        Self {
            runs: Vec::new(),
            free: 0,
        }
    }

    /// Gives a run of pages to the allocator.
    pub fn add(&mut self, run: &'static mut [MaybeUninit<T>]) {
        if !run.is_empty() {
            self.free += run.len();
            self.runs.push(run);
        }
    }

    /// Pages available.
    pub fn free_pages(&self) -> usize {
        self.free
    }

    /// One page, or `None` when none is left.
    pub fn alloc(&mut self) -> Option<&'static mut MaybeUninit<T>> {
        self.alloc_contiguous(1).map(|r| &mut r[0])
    }

    /// `n` contiguous pages, from the first run that has them.
    pub fn alloc_contiguous(&mut self, n: usize) -> Option<&'static mut [MaybeUninit<T>]> {
        if n == 0 {
            return None;
        }
        let i = self.runs.iter().rposition(|r| r.len() >= n)?;
        let run = core::mem::take(&mut self.runs[i]);
        let (taken, rest) = run.split_at_mut(n);
        if rest.is_empty() {
            self.runs.swap_remove(i);
        } else {
            self.runs[i] = rest;
        }
        self.free -= n;
        Some(taken)
    }

    /// Gives a page back.
    pub fn free(&mut self, page: &'static mut MaybeUninit<T>) {
        self.add(core::slice::from_mut(page));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: usize) -> &'static mut [MaybeUninit<[u8; 16]>] {
        std::boxed::Box::leak(std::vec![MaybeUninit::uninit(); n].into_boxed_slice())
    }

    #[test]
    fn heap_split() {
        assert_eq!(heap_pages(100, 4096, None), 50);
        assert_eq!(heap_pages(100, 4096, Some(64)), 16);
        assert_eq!(heap_pages(100, 4096, Some(65)), 17);
        assert_eq!(heap_pages(100, 4096, Some(1 << 30)), 99, "leaves one page");
        assert_eq!(heap_pages(1, 4096, None), 1);
        assert_eq!(heap_pages(100, 4096, Some(0)), 1);
    }

    #[test]
    fn alloc_until_exhausted_then_free() {
        let mut a = PageAllocator::new();
        a.add(run(3));
        a.add(run(2));
        assert_eq!(a.free_pages(), 5);
        let mut pages = std::vec::Vec::new();
        while let Some(p) = a.alloc() {
            pages.push(p);
        }
        assert_eq!(pages.len(), 5);
        assert_eq!(a.free_pages(), 0);
        assert!(a.alloc().is_none(), "exhaustion is None, not a panic");
        // Every page handed out is distinct.
        let mut addrs: std::vec::Vec<_> = pages.iter().map(|p| *p as *const _ as usize).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 5);
        for p in pages {
            a.free(p);
        }
        assert_eq!(a.free_pages(), 5);
    }

    #[test]
    fn contiguous_allocation() {
        let mut a = PageAllocator::new();
        a.add(run(2));
        a.add(run(8));
        let r = a.alloc_contiguous(5).unwrap();
        assert_eq!(r.len(), 5);
        assert!(a.alloc_contiguous(4).is_none());
        assert_eq!(a.alloc_contiguous(3).unwrap().len(), 3);
        assert_eq!(a.free_pages(), 2);
        assert!(a.alloc_contiguous(0).is_none());
    }
}
