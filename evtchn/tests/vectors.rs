//! The test vectors of section 6 of the reference (`shared/reference/evtchn-abi.md`), one
//! test each, named `v6_<section>_<number>_...`, through the public API and the model.
//!
//! Model conventions (§6): the model's `set_pending(p)` is the vectors' `send(p)`; "scan" is
//! one upcall (`handle_upcall`); handlers record ports (PENDING is cleared before they run).

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use evtchn::abi::fifo::{BUSY, LINKED, LINK_MASK, MASKED, PENDING};
use evtchn::abi::three_level;
use evtchn::abi::two_level::TwoLevel;
use evtchn::model::{
    validate_3level_registration, xen_2l_set_pending, xen_3l_set_pending, ChanState, FifoSupport,
    Model, ModelConfig, ThreeLevel32, TwoLevel32,
};
use evtchn::words::Words;
use evtchn::{
    Abi, AbiChoice, EventChannels, EvtchnError, EvtchnOps, L2Selector, PageSource,
    ThreeLevelRegistration, UnmaskMode, XenError,
};
use xen_abi::consts::{evtchnop, DOMID_SELF};

const EEXIST: XenError = XenError(xen_abi::consts::errno::EEXIST);

fn two_level() -> (Arc<Model>, Evc, evtchn::model::HostPages) {
    let (m, e, p, sel) = guest(ModelConfig::default(), AbiChoice::TwoLevel);
    assert_eq!(sel.abi, Abi::TwoLevel);
    (m, e, p)
}

fn fifo() -> (Arc<Model>, Evc, evtchn::model::HostPages) {
    let (m, e, p, sel) = guest(ModelConfig::default(), AbiChoice::Fifo);
    assert_eq!(sel.abi, Abi::Fifo);
    assert_eq!(sel.fallback_note, None);
    (m, e, p)
}

fn three_level_guest(cfg: ModelConfig) -> (Arc<Model>, Evc, evtchn::model::HostPages) {
    let (m, e, p, sel) = guest(cfg, AbiChoice::ThreeLevel);
    assert_eq!(sel.abi, Abi::ThreeLevel, "{:?}", sel.fallback_note);
    (m, e, p)
}

// ---------------------------------------------------------------------------------------------
// 6.1 2-level

#[test]
fn v6_1_1_top_port() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    evc.bind_existing(4095, &mut pages, rec.handler()).unwrap();
    m.set_pending(4095).unwrap();
    assert_eq!(pending_word(&m, 63), 1 << 63);
    assert_eq!(sel(&m, 0), 1 << 63);
    assert_eq!(upcall_pending(&m), 1);
    assert_eq!(evc.handle_upcall(), 1);
    assert_eq!(rec.take(), [4095]);
    assert_eq!(sel(&m, 0), 0);
    assert_eq!(pending_word(&m, 63), 0);
    // Bit 63 + 1 wraps to word 0, also from another start.
    assert_eq!(evc.two_level_cursor(), Some((0, 0)));
    evc.set_two_level_cursor(10, 3);
    m.set_pending(4095).unwrap();
    evc.handle_upcall();
    assert_eq!(rec.take(), [4095]);
    assert_eq!(evc.two_level_cursor(), Some((0, 0)));
}

#[test]
fn v6_1_2_index_math() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    evc.bind_existing(64, &mut pages, rec.handler()).unwrap();
    evc.bind_existing(1, &mut pages, rec.handler()).unwrap();
    m.set_pending(64).unwrap();
    assert_eq!(pending_word(&m, 1), 1);
    assert_eq!(sel(&m, 0), 0b10);
    m.set_pending(1).unwrap();
    assert_eq!(pending_word(&m, 0), 0b10);
    assert_eq!(sel(&m, 0), 0b11);
    evc.handle_upcall();
    assert_eq!(rec.take(), [1, 64]);

    // 32-bit model (W = 32).
    let mem = TwoLevel32::default();
    let r = mem.refs();
    assert_eq!(xen_2l_set_pending(&r, 1023), Ok(true));
    assert_eq!(mem.pending[31].load(SeqCst), 1 << 31);
    assert_eq!(mem.sel[0].load(SeqCst), 1 << 31);
    assert_eq!(mem.upcall_pending.load(SeqCst), 1);
    assert_eq!(xen_2l_set_pending(&r, 1024), Err(XenError::EINVAL));
    // The same guest scan, at W = 32.
    let mut t = TwoLevel::new();
    t.bind_local(32, 1023);
    let mut got = Vec::new();
    mem.upcall_pending.store(0, SeqCst);
    t.scan(&r, &mut usize::MAX.clone(), &mut |p| got.push(p));
    assert_eq!(got, [1023]);
    assert_eq!(t.cursor(), (0, 0));
}

#[test]
fn v6_1_3_coalescing() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    evc.bind_existing(7, &mut pages, rec.handler()).unwrap();
    m.set_pending(7).unwrap();
    m.set_pending(7).unwrap();
    assert_eq!(m.upcall_edges(0), 1, "exactly one upcall edge");
    assert_eq!(evc.handle_upcall(), 1);
    assert_eq!(rec.take(), [7]);
}

#[test]
fn v6_1_4_masked_edge_is_lost() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    evc.bind_existing(5, &mut pages, rec.handler()).unwrap();
    evc.mask(5);
    m.set_pending(5).unwrap();
    assert_eq!(pending_word(&m, 0), 1 << 5);
    assert_eq!(sel(&m, 0), 0);
    assert_eq!(upcall_pending(&m), 0);
    assert_eq!(evc.handle_upcall(), 0);
    assert_eq!(rec.take(), []);
}

#[test]
fn v6_1_4a_hypercall_unmask_with_mask_set_reraises() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    evc.bind_existing(5, &mut pages, rec.handler()).unwrap();
    evc.mask(5);
    m.set_pending(5).unwrap();
    assert_eq!(upcall_pending(&m), 0);
    // EVTCHNOP_unmask with MASK still set.
    m.unmask(5).unwrap();
    assert_eq!(sel(&m, 0), 1);
    assert_eq!(upcall_pending(&m), 1);
    evc.handle_upcall();
    assert_eq!(rec.take(), [5]);
}

#[test]
fn v6_1_4b_pitfall_guest_unmask_still_delivers() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    evc.bind_existing(5, &mut pages, rec.handler()).unwrap();

    // The pitfall itself: clear MASK locally, then EVTCHNOP_unmask: the model does nothing.
    evc.mask(5);
    m.set_pending(5).unwrap();
    m.shared_info().evtchn_mask[0].fetch_and(!(1 << 5), SeqCst);
    m.unmask(5).unwrap();
    assert_eq!(sel(&m, 0), 0, "Xen ignores an unmask of an unmasked port");
    assert_eq!(upcall_pending(&m), 0);
    assert_eq!(evc.handle_upcall(), 0);
    assert_eq!(rec.take(), [], "the event is stuck");
    // (Clean up: deliver it.)
    evc.mask(5);
    evc.unmask(5).unwrap();
    evc.handle_upcall();
    assert_eq!(rec.take(), [5]);

    // The guest's unmask routine, PV local resend (default): delivered, no hypercall.
    let unmasks = m.hypercalls(evtchnop::UNMASK);
    evc.mask(5);
    m.set_pending(5).unwrap();
    evc.unmask(5).unwrap();
    assert_eq!(m.hypercalls(evtchnop::UNMASK), unmasks);
    assert_eq!(upcall_pending(&m), 1, "local resend raised the upcall");
    assert_eq!(evc.handle_upcall(), 1);
    assert_eq!(rec.take(), [5]);

    // The guest's unmask routine, HVM/PVH form (re-mask + EVTCHNOP_unmask): delivered.
    evc.set_unmask_mode(UnmaskMode::Hypercall);
    evc.mask(5);
    m.set_pending(5).unwrap();
    evc.unmask(5).unwrap();
    assert_eq!(m.hypercalls(evtchnop::UNMASK), unmasks + 1);
    assert_eq!(upcall_pending(&m), 1, "Xen re-raised it");
    assert_eq!(evc.handle_upcall(), 1);
    assert_eq!(rec.take(), [5]);
    // Not pending: no hypercall.
    evc.mask(5);
    evc.unmask(5).unwrap();
    assert_eq!(m.hypercalls(evtchnop::UNMASK), unmasks + 1);
}

#[test]
fn v6_1_5_fairness_order() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    for p in [1, 2, 65] {
        evc.bind_existing(p, &mut pages, rec.handler()).unwrap();
        m.set_pending(p).unwrap();
    }
    evc.set_two_level_cursor(0, 2);
    evc.handle_upcall();
    assert_eq!(
        rec.take(),
        [2, 65, 1],
        "Linux round-robin, not lowest-first [1, 2, 65]"
    );
    assert_eq!(evc.two_level_cursor(), Some((0, 2)));
}

#[test]
fn v6_1_6_event_during_handler() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    let seen_upcall = Arc::new(Mutex::new(Vec::new()));
    let (m2, r2, s2) = (m.clone(), rec.clone(), seen_upcall.clone());
    let mut first = true;
    evc.bind_existing(
        3,
        &mut pages,
        Box::new(move |p| {
            r2.0.lock().unwrap().push(p);
            if first {
                first = false;
                m2.set_pending(3).unwrap();
                m2.set_pending(10).unwrap();
                // Word 4: not in this pass's selector snapshot, only the outer loop sees it.
                m2.set_pending(300).unwrap();
                s2.lock().unwrap().push(upcall_pending(&m2));
            }
        }),
    )
    .unwrap();
    evc.bind_existing(10, &mut pages, rec.handler()).unwrap();
    evc.bind_existing(300, &mut pages, rec.handler()).unwrap();
    m.set_pending(3).unwrap();
    assert_eq!(evc.handle_upcall(), 4);
    assert_eq!(
        *seen_upcall.lock().unwrap(),
        [1],
        "upcall_pending set again"
    );
    // Linux scans the start word twice, so 3 and 10 come on its second visit of word 0;
    // 300 needs the outer loop's second pass.
    assert_eq!(rec.take(), [3, 3, 10, 300]);
    assert_eq!(upcall_pending(&m), 0);
    assert_eq!(evc.handle_upcall(), 0, "nothing left");
}

#[test]
fn v6_1_7_smp_filter() {
    let (m, mut evc, mut pages, _) = guest(
        ModelConfig {
            nr_vcpus: 2,
            ..ModelConfig::default()
        },
        AbiChoice::TwoLevel,
    );
    for want in 1..=9 {
        assert_eq!(m.prebind(0), Ok(want));
    }
    m.bind_vcpu(9, 1).unwrap();
    // vCPU 1's code unmasked port 9.
    m.shared_info().evtchn_mask[0].fetch_and(!(1 << 9), SeqCst);
    let rec = Recorder::default();
    evc.bind_existing(8, &mut pages, rec.handler()).unwrap();
    m.set_pending(9).unwrap();
    assert_eq!(sel(&m, 1), 1, "the model sets sel on vCPU 1");
    assert_eq!(sel(&m, 0), 0);
    m.set_pending(8).unwrap();
    assert_eq!(sel(&m, 0), 1, "vCPU 0's sel bit 0 is set because of port 8");
    evc.handle_upcall();
    assert_eq!(rec.take(), [8]);
    assert_eq!(pending_word(&m, 0), 1 << 9, "port 9 left to vCPU 1");
}

// ---------------------------------------------------------------------------------------------
// 6.2 3-level (model-only, private op numbers)

#[test]
fn v6_2_1_top_port() {
    let (m, mut evc, mut pages) = three_level_guest(ModelConfig::default());
    let rec = Recorder::default();
    evc.bind_existing(262_143, &mut pages, rec.handler())
        .unwrap();
    m.set_pending(262_143).unwrap();
    let (pending, _, l2) = m.three_level_bitmaps(0).unwrap();
    let l2 = l2.unwrap();
    assert_eq!(sel(&m, 0), 1 << 63, "L1 bit 63");
    assert_eq!(l2.load(63), 1 << 63, "l2sel[63] bit 63");
    assert_eq!(pending.load(4095), 1 << 63, "pending word 4095 bit 63");
    // Word 4095 is bytes 4088..4095 of pending page 7: bit 63 is the top bit of its high half.
    let page7 = pending.pages()[7];
    assert_eq!(page7[4088 / 4].load(SeqCst), 0);
    assert_eq!(page7[4092 / 4].load(SeqCst), 1 << 31);
    assert_eq!(upcall_pending(&m), 1);
    evc.handle_upcall();
    assert_eq!(rec.take(), [262_143]);
    assert_eq!(pending.load(4095), 0);
    assert_eq!(l2.load(63), 0);
    assert_eq!(sel(&m, 0), 0);
}

#[test]
fn v6_2_2_levels_and_order() {
    let (m, mut evc, mut pages) = three_level_guest(ModelConfig::default());
    let rec = Recorder::default();
    evc.bind_existing(4096, &mut pages, rec.handler()).unwrap();
    evc.bind_existing(4095, &mut pages, rec.handler()).unwrap();
    let (pending, _, l2) = m.three_level_bitmaps(0).unwrap();
    let l2 = l2.unwrap();
    m.set_pending(4096).unwrap();
    assert_eq!(sel(&m, 0), 0b10, "L1 bit 1");
    assert_eq!(l2.load(1), 1, "l2sel[1] bit 0");
    assert_eq!(pending.load(64), 1, "word 64 bit 0");
    m.set_pending(4095).unwrap();
    assert_eq!(sel(&m, 0), 0b11, "L1 bit 0");
    assert_eq!(l2.load(0), 1 << 63, "l2sel[0] bit 63");
    assert_eq!(pending.load(63), 1 << 63, "word 63 bit 63");
    assert_eq!(evc.handle_upcall(), 2);
    assert_eq!(rec.take(), [4095, 4096], "one scan, lowest first");
}

#[test]
fn v6_2_3_32bit_index_math() {
    let m = Model::default();
    let mut pages = m.pages();
    let mem = ThreeLevel32::new(&mut pages, 0).unwrap();
    let r = mem.refs();
    assert_eq!(xen_3l_set_pending(&r, 32_767), Ok(true));
    assert_eq!(mem.l1[0].load(SeqCst), 1 << 31, "L1 bit 31");
    assert_eq!(mem.l2.load(31), 1 << 31, "l2sel[31] bit 31");
    assert_eq!(mem.pending.load(1023), 1 << 31, "word 1023 bit 31");
    assert_eq!(
        mem.pending.pages()[0][4092 / 4].load(SeqCst),
        1 << 31,
        "page 0, offset 4092"
    );
    assert_eq!(xen_3l_set_pending(&r, 32_768), Err(XenError::EINVAL));
    // The guest scan at W = 32.
    let mut local = vec![0u64; 1024];
    local[1023] = 1 << 31;
    let mut got = Vec::new();
    mem.upcall_pending.store(0, SeqCst);
    three_level::scan(&r, &local, &mut usize::MAX.clone(), &mut |p| got.push(p));
    assert_eq!(got, [32_767]);
    assert_eq!(mem.pending.load(1023), 0);
}

#[test]
fn v6_2_4_masking_and_unmask_reraise() {
    let (m, mut evc, mut pages) = three_level_guest(ModelConfig::default());
    let rec = Recorder::default();
    let port = 70_000; // L1 bit 17, L2 word 17 bit 5, L3 word 1093 bit 48.
    evc.bind_existing(port, &mut pages, rec.handler()).unwrap();
    let (pending, mask, l2) = m.three_level_bitmaps(0).unwrap();
    let l2 = l2.unwrap();
    let loc = three_level::locate(64, port).unwrap();
    assert_eq!((loc.l1_bit, loc.l2_word, loc.l2_bit), (17, 17, 5));

    evc.mask(port);
    m.set_pending(port).unwrap();
    assert!(pending.test_bit(loc.l3_word, loc.l3_bit));
    assert_eq!((sel(&m, 0), l2.load(17), upcall_pending(&m)), (0, 0, 0));
    assert_eq!(evc.handle_upcall(), 0);

    // (a) EVTCHNOP_unmask with MASK set: both selector levels and the upcall.
    m.unmask(port).unwrap();
    assert_eq!(sel(&m, 0), 1 << 17);
    assert_eq!(l2.load(17), 1 << 5);
    assert_eq!(upcall_pending(&m), 1);
    evc.handle_upcall();
    assert_eq!(rec.take(), [port]);

    // (b) Pitfall: clear MASK locally then EVTCHNOP_unmask: nothing.
    evc.mask(port);
    m.set_pending(port).unwrap();
    mask.clear_bit(loc.l3_word, loc.l3_bit);
    m.unmask(port).unwrap();
    assert_eq!((sel(&m, 0), l2.load(17), upcall_pending(&m)), (0, 0, 0));
    evc.mask(port);
    // The guest's unmask (local resend) delivers.
    evc.unmask(port).unwrap();
    assert_eq!(sel(&m, 0), 1 << 17);
    assert_eq!(l2.load(17), 1 << 5);
    assert_eq!(upcall_pending(&m), 1);
    evc.handle_upcall();
    assert_eq!(rec.take(), [port]);
    // And the hypercall form.
    evc.set_unmask_mode(UnmaskMode::Hypercall);
    evc.mask(port);
    m.set_pending(port).unwrap();
    evc.unmask(port).unwrap();
    assert_eq!(upcall_pending(&m), 1);
    evc.handle_upcall();
    assert_eq!(rec.take(), [port]);
}

fn registration(
    pages: &mut dyn PageSource,
    nr_pages: u32,
    l2sel: &[(u32, u32)],
) -> ThreeLevelRegistration {
    let mut reg = ThreeLevelRegistration {
        nr_pages,
        pending_gfns: [0; 8],
        mask_gfns: [0; 8],
        l2sel: Vec::new(),
    };
    for i in 0..nr_pages as usize {
        reg.pending_gfns[i] = pages.alloc_shared_page().unwrap().gfn;
        reg.mask_gfns[i] = pages.alloc_shared_page().unwrap().gfn;
    }
    for &(vcpu, offset) in l2sel {
        reg.l2sel.push(L2Selector {
            vcpu,
            gfn: pages.alloc_shared_page().unwrap().gfn,
            offset,
        });
    }
    reg
}

#[test]
fn v6_2_5_registration_validation() {
    let m = Model::with_vcpus(2);
    let mut pages = m.pages();
    // Bitmap page count: 8 for 64-bit, 1 for 32-bit.
    let bad = registration(&mut pages, 1, &[(0, 0)]);
    assert_eq!(
        m.register_3level(&bad),
        Err(XenError::EINVAL),
        "1 page on 64-bit"
    );
    assert_eq!(
        validate_3level_registration(&bad, 32, 2),
        Ok(()),
        "1 page on 32-bit"
    );
    let good = registration(&mut pages, 8, &[(0, 0)]);
    assert_eq!(
        validate_3level_registration(&good, 32, 2),
        Err(XenError::EINVAL)
    );
    // Other checks: vCPU, selector placement, frames.
    let r = registration(&mut pages, 8, &[(2, 0)]);
    assert_eq!(m.register_3level(&r), Err(XenError::ENOENT));
    let r = registration(&mut pages, 8, &[(0, 4)]);
    assert_eq!(m.register_3level(&r), Err(XenError::EINVAL));
    let r = registration(&mut pages, 8, &[(0, 3592)]);
    assert_eq!(
        m.register_3level(&r),
        Err(XenError::EINVAL),
        "512 bytes past the page"
    );
    let mut r = registration(&mut pages, 8, &[(0, 3584)]);
    r.pending_gfns[3] = 0xdead;
    assert_eq!(
        m.register_3level(&r),
        Err(XenError::EINVAL),
        "not a guest frame"
    );
    assert_eq!(m.abi(), Abi::TwoLevel);

    // The guest registers vCPU 0's selector only.
    let (m, mut evc, mut pages, sel_) = guest_on(Arc::new(m), AbiChoice::ThreeLevel);
    assert_eq!(sel_.abi, Abi::ThreeLevel);
    assert_eq!(m.hypercalls(three_level::MODEL_OP_REGISTER_3LEVEL), 6);
    // A port notifying vCPU 1, which has no L2 selector: no events for it.
    let p1 = m.prebind(0).unwrap();
    m.bind_vcpu(p1, 1).unwrap();
    let (pending, mask, _) = m.three_level_bitmaps(1).unwrap();
    let loc = three_level::locate(64, p1).unwrap();
    mask.clear_bit(loc.l3_word, loc.l3_bit);
    m.set_pending(p1).unwrap();
    assert!(pending.test_bit(loc.l3_word, loc.l3_bit));
    assert_eq!(sel(&m, 1), 0);
    assert_eq!(
        m.shared_info().vcpu_info[1]
            .evtchn_upcall_pending
            .load(SeqCst),
        0
    );
    assert_eq!(m.dropped(), 1);
    // vCPU 0 works.
    let rec = Recorder::default();
    let p = evc.bind_ipi(&mut pages, rec.handler()).unwrap();
    evc.send(p).unwrap();
    evc.handle_upcall();
    assert_eq!(rec.take(), [p]);
    // A second registration fails.
    let again = registration(&mut pages, 8, &[(1, 0)]);
    assert_eq!(m.register_3level(&again), Err(EEXIST));
}

// ---------------------------------------------------------------------------------------------
// 6.3 FIFO

fn cb_ready(m: &Model) -> u32 {
    m.fifo_control_block(0).unwrap().ready().load(SeqCst)
}

fn cb_head(m: &Model, q: usize) -> u32 {
    m.fifo_control_block(0).unwrap().head(q).load(SeqCst)
}

fn word(m: &Model, p: u32) -> u32 {
    m.fifo_word(p).unwrap()
}

#[test]
fn v6_3_0_setup() {
    let m = Arc::new(Model::default());
    let mut pages = m.pages();
    let page = pages.alloc_shared_page().unwrap();
    assert_eq!(m.init_control(page.gfn, 0, 0), Ok(17), "link_bits");

    let (m, mut evc, mut pages) = fifo();
    assert_eq!(m.hypercalls(evtchnop::INIT_CONTROL), 1);
    assert_eq!(m.hypercalls(evtchnop::EXPAND_ARRAY), 0, "nothing bound yet");
    let rec = Recorder::default();
    evc.bind_existing(3, &mut pages, rec.handler()).unwrap();
    assert_eq!(m.hypercalls(evtchnop::EXPAND_ARRAY), 1);
    for p in 0..1024 {
        assert_eq!(word(&m, p), if p == 3 { 0 } else { MASKED }, "word {p}");
    }
}

#[test]
fn v6_3_1_single_event() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    evc.bind_existing(3, &mut pages, rec.handler()).unwrap();
    m.set_pending(3).unwrap();
    assert_eq!(word(&m, 3), PENDING | LINKED);
    assert_eq!(word(&m, 3) & LINK_MASK, 0);
    assert_eq!(cb_head(&m, 7), 3);
    assert_eq!(cb_ready(&m), 0x80);
    assert_eq!(upcall_pending(&m), 1);
    assert_eq!(evc.handle_upcall(), 1);
    assert_eq!(rec.take(), [3]);
    assert_eq!(word(&m, 3), 0);
    assert_eq!(evc.fifo_local_head(7), Some(0));
    assert_eq!(cb_ready(&m), 0);
}

#[test]
fn v6_3_2_fifo_order() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    for p in [5, 9, 7] {
        evc.bind_existing(p, &mut pages, rec.handler()).unwrap();
    }
    for p in [5, 9, 7] {
        m.set_pending(p).unwrap();
    }
    assert_eq!(cb_head(&m, 7), 5);
    assert_eq!(word(&m, 5) & LINK_MASK, 9);
    assert_eq!(word(&m, 9) & LINK_MASK, 7);
    assert_eq!(word(&m, 7) & LINK_MASK, 0);
    assert_eq!(cb_ready(&m), 0x80);
    assert_eq!(m.upcall_edges(0), 1, "one new head, one READY, one upcall");
    evc.handle_upcall();
    assert_eq!(rec.take(), [5, 9, 7]);
}

#[test]
fn v6_3_3_priority() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    // Ports 1..=11 bound by the toolstack (set_priority wants a valid port).
    for want in 1..=11 {
        assert_eq!(m.prebind(0), Ok(want));
    }
    evc.bind_existing(10, &mut pages, rec.handler()).unwrap();
    evc.bind_existing(11, &mut pages, rec.handler()).unwrap();
    evc.set_priority(11, 7).unwrap();
    evc.set_priority(10, 3).unwrap();
    m.set_pending(11).unwrap();
    m.set_pending(10).unwrap();
    assert_eq!(cb_ready(&m), (1 << 3) | (1 << 7));
    evc.handle_upcall();
    assert_eq!(rec.take(), [10, 11], "queue 3 first, then queue 7");
}

#[test]
fn v6_3_4_append_after_drain() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    evc.bind_existing(5, &mut pages, rec.handler()).unwrap();
    evc.bind_existing(9, &mut pages, rec.handler()).unwrap();
    m.set_pending(5).unwrap();
    evc.handle_upcall();
    assert_eq!(rec.take(), [5]);
    assert_eq!(evc.fifo_local_head(7), Some(0));
    assert_eq!(word(&m, 5) & LINKED, 0);
    assert_eq!(m.fifo_tail(0, 7), Some(5), "the model's tail is still 5");
    m.set_pending(9).unwrap();
    assert_eq!(
        cb_head(&m, 7),
        9,
        "tail 5 not LINKED: empty queue, new HEAD"
    );
    assert_eq!(cb_ready(&m), 0x80, "READY again");
    evc.handle_upcall();
    assert_eq!(rec.take(), [9]);
}

#[test]
fn v6_3_5_append_mid_walk() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    for p in [5, 9, 12] {
        evc.bind_existing(p, &mut pages, rec.handler()).unwrap();
    }
    m.set_pending(5).unwrap();
    m.set_pending(9).unwrap();
    assert_eq!(evc.handle_upcall_budget(1), 1);
    assert_eq!(rec.take(), [5]);
    assert_eq!(evc.fifo_local_head(7), Some(9));
    let head_reads = evc.fifo_head_reads().unwrap();
    // (The early stop raised upcall_pending for the rest; clear it to watch the model.)
    m.shared_info().vcpu_info[0]
        .evtchn_upcall_pending
        .store(0, SeqCst);
    m.set_pending(12).unwrap();
    assert_eq!(word(&m, 9) & LINK_MASK, 12, "linked onto tail 9");
    assert_eq!(cb_head(&m, 7), 5, "HEAD not rewritten: stale");
    assert_eq!(cb_ready(&m), 0, "no new READY");
    assert_eq!(upcall_pending(&m), 0, "no upcall");
    evc.handle_upcall();
    assert_eq!(rec.take(), [9, 12]);
    assert_eq!(
        evc.fifo_head_reads().unwrap(),
        head_reads,
        "the stale HEAD[7] = 5 was never re-read"
    );
}

#[test]
fn v6_3_6_masked_then_unmask() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    evc.bind_existing(4, &mut pages, rec.handler()).unwrap();
    let unmasks = m.hypercalls(evtchnop::UNMASK);
    evc.mask(4);
    m.set_pending(4).unwrap();
    assert_eq!(word(&m, 4), PENDING | MASKED, "not LINKED");
    assert_eq!(cb_ready(&m), 0);
    assert_eq!(upcall_pending(&m), 0);
    evc.unmask(4).unwrap();
    assert_eq!(
        m.hypercalls(evtchnop::UNMASK),
        unmasks + 1,
        "EVTCHNOP_unmask issued"
    );
    assert_eq!(
        word(&m, 4),
        PENDING | LINKED,
        "Xen cleared MASKED and linked"
    );
    assert_eq!(cb_head(&m, 7), 4);
    assert_eq!(cb_ready(&m), 0x80);
    assert_eq!(upcall_pending(&m), 1);
    evc.handle_upcall();
    assert_eq!(rec.take(), [4]);
    // Not pending: a local cmpxchg, no hypercall.
    evc.mask(4);
    evc.unmask(4).unwrap();
    assert_eq!(word(&m, 4), 0);
    assert_eq!(m.hypercalls(evtchnop::UNMASK), unmasks + 1);
}

#[test]
fn v6_3_7_busy() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    evc.bind_existing(9, &mut pages, rec.handler()).unwrap();
    evc.mask(9);
    assert!(m.set_busy(9, true));
    assert_eq!(word(&m, 9), MASKED | BUSY);
    let m2 = m.clone();
    let xen = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        // The guest is spinning: the word must still be MASKED.
        let during = m2.fifo_word(9).unwrap();
        m2.set_busy(9, false);
        during
    });
    evc.unmask(9).unwrap();
    let during = xen.join().unwrap();
    assert_eq!(
        during,
        MASKED | BUSY,
        "the cmpxchg did not succeed while BUSY"
    );
    assert_eq!(word(&m, 9), 0, "unmask completed once BUSY was cleared");
}

#[test]
fn v6_3_8_limits_and_errors() {
    // expand_array before init_control.
    let m = Model::with_vcpus(2);
    let mut pages = m.pages();
    let p = pages.alloc_shared_page().unwrap();
    assert_eq!(m.expand_array(p.gfn), Err(XenError::EOPNOTSUPP));
    // set_priority while still 2-level.
    assert_eq!(m.set_priority(1, 3), Err(XenError::ENOSYS));
    // init_control checks.
    let cb = pages.alloc_shared_page().unwrap();
    assert_eq!(m.init_control(cb.gfn, 4, 0), Err(XenError::EINVAL));
    assert_eq!(m.init_control(cb.gfn, 4032, 0), Err(XenError::EINVAL));
    assert_eq!(
        m.init_control(cb.gfn, 0, 2),
        Err(XenError::ENOENT),
        "vcpu >= nr_vcpus"
    );
    assert_eq!(
        m.init_control(0xbad, 0, 0),
        Err(XenError::EINVAL),
        "not a guest frame"
    );
    assert_eq!(m.abi(), Abi::TwoLevel);
    assert_eq!(m.init_control(cb.gfn, 4024, 0), Ok(17));
    assert_eq!(m.abi(), Abi::Fifo);
    assert_eq!(
        m.init_control(cb.gfn, 0, 0),
        Err(XenError::EINVAL),
        "same vCPU twice"
    );
    assert_eq!(
        m.init_control(cb.gfn, 0, 1),
        Ok(17),
        "vCPU 1 may share the page"
    );
    // Pages 1..128 accepted, page 129 refused.
    for i in 1..=128 {
        let pg = pages.alloc_shared_page().unwrap();
        assert_eq!(m.expand_array(pg.gfn), Ok(()), "page {i}");
    }
    let pg = pages.alloc_shared_page().unwrap();
    assert_eq!(m.expand_array(pg.gfn), Err(XenError::ENOSPC), "page 129");
    // set_priority.
    let port = m.alloc_unbound(0).unwrap();
    assert_eq!(m.set_priority(port, 16), Err(XenError::EINVAL));
    assert_eq!(m.set_priority(port, 15), Ok(()));

    // Guest setup(131072): refused locally.
    let (_m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    assert_eq!(
        evc.bind_existing(131_072, &mut pages, rec.handler()),
        Err(EvtchnError::PortOutOfRange(131_072))
    );
    assert_eq!(pages.allocated, 1, "no event-array page was added for it");
    evc.bind_existing(131_071, &mut pages, rec.handler())
        .unwrap();
    assert_eq!(pages.allocated, 1 + 128);
}

#[test]
fn v6_3_9_missing_page() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    evc.bind_existing(3, &mut pages, rec.handler()).unwrap();
    assert_eq!(m.fifo_word(1500), None, "only page 0");
    m.set_pending(1500).unwrap();
    assert!(m.fifo_saved_pending(1500), "kept pending internally");
    assert_eq!(cb_ready(&m), 0);
    assert_eq!(upcall_pending(&m), 0);
    for p in 0..1024 {
        assert_eq!(word(&m, p) & PENDING, 0, "no word touched");
    }
    // Binding 1500 adds page 1 (all MASKED); Xen re-raises; the guest's unmask links it.
    evc.bind_existing(1500, &mut pages, rec.handler()).unwrap();
    assert!(!m.fifo_saved_pending(1500));
    assert_eq!(word(&m, 1500), PENDING | LINKED);
    assert_eq!(word(&m, 1501), MASKED);
    assert_eq!(evc.handle_upcall(), 1);
    assert_eq!(rec.take(), [1500]);
}

#[test]
fn v6_3_10_close_while_linked() {
    let (m, mut evc, mut pages) = fifo();
    let rec = Recorder::default();
    for want in 1..=6 {
        assert_eq!(evc.bind_ipi(&mut pages, rec.handler()), Ok(want));
    }
    m.set_pending(6).unwrap();
    assert_eq!(word(&m, 6), PENDING | LINKED);
    evc.close(6).unwrap();
    assert_eq!(m.port_state(6), Some(ChanState::Free));
    assert_eq!(
        word(&m, 6),
        MASKED | LINKED,
        "masked, PENDING cleared by Xen, still linked"
    );
    assert!(m.is_busy(6), "closed but still LINKED: busy");
    let p = evc.alloc_unbound(0, &mut pages, rec.handler()).unwrap();
    assert_eq!(p, 7, "not 6 while it is linked");
    // The next upcall unlinks it and drops the event (closed: no handler).
    assert_eq!(evc.handle_upcall(), 0);
    assert_eq!(rec.take(), []);
    assert!(!evc.fifo_is_linked(6));
    assert!(!m.is_busy(6));
    assert_eq!(evc.alloc_unbound(0, &mut pages, rec.handler()), Ok(6));
}

#[test]
fn v6_3_11_abi_switch() {
    let model = Arc::new(Model::default());
    for want in 1..=8 {
        assert_eq!(model.prebind(0), Ok(want));
    }
    model.set_pending(8).unwrap();
    assert_eq!(pending_word(&model, 0), 1 << 8, "pending under 2-level");
    let (m, mut evc, mut pages, sel_) = guest_on(model, AbiChoice::Fifo);
    assert_eq!(sel_.abi, Abi::Fifo);
    assert!(m.fifo_saved_pending(8), "init_control preserved it");
    let rec = Recorder::default();
    evc.bind_existing(8, &mut pages, rec.handler()).unwrap();
    assert_eq!(evc.handle_upcall(), 1);
    assert_eq!(rec.take(), [8], "delivered once");
    assert_eq!(evc.handle_upcall(), 0);
    // reset(DOMID_SELF) closes every port and returns to 2-level.
    evc.close(8).unwrap();
    m.reset_self().unwrap();
    for p in 1..=8 {
        assert_eq!(m.port_state(p), Some(ChanState::Free));
    }
    assert_eq!(m.abi(), Abi::TwoLevel);
    let pg = pages.alloc_shared_page().unwrap();
    assert_eq!(m.expand_array(pg.gfn), Err(XenError::EOPNOTSUPP));
}

// ---------------------------------------------------------------------------------------------
// 6.4 Cross-ABI / host behaviour

#[test]
fn v6_4_1_default_limit() {
    for choice in [AbiChoice::TwoLevel, AbiChoice::Fifo, AbiChoice::ThreeLevel] {
        let model = Arc::new(Model::default());
        let xenstore = model.prebind(0).unwrap();
        let console = model.prebind(0).unwrap();
        assert_eq!((xenstore, console), (1, 2));
        let (_m, mut evc, mut pages, _) = guest_on(model, choice);
        let mut got = Vec::new();
        let err = loop {
            match evc.alloc_unbound(0, &mut pages, Box::new(|_| {})) {
                Ok(p) => got.push(p),
                Err(e) => break e,
            }
        };
        assert_eq!(got.len(), 1023 - 2, "{choice:?}");
        assert_eq!(got, (3..=1023).collect::<Vec<_>>(), "lowest free first");
        assert_eq!(
            err,
            EvtchnError::Hypercall {
                op: "EVTCHNOP_alloc_unbound",
                err: XenError::ENOSPC
            }
        );
        assert!(err
            .to_string()
            .contains("no free event-channel port (ENOSPC): max_event_channels reached"));
    }
}

#[test]
fn v6_4_2_two_level_abi_cap() {
    let cfg = ModelConfig {
        max_evtchn_port: 8000,
        ..ModelConfig::default()
    };
    let (m, mut evc, mut pages, _) = guest(cfg.clone(), AbiChoice::TwoLevel);
    let mut last = 0;
    let err = loop {
        match evc.alloc_unbound(0, &mut pages, Box::new(|_| {})) {
            Ok(p) => last = p,
            Err(e) => break e,
        }
    };
    assert_eq!(last, 4095);
    assert_eq!(evc.bound_ports(), 4095);
    assert!(matches!(
        err,
        EvtchnError::Hypercall {
            err: XenError::ENOSPC,
            ..
        }
    ));
    // Switching the domain to FIFO: allocation continues to 8000.
    let cb = pages.alloc_shared_page().unwrap();
    assert_eq!(m.init_control(cb.gfn, 0, 0), Ok(17));
    let mut n = 0;
    let err = loop {
        match m.alloc_unbound(0) {
            Ok(p) => {
                n += 1;
                last = p
            }
            Err(e) => break e,
        }
    };
    assert_eq!((n, last, err), (8000 - 4095, 8000, XenError::ENOSPC));

    // A FIFO guest from the start gets all 8000.
    let (_m, mut evc, mut pages, _) = guest(cfg, AbiChoice::Fifo);
    while evc.alloc_unbound(0, &mut pages, Box::new(|_| {})).is_ok() {}
    assert_eq!(evc.bound_ports(), 8000);
}

#[test]
fn v6_4_3_no_fifo_falls_back() {
    for (fifo, errname) in [
        (FifoSupport::Absent, "ENOSYS"),
        (FifoSupport::PvShim, "EOPNOTSUPP"),
    ] {
        for choice in [AbiChoice::Auto, AbiChoice::Fifo] {
            let (m, mut evc, mut pages, sel_) = guest(
                ModelConfig {
                    fifo,
                    ..ModelConfig::default()
                },
                choice,
            );
            assert_eq!(sel_.abi, Abi::TwoLevel);
            let note = sel_.fallback_note.unwrap();
            assert!(
                note.contains(errname) && note.ends_with("using 2-level"),
                "{note}"
            );
            assert_eq!(m.abi(), Abi::TwoLevel);
            // And it works.
            let rec = Recorder::default();
            let p = evc.bind_ipi(&mut pages, rec.handler()).unwrap();
            evc.send(p).unwrap();
            assert_eq!(evc.handle_upcall(), 1);
            assert_eq!(rec.take(), [p]);
        }
    }
}

#[test]
fn v6_4_4_bind_interdomain_raises_at_once() {
    for choice in [AbiChoice::TwoLevel, AbiChoice::Fifo, AbiChoice::ThreeLevel] {
        let (m, mut evc, mut pages, _) = guest(ModelConfig::default(), choice);
        let rec = Recorder::default();
        let remote = m.offer_unbound(0);
        let p = evc
            .bind_interdomain(0, remote, &mut pages, rec.handler())
            .unwrap();
        assert_eq!(evc.handle_upcall(), 1, "{choice:?}");
        assert_eq!(rec.take(), [p]);
        // Sends go to the peer.
        evc.send(p).unwrap();
        assert_eq!(m.remote_sends(), [(0, remote)]);
        // Loopback within the domain: the same.
        let a = evc
            .alloc_unbound(DOMID_SELF, &mut pages, rec.handler())
            .unwrap();
        let b = evc
            .bind_interdomain(DOMID_SELF, a, &mut pages, rec.handler())
            .unwrap();
        assert_eq!(evc.handle_upcall(), 1);
        assert_eq!(rec.take(), [b]);
        evc.send(a).unwrap();
        evc.handle_upcall();
        assert_eq!(rec.take(), [b]);
        evc.send(b).unwrap();
        evc.handle_upcall();
        assert_eq!(rec.take(), [a]);
    }
}

#[test]
fn v6_4_5_send_on_unbound_port() {
    for choice in [AbiChoice::TwoLevel, AbiChoice::Fifo, AbiChoice::ThreeLevel] {
        let (m, mut evc, mut pages, _) = guest(ModelConfig::default(), choice);
        let rec = Recorder::default();
        let p = evc.alloc_unbound(0, &mut pages, rec.handler()).unwrap();
        assert_eq!(evc.send(p), Ok(()));
        assert_eq!(evc.handle_upcall(), 0);
        assert_eq!(rec.take(), []);
        assert_eq!(m.remote_sends(), []);
        // A free port is another matter.
        assert_eq!(
            evc.send(p + 1),
            Err(EvtchnError::Hypercall {
                op: "EVTCHNOP_send",
                err: XenError::EINVAL
            })
        );
        // Once the peer binds, sends reach it.
        let rp = m.peer_bind(p).unwrap();
        evc.send(p).unwrap();
        assert_eq!(m.remote_sends(), [(0, rp)]);
    }
}

#[test]
fn three_level_refused_by_real_xen_falls_back_with_note() {
    let (m, mut evc, mut pages, sel_) = guest(
        ModelConfig {
            three_level: false,
            ..ModelConfig::default()
        },
        AbiChoice::ThreeLevel,
    );
    assert_eq!(sel_.abi, Abi::Fifo);
    assert_eq!(
        sel_.fallback_note.as_deref(),
        Some("3-level: not supported by this hypervisor (Xen never merged it); using FIFO")
    );
    // The 17 pages of the attempt are reused: no new page for the control block or the
    // first event-array page.
    let rec = Recorder::default();
    let p = evc.bind_ipi(&mut pages, rec.handler()).unwrap();
    assert_eq!(pages.allocated, 17);
    evc.send(p).unwrap();
    assert_eq!(evc.handle_upcall(), 1);
    assert_eq!(m.abi(), Abi::Fifo);

    // No FIFO either: 2-level, with both reasons.
    let (_m, _evc, _pages, sel_) = guest(
        ModelConfig {
            three_level: false,
            fifo: FifoSupport::PvShim,
            ..ModelConfig::default()
        },
        AbiChoice::ThreeLevel,
    );
    assert_eq!(sel_.abi, Abi::TwoLevel);
    let note = sel_.fallback_note.unwrap();
    assert!(
        note.starts_with("3-level: not supported") && note.ends_with("using 2-level"),
        "{note}"
    );
}

#[test]
fn out_of_pages() {
    let model = Arc::new(Model::default());
    let mut pages = model.pages().with_limit(1);
    let (mut evc, sel_) = EventChannels::new(
        model.clone(),
        model.shared_info(),
        &mut pages,
        AbiChoice::Fifo,
    );
    assert_eq!(sel_.abi, Abi::Fifo);
    let before = model.hypercalls(evtchnop::CLOSE);
    assert_eq!(
        evc.bind_ipi(&mut pages, Box::new(|_| {})),
        Err(EvtchnError::OutOfPages)
    );
    assert_eq!(
        model.hypercalls(evtchnop::CLOSE),
        before + 1,
        "the new port was closed again"
    );
    assert_eq!(model.port_state(1), Some(ChanState::Free));

    // Not even the control block: 2-level with a note.
    let model = Arc::new(Model::default());
    let mut pages = model.pages().with_limit(0);
    let (_evc, sel_) = EventChannels::new(
        model.clone(),
        model.shared_info(),
        &mut pages,
        AbiChoice::Auto,
    );
    assert_eq!(sel_.abi, Abi::TwoLevel);
    assert!(sel_.fallback_note.unwrap().contains("no page"));
}

#[test]
fn fifo_higher_priority_event_preempts_within_a_pass() {
    // Linux re-reads `ready` after every event: a queue of higher priority that becomes ready
    // while a lower one is being drained is served next, not after it.
    let (m, mut evc, mut pages) = fifo();
    for want in 1..=30 {
        assert_eq!(m.prebind(0), Ok(want));
    }
    let rec = Recorder::default();
    let (m2, r2) = (m.clone(), rec.clone());
    evc.bind_existing(
        20,
        &mut pages,
        Box::new(move |p| {
            r2.0.lock().unwrap().push(p);
            m2.set_pending(30).unwrap();
        }),
    )
    .unwrap();
    evc.bind_existing(21, &mut pages, rec.handler()).unwrap();
    evc.bind_existing(30, &mut pages, rec.handler()).unwrap();
    evc.set_priority(30, 3).unwrap();
    m.set_pending(20).unwrap();
    m.set_pending(21).unwrap();
    assert_eq!(evc.handle_upcall(), 3);
    assert_eq!(rec.take(), [20, 30, 21]);
}

#[test]
fn abi_memory() {
    let (_m, evc, _p) = two_level();
    assert_eq!(evc.abi_memory_bytes(), 1032);
    let (_m, mut evc, mut pages) = fifo();
    let before = evc.abi_memory_bytes();
    assert_eq!(
        before,
        4096 + 68,
        "control block page + local heads and ready"
    );
    evc.bind_existing(2000, &mut pages, Box::new(|_| {}))
        .unwrap();
    assert_eq!(evc.abi_memory_bytes(), before + 2 * 4096);
    let (_m, evc, _p) = three_level_guest(ModelConfig::default());
    assert_eq!(evc.abi_memory_bytes(), 17 * 4096);
}

#[test]
fn bind_errors() {
    let (m, mut evc, mut pages) = two_level();
    let rec = Recorder::default();
    assert_eq!(
        evc.bind_existing(0, &mut pages, rec.handler()),
        Err(EvtchnError::PortOutOfRange(0))
    );
    assert_eq!(
        evc.bind_existing(4096, &mut pages, rec.handler()),
        Err(EvtchnError::PortOutOfRange(4096))
    );
    evc.bind_existing(5, &mut pages, rec.handler()).unwrap();
    assert_eq!(
        evc.bind_existing(5, &mut pages, rec.handler()),
        Err(EvtchnError::AlreadyBound(5))
    );
    assert_eq!(evc.close(6), Err(EvtchnError::NotBound(6)));
    // VIRQ: twice on vCPU 0 is EEXIST; the port is bound to vCPU 0 and fires.
    let t = evc
        .bind_virq(xen_abi::consts::virq::TIMER, &mut pages, rec.handler())
        .unwrap();
    assert_eq!(
        evc.bind_virq(xen_abi::consts::virq::TIMER, &mut pages, rec.handler()),
        Err(EvtchnError::Hypercall {
            op: "EVTCHNOP_bind_virq",
            err: EEXIST
        })
    );
    assert!(m.raise_virq(xen_abi::consts::virq::TIMER, 0));
    evc.handle_upcall();
    assert_eq!(rec.take(), [t]);
    // Closing: masked, handler gone, port free; an event raised later is not delivered.
    evc.close(t).unwrap();
    assert_eq!(m.port_state(t), Some(ChanState::Free));
    assert_ne!(
        m.shared_info().evtchn_mask[0].load(SeqCst) & (1 << t),
        0,
        "closed ports are left masked"
    );
    assert!(!m.raise_virq(xen_abi::consts::virq::TIMER, 0));
    m.set_pending(t).unwrap();
    assert_eq!(evc.handle_upcall(), 0);
    assert_eq!(evc.bound_ports(), 1);
}
