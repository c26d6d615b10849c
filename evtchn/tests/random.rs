//! Randomized interleavings of bind / send / mask / unmask / close / upcall against the model,
//! per ABI, with fixed seeds (a xorshift PRNG; no dependencies).
//!
//! Handlers also act while the guest scans (they make Xen raise other ports, or their own), so
//! the hypervisor's writes interleave with the scan at every point a handler runs.
//!
//! Checked, for every event:
//! - every event sent to an open port is delivered once the port is unmasked: at each
//!   quiescent point (an upcall if `evtchn_upcall_pending` says so, as a kernel would do),
//!   no open, unmasked port may still owe a delivery. Coalescing is allowed: one delivery
//!   pays for every send before it (PENDING is cleared before the handler runs);
//! - nothing is delivered that was not sent: a handler runs only for an open port of its own
//!   generation, not masked, that owes a delivery (so nothing is delivered for a closed port,
//!   nor leaks from a closed port into a new binding of the same number);
//! - nothing is lost after unmasking a port that was sent to while masked (the same check,
//!   after unmask).
//!
//! Debugging: `EVTCHN_SEED=n` runs only seed n; `EVTCHN_TRACE=1` prints every step (and the
//! FIFO event words at each close).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use evtchn::model::{Model, ModelConfig};
use evtchn::{Abi, AbiChoice, EvtchnError, Port, UnmaskMode, XenError};
use xen_abi::consts::{virq, DOMID_SELF};

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ipi,
    /// Interdomain to a foreign peer.
    Foreign,
    /// Unbound, waiting for a foreign peer: sends are dropped.
    Unbound,
    /// One end of a loopback pair.
    Loop {
        peer: Port,
    },
    /// Loopback end whose peer closed: back to unbound.
    LoopUnbound,
    Virq,
}

#[derive(Debug)]
struct Track {
    gen: u64,
    kind: Kind,
    masked: bool,
    /// A send happened that no delivery has covered yet.
    owed: bool,
}

#[derive(Default)]
struct World {
    ports: BTreeMap<Port, Track>,
    next_gen: u64,
    violations: Vec<String>,
    deliveries: usize,
    rng: Option<Rng>,
    in_handler_sends: usize,
}

impl World {
    fn owe(&mut self, p: Port) {
        if let Some(t) = self.ports.get_mut(&p) {
            t.owed = true;
        }
    }
}

struct Run {
    abi: AbiChoice,
    model: Arc<Model>,
    evc: Evc,
    pages: evtchn::model::HostPages,
    world: Arc<Mutex<World>>,
    rng: Rng,
    seed: u64,
    step: usize,
}

impl Run {
    fn new(abi: AbiChoice, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let cfg = ModelConfig {
            max_evtchn_port: 8000,
            ..ModelConfig::default()
        };
        let model = Arc::new(Model::new(cfg));
        let (model, mut evc, pages, sel) = guest_on(model, abi);
        // Push port numbers into higher words / pages / L1 groups (the toolstack's ports).
        let burn = match abi {
            AbiChoice::TwoLevel => rng.below(4000),
            _ => rng.below(5000),
        };
        for _ in 0..burn {
            model.prebind(0).unwrap();
        }
        let want = match abi {
            AbiChoice::TwoLevel => Abi::TwoLevel,
            AbiChoice::Fifo => Abi::Fifo,
            _ => Abi::ThreeLevel,
        };
        assert_eq!(sel.abi, want);
        if rng.chance(50) {
            evc.set_unmask_mode(UnmaskMode::Hypercall);
        }
        let world = Arc::new(Mutex::new(World {
            rng: Some(Rng::new(seed ^ 0xABCD)),
            ..World::default()
        }));
        Run {
            abi,
            model,
            evc,
            pages,
            world,
            rng,
            seed,
            step: 0,
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "{:?} seed {} step {}: {what}\nviolations: {:?}",
            self.abi,
            self.seed,
            self.step,
            self.world.lock().unwrap().violations
        )
    }

    fn handler(&self, port_gen: u64) -> evtchn::Handler {
        let world = self.world.clone();
        let model = self.model.clone();
        Box::new(move |p: Port| {
            let mut w = world.lock().unwrap();
            w.deliveries += 1;
            match w.ports.get_mut(&p) {
                None => w.violations.push(format!("delivery for closed port {p}")),
                Some(t) if t.gen != port_gen => w
                    .violations
                    .push(format!("port {p}: delivery to a stale handler")),
                Some(t) if t.masked => w
                    .violations
                    .push(format!("port {p}: delivered while masked")),
                Some(t) if !t.owed => w.violations.push(format!("port {p}: spurious delivery")),
                Some(t) => t.owed = false,
            }
            // Xen acts while the guest is in the middle of its scan.
            let mut rng = w.rng.take().unwrap();
            if rng.chance(30) {
                let open: Vec<Port> = w.ports.keys().copied().collect();
                let n = 1 + rng.below(3);
                for _ in 0..n {
                    let q = if rng.chance(30) {
                        p
                    } else {
                        open[rng.below(open.len() as u64) as usize]
                    };
                    w.owe(q);
                    w.in_handler_sends += 1;
                    model.set_pending(q).unwrap();
                }
            }
            w.rng = Some(rng);
        })
    }

    fn open_ports(&self) -> Vec<Port> {
        self.world.lock().unwrap().ports.keys().copied().collect()
    }

    fn pick(&mut self) -> Option<Port> {
        let open = self.open_ports();
        (!open.is_empty()).then(|| open[self.rng.below(open.len() as u64) as usize])
    }

    fn add(&mut self, p: Port, kind: Kind, owed: bool) -> u64 {
        let mut w = self.world.lock().unwrap();
        let gen = w.next_gen;
        w.next_gen += 1;
        let prev = w.ports.insert(
            p,
            Track {
                gen,
                kind,
                masked: false,
                owed,
            },
        );
        assert!(prev.is_none(), "port {p} handed out twice");
        gen
    }

    /// Binds a port of a random kind. The handler's generation is reserved first so the
    /// handler knows it.
    fn bind(&mut self) {
        if self.world.lock().unwrap().ports.len() >= 48 {
            return;
        }
        let gen = self.world.lock().unwrap().next_gen;
        let h = self.handler(gen);
        let r = match self.rng.below(5) {
            0 => self
                .evc
                .bind_ipi(&mut self.pages, h)
                .map(|p| (p, Kind::Ipi, false)),
            1 => {
                let remote = self.model.offer_unbound(0);
                self.evc
                    .bind_interdomain(0, remote, &mut self.pages, h)
                    .map(|p| (p, Kind::Foreign, true))
            }
            2 => self
                .evc
                .alloc_unbound(0, &mut self.pages, h)
                .map(|p| (p, Kind::Unbound, false)),
            3 => {
                let r = self.evc.bind_virq(virq::TIMER, &mut self.pages, h);
                if r == Err(EvtchnError::Hypercall {
                    op: "EVTCHNOP_bind_virq",
                    err: XenError(xen_abi::consts::errno::EEXIST),
                }) {
                    return;
                }
                r.map(|p| (p, Kind::Virq, false))
            }
            _ => {
                // A loopback pair: a (unbound for ourselves), then b bound to it.
                let a = match self.evc.alloc_unbound(DOMID_SELF, &mut self.pages, h) {
                    Ok(a) => a,
                    Err(e) => self.fail(format!("alloc_unbound: {e}")),
                };
                let gen_a = self.add(a, Kind::LoopUnbound, false);
                assert_eq!(gen_a, gen);
                let gen_b = self.world.lock().unwrap().next_gen;
                let hb = self.handler(gen_b);
                match self
                    .evc
                    .bind_interdomain(DOMID_SELF, a, &mut self.pages, hb)
                {
                    Ok(b) => {
                        self.add(b, Kind::Loop { peer: a }, true);
                        self.world.lock().unwrap().ports.get_mut(&a).unwrap().kind =
                            Kind::Loop { peer: b };
                    }
                    Err(e) => self.fail(format!("bind_interdomain loopback: {e}")),
                }
                return;
            }
        };
        match r {
            Ok((p, kind, owed)) => {
                let g = self.add(p, kind, owed);
                assert_eq!(g, gen);
            }
            Err(e) => self.fail(format!("bind: {e}")),
        }
    }

    fn xen_send(&mut self) {
        if let Some(p) = self.pick() {
            self.world.lock().unwrap().owe(p);
            self.model.set_pending(p).unwrap();
        }
    }

    fn guest_send(&mut self) {
        let Some(p) = self.pick() else { return };
        let kind = self.world.lock().unwrap().ports[&p].kind;
        let target = match kind {
            Kind::Ipi => Some(p),
            Kind::Loop { peer } => Some(peer),
            _ => None,
        };
        if let Some(t) = target {
            self.world.lock().unwrap().owe(t);
        }
        let r = self.evc.send(p);
        let ok = match kind {
            Kind::Virq => r.is_err(),
            _ => r.is_ok(),
        };
        if !ok {
            self.fail(format!("send({p}) on {kind:?}: {r:?}"));
        }
    }

    fn mask(&mut self) {
        if let Some(p) = self.pick() {
            self.evc.mask(p);
            self.world.lock().unwrap().ports.get_mut(&p).unwrap().masked = true;
        }
    }

    fn unmask(&mut self) {
        if let Some(p) = self.pick() {
            // Guest's view first: a delivery may only follow the unmask.
            self.world.lock().unwrap().ports.get_mut(&p).unwrap().masked = false;
            if let Err(e) = self.evc.unmask(p) {
                self.fail(format!("unmask({p}): {e}"));
            }
        }
    }

    fn close(&mut self) {
        let Some(p) = self.pick() else { return };
        if std::env::var_os("EVTCHN_TRACE").is_some() {
            eprintln!(
                "close {p}: words {:?}",
                self.open_ports()
                    .iter()
                    .map(|&q| (q, self.model.fifo_word(q).map(|w| format!("{w:#x}"))))
                    .collect::<Vec<_>>()
            );
        }
        let t = self.world.lock().unwrap().ports.remove(&p).unwrap();
        if let Kind::Loop { peer } = t.kind {
            if let Some(pt) = self.world.lock().unwrap().ports.get_mut(&peer) {
                pt.kind = Kind::LoopUnbound;
            }
        }
        if let Err(e) = self.evc.close(p) {
            self.fail(format!("close({p}): {e}"));
        }
    }

    fn set_priority(&mut self) {
        if let Some(p) = self.pick() {
            let prio = self.rng.below(16) as u32;
            let r = self.evc.set_priority(p, prio);
            if (self.abi == AbiChoice::Fifo) != r.is_ok() {
                self.fail(format!("set_priority({p}, {prio}): {r:?}"));
            }
        }
    }

    /// What a kernel does on an upcall: only if Xen (or a local resend) asked for one.
    fn upcall_if_pending(&mut self) {
        if upcall_pending(&self.model) != 0 {
            self.evc.handle_upcall();
        }
    }

    fn check_violations(&self) {
        if !self.world.lock().unwrap().violations.is_empty() {
            self.fail("violation".into());
        }
    }

    /// Nothing owed on an open, unmasked port after the upcall the model asked for.
    fn quiesce(&mut self) {
        self.upcall_if_pending();
        self.check_violations();
        let w = self.world.lock().unwrap();
        let lost: Vec<_> = w
            .ports
            .iter()
            .filter(|(_, t)| t.owed && !t.masked)
            .map(|(p, t)| (*p, t.kind))
            .collect();
        drop(w);
        if !lost.is_empty() {
            self.fail(format!(
                "events lost (open, unmasked, never delivered): {lost:?}"
            ));
        }
    }

    fn run(&mut self, steps: usize) {
        for step in 0..steps {
            self.step = step;
            let action = self.rng.below(100);
            if std::env::var_os("EVTCHN_TRACE").is_some() {
                eprintln!(
                    "step {step}: action {action} ports {:?}",
                    self.world.lock().unwrap().ports
                );
            }
            match action {
                0..=11 => self.bind(),
                12..=31 => self.xen_send(),
                32..=41 => self.guest_send(),
                42..=51 => self.mask(),
                52..=63 => self.unmask(),
                64..=69 => self.close(),
                70..=73 => self.set_priority(),
                74..=84 => self.upcall_if_pending(),
                85..=89 => {
                    self.evc.handle_upcall();
                }
                _ => self.quiesce(),
            }
            self.check_violations();
        }
        // Unmask everything: every event sent while masked must come through.
        for p in self.open_ports() {
            self.world.lock().unwrap().ports.get_mut(&p).unwrap().masked = false;
            self.evc.unmask(p).unwrap();
        }
        self.quiesce();
        for p in self.open_ports() {
            self.world.lock().unwrap().ports.remove(&p);
            self.evc.close(p).unwrap();
        }
        self.quiesce();
        assert_eq!(self.evc.bound_ports(), 0);
    }
}

fn run_abi(abi: AbiChoice) {
    let mut deliveries = 0;
    let mut in_handler = 0;
    let seeds = std::env::var("EVTCHN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(1..=100u64, |s| s..=s);
    for seed in seeds {
        let mut r = Run::new(abi, seed);
        r.run(4000);
        let w = r.world.lock().unwrap();
        deliveries += w.deliveries;
        in_handler += w.in_handler_sends;
    }
    println!("{abi:?}: {deliveries} deliveries, {in_handler} sends from handlers");
    // The run exercised what it claims to.
    assert!(deliveries > 10_000, "{abi:?}: only {deliveries} deliveries");
    assert!(
        in_handler > 1_000,
        "{abi:?}: only {in_handler} sends from handlers"
    );
}

#[test]
fn random_interleavings_two_level() {
    run_abi(AbiChoice::TwoLevel);
}

#[test]
fn random_interleavings_fifo() {
    run_abi(AbiChoice::Fifo);
}

#[test]
fn random_interleavings_three_level() {
    run_abi(AbiChoice::ThreeLevel);
}
