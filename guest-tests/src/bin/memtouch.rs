//! All of the domain's memory is mapped and usable: with `memory = 32` the kernel must map
//! every page (the builder maps only about 4 MiB), and every page the page allocator hands
//! out must hold what is written to it. Prints `MEMTOUCH-OK ...`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use minios::println;

fn main() {
    let sys = minios::system();
    println!(
        "memtouch: nr_pages {} mapped {} page pool {} heap {} KiB",
        sys.nr_pages,
        sys.mapped_pages,
        minios::free_pages(),
        sys.heap_bytes / 1024
    );
    assert_eq!(sys.mapped_pages, sys.nr_pages, "not all memory is mapped");

    // Take every page, write a pattern that names the page, then check them all.
    let mut pages = Vec::new();
    while let Some(p) = minios::alloc_page() {
        pages.push(p);
    }
    let n = pages.len();
    for (i, p) in pages.iter_mut().enumerate() {
        for (j, chunk) in p.0.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&((i as u64) << 32 | j as u64).to_le_bytes());
        }
    }
    for (i, p) in pages.iter().enumerate() {
        for (j, chunk) in p.0.chunks_exact(8).enumerate() {
            let v = u64::from_le_bytes(chunk.try_into().unwrap());
            assert_eq!(
                v,
                (i as u64) << 32 | j as u64,
                "page {i} word {j} lost its value"
            );
        }
    }
    // The heap can use its share too.
    let big: Vec<u8> = alloc::vec![0xa5; sys.heap_bytes / 2];
    assert!(big.iter().all(|&b| b == 0xa5));
    for p in pages {
        minios::free_page(p);
    }
    println!(
        "MEMTOUCH-OK pages={n} mapped={} nr_pages={} heap_vec={} KiB",
        sys.mapped_pages,
        sys.nr_pages,
        big.len() / 1024
    );
    minios::ready();
}

minios::main!(main);
