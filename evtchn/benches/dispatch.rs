//! Cost of dispatching one event as the number of bound ports grows, per ABI, on the model;
//! and the memory each ABI's structures take. `cargo bench -p evtchn --bench dispatch`.
//!
//! For each ABI and N bound ports (IPI ports of vCPU 0 on a model with dom0's unlimited
//! `max_evtchn_port`, so only the ABI's own limit applies), one iteration is: Xen raises a
//! random bound port (the model's `set_pending`), then the guest runs its upcall
//! (`handle_upcall`), which finds and dispatches it. Reported: nanoseconds per event for the
//! guest's upcall alone and for raise + upcall, and `abi_memory_bytes`.
//!
//! Two port mixes: uniformly random over all N bound ports (the working set grows with N: the
//! handler table, the boxed handlers, event words or bitmap words, the model's port table,
//! so cache misses grow too), and a hot set of 64 ports spread over the range (what the
//! algorithm itself costs, with the data in cache).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evtchn::model::{Model, ModelConfig};
use evtchn::{Abi, AbiChoice, EventChannels, EvtchnError, Port};

const SIZES: [usize; 5] = [1_000, 4_000, 32_000, 128_000, 256_000];
const ITERS: usize = 200_000;

struct Row {
    abi: Abi,
    n: usize,
    /// (random: upcall ns, raise+upcall ns; hot: upcall ns, raise+upcall ns; memory)
    result: Result<([f64; 4], usize), String>,
}

/// Average ns per event of (upcall alone, raise + upcall) over `ITERS` events on `pick()`.
fn measure<H: evtchn::EvtchnOps>(
    model: &Model,
    evc: &mut EventChannels<H>,
    mut pick: impl FnMut() -> Port,
) -> (f64, f64) {
    for _ in 0..10_000 {
        model.set_pending(pick()).unwrap();
        evc.handle_upcall();
    }
    let mut upcall = Duration::ZERO;
    let start = Instant::now();
    for _ in 0..ITERS {
        model.set_pending(pick()).unwrap();
        let t = Instant::now();
        let c = evc.handle_upcall();
        upcall += t.elapsed();
        debug_assert_eq!(c, 1);
        black_box(c);
    }
    let total = start.elapsed();
    (
        upcall.as_nanos() as f64 / ITERS as f64,
        total.as_nanos() as f64 / ITERS as f64,
    )
}

fn run(choice: AbiChoice, n: usize) -> Row {
    let model = Arc::new(Model::new(ModelConfig {
        max_evtchn_port: i32::MAX as u32,
        ..ModelConfig::default()
    }));
    let mut pages = model.pages();
    let (mut evc, sel) = EventChannels::new(model.clone(), model.shared_info(), &mut pages, choice);
    let hits = Arc::new(AtomicU64::new(0));
    let mut ports: Vec<Port> = Vec::with_capacity(n);
    for _ in 0..n {
        let h = hits.clone();
        match evc.bind_ipi(
            &mut pages,
            Box::new(move |p| {
                h.fetch_add(u64::from(p) | 1, Relaxed);
            }),
        ) {
            Ok(p) => ports.push(p),
            Err(EvtchnError::Hypercall { err, .. }) => {
                return Row {
                    abi: sel.abi,
                    n,
                    result: Err(format!(
                        "{} ({} ports max)",
                        err.name().unwrap_or("error"),
                        ports.len()
                    )),
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let random = measure(&model, &mut evc, || {
        ports[(rnd() % ports.len() as u64) as usize]
    });
    let hot: Vec<Port> = (0..64).map(|i| ports[i * ports.len() / 64]).collect();
    let hotm = measure(&model, &mut evc, || hot[(rnd() % 64) as usize]);
    assert!(hits.load(Relaxed) > 0);
    Row {
        abi: sel.abi,
        n,
        result: Ok(([random.0, random.1, hotm.0, hotm.1], evc.abi_memory_bytes())),
    }
}

fn kib(b: usize) -> String {
    if b < 4096 {
        format!("{b} B")
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

fn main() {
    println!("Event dispatch on the model ({ITERS} events per cell, vCPU 0, release build)");
    println!();
    println!(
        "| ABI     | bound ports | random: upcall | random: raise+upcall | hot 64: upcall | hot 64: raise+upcall | ABI memory |"
    );
    println!(
        "|---------|------------:|---------------:|---------------------:|---------------:|---------------------:|-----------:|"
    );
    for choice in [AbiChoice::TwoLevel, AbiChoice::Fifo, AbiChoice::ThreeLevel] {
        for n in SIZES {
            let r = run(choice, n);
            match r.result {
                Ok((t, mem)) => println!(
                    "| {:<7} | {:>11} | {:>11.1} ns | {:>17.1} ns | {:>11.1} ns | {:>17.1} ns | {:>10} |",
                    r.abi.to_string(),
                    r.n,
                    t[0],
                    t[1],
                    t[2],
                    t[3],
                    kib(mem)
                ),
                Err(why) => println!(
                    "| {:<7} | {:>11} | {:^71} | {:>10} |",
                    r.abi.to_string(),
                    r.n,
                    why,
                    "—"
                ),
            }
        }
    }
}
