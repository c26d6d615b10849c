//! Xen on another thread: the model raises events concurrently with the guest's scans, masks
//! and unmasks, so the FIFO link/unlink race (Xen's cmpxchg on the tail vs the guest's
//! unlink), BUSY, and the selector exchanges of 2-level / 3-level race for real.
//!
//! Check (coalescing allowed): each handler records how many sends its port had seen when it
//! started (PENDING is cleared before it runs, so every send counted by then is covered). At
//! the end, with Xen stopped and every port unmasked, the last delivery of every port must
//! have seen all of its sends, after only the upcalls `evtchn_upcall_pending` asked for.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use common::*;
use evtchn::model::ModelConfig;
use evtchn::{Abi, AbiChoice, Port, UnmaskMode};

fn stress(choice: AbiChoice, mode: UnmaskMode, nports: usize, sends: u64) {
    let (model, mut evc, mut pages, sel) = guest(ModelConfig::default(), choice);
    let want = match choice {
        AbiChoice::TwoLevel => Abi::TwoLevel,
        AbiChoice::ThreeLevel => Abi::ThreeLevel,
        _ => Abi::Fifo,
    };
    assert_eq!(sel.abi, want);
    evc.set_unmask_mode(mode);
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..nports).map(|_| AtomicU64::new(0)).collect());
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..nports).map(|_| AtomicU64::new(0)).collect());
    let mut ports = Vec::new();
    for i in 0..nports {
        let (sent, seen) = (sent.clone(), seen.clone());
        let p = evc
            .bind_ipi(
                &mut pages,
                Box::new(move |_| {
                    seen[i].store(sent[i].load(SeqCst), SeqCst);
                }),
            )
            .unwrap();
        ports.push(p);
    }
    if sel.abi == Abi::Fifo && nports > 4 {
        for (i, &p) in ports.iter().enumerate() {
            evc.set_priority(p, (i % 4) as u32 * 4).unwrap();
        }
    }
    let done = Arc::new(AtomicBool::new(false));
    // Upcalls handled while the sender runs: the sender goes on past `sends` until the guest
    // side has handled MIN_UPCALLS of them (or a minute passed), so that a loaded machine that
    // runs the sender to the end before the guest loop starts still tests the interleaving.
    const MIN_UPCALLS: u64 = 100;
    let upcalls_seen = Arc::new(AtomicU64::new(0));
    let xen = {
        let (model, sent, done, ports) = (model.clone(), sent.clone(), done.clone(), ports.clone());
        let upcalls_seen = upcalls_seen.clone();
        std::thread::spawn(move || {
            let mut x = 0x1234_5678_9abc_def1u64;
            let start = std::time::Instant::now();
            let mut n = 0u64;
            while n < sends
                || (upcalls_seen.load(SeqCst) < MIN_UPCALLS
                    && start.elapsed() < std::time::Duration::from_secs(60))
            {
                n += 1;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x % nports as u64) as usize;
                sent[i].fetch_add(1, SeqCst);
                model.set_pending(ports[i]).unwrap();
            }
            done.store(true, SeqCst);
        })
    };
    let mut x = 0x0fed_cba9_8765_4321u64;
    let mut masked = vec![false; nports];
    let mut upcalls = 0u64;
    while !done.load(SeqCst) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % nports as u64) as usize;
        match (x >> 8) % 8 {
            0 => {
                evc.mask(ports[i]);
                masked[i] = true;
            }
            1 | 2 => {
                evc.unmask(ports[i]).unwrap();
                masked[i] = false;
            }
            _ => {
                if upcall_pending(&model) != 0 {
                    evc.handle_upcall();
                    upcalls += 1;
                    upcalls_seen.store(upcalls, SeqCst);
                }
            }
        }
    }
    xen.join().unwrap();
    for (i, &p) in ports.iter().enumerate() {
        if masked[i] {
            evc.unmask(p).unwrap();
        }
    }
    if upcall_pending(&model) != 0 {
        evc.handle_upcall();
    }
    let lost: Vec<(Port, u64, u64)> = (0..nports)
        .filter(|&i| seen[i].load(SeqCst) != sent[i].load(SeqCst))
        .map(|i| (ports[i], sent[i].load(SeqCst), seen[i].load(SeqCst)))
        .collect();
    assert!(
        lost.is_empty(),
        "{choice:?}/{mode:?}: events lost (port, sent, seen by last delivery): {lost:?}"
    );
    assert!(
        upcalls >= MIN_UPCALLS,
        "{choice:?}/{mode:?}: only {upcalls} upcalls ran while events were being sent"
    );
}

#[test]
fn concurrent_xen_two_level() {
    stress(AbiChoice::TwoLevel, UnmaskMode::LocalResend, 64, 1_000_000);
    stress(AbiChoice::TwoLevel, UnmaskMode::Hypercall, 64, 1_000_000);
    stress(AbiChoice::TwoLevel, UnmaskMode::LocalResend, 2, 1_000_000);
}

#[test]
fn concurrent_xen_fifo() {
    stress(AbiChoice::Fifo, UnmaskMode::LocalResend, 64, 1_000_000);
    // Short queues: the guest keeps unlinking the tail Xen is appending to.
    stress(AbiChoice::Fifo, UnmaskMode::LocalResend, 2, 1_000_000);
}

#[test]
fn concurrent_xen_three_level() {
    stress(
        AbiChoice::ThreeLevel,
        UnmaskMode::LocalResend,
        64,
        1_000_000,
    );
    stress(AbiChoice::ThreeLevel, UnmaskMode::Hypercall, 64, 1_000_000);
    stress(AbiChoice::ThreeLevel, UnmaskMode::LocalResend, 2, 1_000_000);
}
