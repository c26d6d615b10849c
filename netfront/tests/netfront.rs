//! netfront against a mock netback: the xenbus handshake through the real xenstore client and
//! a fake xenstored, traffic through the real rings, grants through a real grant table, and
//! every hostile response the front end must survive.

use std::rc::Rc;

use netfront::mock::{MockNetback, MockPlatform};
use netfront::{EventChannels, NetConfig, NetError, Netfront, XenbusState};
use xen_abi::netif::{
    NetifExtraInfo, NetifRxResponse, NetifTxResponse, NETIF_RSP_DROPPED, NETIF_RSP_ERROR,
    NETIF_RSP_NULL, NETIF_RSP_OKAY, XEN_NETIF_EXTRA_TYPE_GSO,
};
use xenstore_client::fake::FakeXenstored;
use xenstore_client::Xenstore;

const MAC: &str = "00:16:3e:12:34:56";

struct Env {
    fake: Rc<FakeXenstored>,
    fe: String,
    fe_abs: String,
    be: String,
}

fn state_of(fake: &FakeXenstored, dir: &str) -> Option<XenbusState> {
    fake.value(&format!("{dir}/state"))
        .and_then(|v| XenbusState::parse(&v))
}

/// The back end's side of the state machine, as netback plays it: Connected once the front
/// end is Connected, Closing when it closes, Closed when it is Closed.
fn backend_step(fake: &FakeXenstored, fe_abs: String, be: String) {
    let front = state_of(fake, &fe_abs);
    let back = state_of(fake, &be);
    let set = |s: XenbusState| {
        fake.write_as(
            0,
            &format!("{be}/state"),
            format!("{}", s as u32).as_bytes(),
        )
        .unwrap()
    };
    match (front, back) {
        (Some(XenbusState::Connected), Some(XenbusState::InitWait)) => set(XenbusState::Connected),
        (Some(XenbusState::Closing), Some(XenbusState::Connected)) => set(XenbusState::Closing),
        (Some(XenbusState::Closed), Some(XenbusState::Closing | XenbusState::Connected)) => {
            set(XenbusState::Closed)
        }
        _ => {}
    }
    fake.schedule(1_000_000, move |f| backend_step(f, fe_abs, be));
}

fn env_with(index: u32, features: &[(&str, &str)], mac: &str, auto: bool) -> Env {
    let fake = Rc::new(FakeXenstored::new());
    let (fe, be) = fake.add_device("vif", index);
    let fe_abs = format!("{}/{fe}", fake.home());
    fake.write_as(0, &format!("{fe_abs}/mac"), mac.as_bytes())
        .unwrap();
    for (k, v) in features {
        fake.write_as(0, &format!("{be}/{k}"), v.as_bytes())
            .unwrap();
    }
    fake.write_as(0, &format!("{be}/state"), b"2").unwrap();
    if auto {
        let (a, b) = (fe_abs.clone(), be.clone());
        fake.schedule(1_000_000, move |f| backend_step(f, a, b));
    }
    Env {
        fake,
        fe,
        fe_abs,
        be,
    }
}

const FULL: &[(&str, &str)] = &[
    ("feature-rx-copy", "1"),
    ("feature-sg", "1"),
    ("feature-split-event-channels", "1"),
    ("multi-queue-max-queues", "4"),
    ("ip", "10.0.0.2"),
];

fn small_cfg() -> NetConfig {
    NetConfig {
        rx_buffers: 32,
        tx_buffers: 32,
        timeout_ns: 5_000_000_000,
        ..NetConfig::default()
    }
}

struct Up {
    env: Env,
    plat: MockPlatform,
    nf: Netfront<MockPlatform>,
    nb: MockNetback,
}

fn up_with(features: &[(&str, &str)], cfg: &NetConfig) -> Up {
    let env = env_with(0, features, MAC, true);
    let plat = MockPlatform::new(1);
    let mut xs = Xenstore::new(env.fake.ring(), &*env.fake);
    let nf = Netfront::connect(plat.clone(), &mut xs, &env.fe, cfg).expect("connect");
    let val = |k: &str| {
        let v = env.fake.value(&format!("{}/{k}", env.fe_abs)).unwrap();
        String::from_utf8(v).unwrap().parse::<u32>().unwrap()
    };
    let nb = MockNetback::attach(&plat, 0, val("tx-ring-ref"), val("rx-ring-ref")).expect("attach");
    Up { env, plat, nf, nb }
}

fn up() -> Up {
    up_with(FULL, &small_cfg())
}

fn frame(n: usize, seed: u32) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).wrapping_add(seed) as u8)
        .collect()
}

#[test]
fn handshake_writes_every_key_and_connects() {
    let u = up();
    let fe = &u.env.fe_abs;
    let v = |k: &str| {
        u.env
            .fake
            .value(&format!("{fe}/{k}"))
            .map(|v| String::from_utf8(v).unwrap())
    };
    let (txg, rxg) = u.nf.ring_grefs();
    assert_eq!(v("tx-ring-ref").unwrap(), txg.to_string());
    assert_eq!(v("rx-ring-ref").unwrap(), rxg.to_string());
    let EventChannels::Split { tx, rx } = u.nf.event_channels() else {
        panic!("the back end offers split event channels")
    };
    assert_ne!(tx, rx);
    assert_eq!(v("event-channel-tx").unwrap(), tx.to_string());
    assert_eq!(v("event-channel-rx").unwrap(), rx.to_string());
    assert_eq!(v("event-channel"), None);
    assert_eq!(v("request-rx-copy").unwrap(), "1");
    assert_eq!(v("feature-rx-notify").unwrap(), "1");
    assert_eq!(v("feature-sg").unwrap(), "1");
    assert_eq!(v("feature-no-csum-offload").unwrap(), "1");
    assert_eq!(state_of(&u.env.fake, fe), Some(XenbusState::Connected));
    assert_eq!(
        state_of(&u.env.fake, &u.env.be),
        Some(XenbusState::Connected)
    );
    assert_eq!(u.nf.mac(), [0x00, 0x16, 0x3e, 0x12, 0x34, 0x56]);
    let ip = u.nf.ip_setting().expect("ip from the back end");
    assert_eq!((ip.addr, ip.prefix), ([10, 0, 0, 2], 24));
    assert!(u.nf.carrier());
    assert!(u.nf.sg());
    // Ring pages + every buffer granted once, the rx buffers all posted, and the back end
    // told about them.
    assert_eq!(u.plat.world().grants_in_use(), 2 + 32 + 32);
    assert_eq!(u.nf.rx_posted(), 32);
    assert!(u.plat.notifies(rx) >= 1);
}

#[test]
fn shared_event_channel_without_split_feature_and_no_ip() {
    let feats = [("feature-rx-copy", "1")];
    let u = up_with(&feats, &small_cfg());
    let EventChannels::Shared(p) = u.nf.event_channels() else {
        panic!("no split event channels offered")
    };
    let v = u
        .env
        .fake
        .value(&format!("{}/event-channel", u.env.fe_abs))
        .unwrap();
    assert_eq!(String::from_utf8(v).unwrap(), p.to_string());
    assert!(!u.nf.sg(), "the back end did not offer feature-sg");
    assert_eq!(u.nf.ip_setting(), None);
}

#[test]
fn refused_setups_leak_nothing() {
    // No rx-copy: refused before anything is granted.
    let env = env_with(0, &[("feature-sg", "1")], MAC, true);
    let plat = MockPlatform::new(1);
    let mut xs = Xenstore::new(env.fake.ring(), &*env.fake);
    let e = Netfront::connect(plat.clone(), &mut xs, &env.fe, &small_cfg()).unwrap_err();
    assert_eq!(e, NetError::Unsupported("feature-rx-copy"));
    assert_eq!(plat.world().grants_in_use(), 0);

    // A malformed MAC.
    let env = env_with(0, FULL, "00:16:3e:zz:00:01", true);
    let mut xs = Xenstore::new(env.fake.ring(), &*env.fake);
    let e = Netfront::connect(plat.clone(), &mut xs, &env.fe, &small_cfg()).unwrap_err();
    assert!(matches!(e, NetError::BadNode { .. }), "{e}");

    // Out of pages half way through the pool: everything granted so far is ended and freed.
    let env = env_with(0, FULL, MAC, true);
    let plat = MockPlatform::new(1);
    plat.world_mut().page_limit = Some(40);
    let mut xs = Xenstore::new(env.fake.ring(), &*env.fake);
    let e = Netfront::connect(plat.clone(), &mut xs, &env.fe, &small_cfg()).unwrap_err();
    assert_eq!(e, NetError::NoMemory);
    assert_eq!(plat.world().grants_in_use(), 0);
    assert_eq!(plat.world().pages_outstanding(), 0);
    assert!(plat.world().ports_open.is_empty());

    // A back end that never connects: a timeout, and nothing leaks.
    let env = env_with(0, FULL, MAC, false);
    let plat = MockPlatform::new(1);
    let mut xs = Xenstore::new(env.fake.ring(), &*env.fake);
    let e = Netfront::connect(plat.clone(), &mut xs, &env.fe, &small_cfg()).unwrap_err();
    assert!(matches!(e, NetError::Backend(_)), "{e}");
    assert_eq!(plat.world().grants_in_use(), 0);
    assert_eq!(plat.world().pages_outstanding(), 0);
}

#[test]
fn rx_and_tx_round_trip_byte_exact() {
    let mut u = up();
    for n in [60, 64, 1514, 1000, 4096] {
        let f = frame(n, n as u32);
        assert_eq!(u.nb.deliver(&f).unwrap(), 1);
        assert_eq!(u.nf.receive().as_deref(), Some(&f[..]));
    }
    assert_eq!(u.nf.receive(), None);
    for n in [42, 1514, 4096] {
        let f = frame(n, 7);
        u.nf.send(&f).unwrap();
        assert_eq!(u.nb.collect_tx().unwrap(), vec![f]);
    }
    let s = u.nf.stats();
    assert_eq!((s.rx_packets, s.tx_packets), (5, 3));
    assert_eq!(s.hostile(), 0);
    // Data placed at an offset in the page is read from there.
    u.nb.rx_offset = 100;
    let f = frame(300, 1);
    u.nb.deliver(&f).unwrap();
    assert_eq!(u.nf.receive().unwrap(), f);
}

#[test]
fn scatter_gather_both_ways() {
    let mut u = up();
    // rx: the back end splits a frame over three slots.
    u.nb.rx_slot_max = 1000;
    let f = frame(2500, 3);
    assert_eq!(u.nb.deliver(&f).unwrap(), 3);
    assert_eq!(u.nf.receive().unwrap(), f);
    // tx: a frame over one page goes out in two slots.
    let big = frame(6000, 9);
    u.nf.send(&big).unwrap();
    assert_eq!(u.nb.collect_tx().unwrap(), vec![big]);
    u.nf.poll();
    assert_eq!(u.nf.buffers_idle().1, 32);

    // Without sg from the back end, a frame over a page is refused, not truncated.
    let mut u = up_with(&[("feature-rx-copy", "1")], &small_cfg());
    assert_eq!(u.nf.send(&frame(5000, 0)), Err(NetError::BadFrame(5000)));
    assert_eq!(u.nf.send(&[]), Err(NetError::BadFrame(0)));
    // ... and a multi-slot rx packet is a protocol violation: dropped, counted, buffers back.
    u.nb.rx_slot_max = 1000;
    u.nb.deliver(&frame(2500, 3)).unwrap();
    assert_eq!(u.nf.receive(), None);
    assert!(u.nf.stats().bad_packet >= 1);
    assert_eq!(u.nf.rx_posted(), 32);
}

#[test]
fn ten_thousand_packets_leak_no_grant_or_buffer() {
    let mut u = up();
    let grants = u.plat.world().grants_in_use();
    let pages = u.plat.world().pages_outstanding();
    for i in 0..10_000u32 {
        let n = 60 + (i as usize * 37) % 1455;
        let f = frame(n, i);
        u.nb.deliver(&f).unwrap();
        let got = u.nf.receive().unwrap();
        assert_eq!(got, f, "rx packet {i}");
        let t = frame(n, !i);
        // Let several frames queue before the back end takes them.
        u.nf.send(&t).unwrap();
        if i % 8 == 7 {
            let sent = u.nb.collect_tx().unwrap();
            assert_eq!(sent.len(), 8);
        }
    }
    u.nb.collect_tx().unwrap();
    u.nf.poll();
    let s = u.nf.stats();
    assert_eq!((s.rx_packets, s.tx_packets), (10_000, 10_000));
    assert_eq!(s.hostile() + s.rx_errors + s.tx_errors + s.rx_dropped, 0);
    // Same grants and pages as right after connecting: recycled, never re-granted.
    assert_eq!(u.plat.world().grants_in_use(), grants);
    assert_eq!(u.plat.world().pages_outstanding(), pages);
    assert_eq!(u.nf.rx_posted(), 32);
    assert_eq!(u.nf.buffers_idle().1, 32);

    // A clean disconnect returns everything.
    let mut xs = Xenstore::new(u.env.fake.ring(), &*u.env.fake);
    let rep = u.nf.disconnect(&mut xs, 5_000_000_000).unwrap();
    assert_eq!(rep.pages_kept_granted, 0);
    assert_eq!(rep.pages_freed, 64);
    assert_eq!(rep.backend_state, Some(XenbusState::Closed));
    assert_eq!(
        state_of(&u.env.fake, &u.env.fe_abs),
        Some(XenbusState::Closed)
    );
    assert_eq!(u.plat.world().grants_in_use(), 0);
    assert_eq!(u.plat.world().pages_outstanding(), 0);
    assert!(u.plat.world().ports_open.is_empty());
}

#[test]
fn hostile_rx_responses_are_dropped_and_counted() {
    let mut u = up();
    let grants = u.plat.world().grants_in_use();

    // Unknown id.
    u.nb.respond_rx_raw(|_| NetifRxResponse {
        id: 999,
        offset: 0,
        flags: 0,
        status: 60,
    })
    .unwrap();
    assert_eq!(u.nf.receive(), None);
    assert_eq!(u.nf.stats().bad_id, 1);

    // Error statuses: the buffer comes back, nothing is delivered.
    for st in [NETIF_RSP_ERROR, NETIF_RSP_DROPPED] {
        u.nb.respond_rx_raw(|r| NetifRxResponse {
            id: r.0.id,
            offset: 0,
            flags: 0,
            status: st,
        })
        .unwrap();
    }
    assert_eq!(u.nf.receive(), None);
    assert_eq!(u.nf.stats().rx_errors, 2);

    // Offset outside the page, and offset + size outside it.
    for (off, size) in [(5000u16, 10i16), (4000, 200), (0, 4097)] {
        u.nb.respond_rx_raw(|r| NetifRxResponse {
            id: r.0.id,
            offset: off,
            flags: 0,
            status: size,
        })
        .unwrap();
    }
    assert_eq!(u.nf.receive(), None);
    assert_eq!(u.nf.stats().bad_offset, 3);

    // A duplicate: the same id answered twice (the second time it is not in flight).
    let mut first = 0;
    u.nb.respond_rx_raw(|r| {
        first = r.0.id;
        NetifRxResponse {
            id: r.0.id,
            offset: 0,
            flags: 0,
            status: 60,
        }
    })
    .unwrap();
    u.nb.respond_rx_raw(|_| NetifRxResponse {
        id: first,
        offset: 0,
        flags: 0,
        status: 60,
    })
    .unwrap();
    assert!(u.nf.receive().is_some(), "the first one is a real packet");
    assert_eq!(u.nf.receive(), None);
    assert_eq!(u.nf.stats().bad_id, 2);

    // An extra-info slot we never negotiated: the packet is dropped, its buffers recycled.
    u.nb.respond_rx_raw(|r| NetifRxResponse {
        id: r.0.id,
        offset: 0,
        flags: xen_abi::netif::NETRXF_EXTRA_INFO,
        status: 60,
    })
    .unwrap();
    u.nb.respond_rx_extra(&NetifExtraInfo {
        ty: XEN_NETIF_EXTRA_TYPE_GSO,
        flags: 0,
        u: [0; 6],
    })
    .unwrap();
    assert_eq!(u.nf.receive(), None);
    assert!(u.nf.stats().bad_packet >= 1);

    // Still working, and no grant was touched: no page left the pool.
    let f = frame(100, 5);
    u.nb.deliver(&f).unwrap();
    assert_eq!(u.nf.receive().unwrap(), f);
    assert!(u.nf.carrier());
    assert_eq!(u.plat.world().grants_in_use(), grants);
    assert_eq!(u.nf.stats().rx_packets, 2);
}

#[test]
fn hostile_tx_responses_are_dropped_and_counted() {
    let mut u = up();
    u.nf.send(&frame(100, 1)).unwrap();
    u.nb.respond_tx_raw(|_| NetifTxResponse { id: 500, status: 0 })
        .unwrap();
    u.nf.poll();
    assert_eq!(u.nf.stats().bad_id, 1);
    assert_eq!(
        u.nf.tx_in_flight(),
        1,
        "its buffer stays lent to the back end"
    );

    u.nf.send(&frame(100, 2)).unwrap();
    u.nb.respond_tx_raw(|r| NetifTxResponse {
        id: r.0.id,
        status: NETIF_RSP_ERROR,
    })
    .unwrap();
    u.nf.poll();
    assert_eq!(u.nf.stats().tx_errors, 1);
    assert_eq!(u.nf.tx_in_flight(), 1);

    u.nf.send(&frame(100, 3)).unwrap();
    u.nb.respond_tx_raw(|r| NetifTxResponse {
        id: r.0.id,
        status: NETIF_RSP_NULL,
    })
    .unwrap();
    u.nf.poll();
    assert_eq!(u.nf.stats().bad_id, 2);

    // A duplicate of an id already answered.
    u.nf.send(&frame(100, 4)).unwrap();
    let mut id = 0;
    u.nb.respond_tx_raw(|r| {
        id = r.0.id;
        NetifTxResponse {
            id: r.0.id,
            status: NETIF_RSP_OKAY,
        }
    })
    .unwrap();
    u.nf.send(&frame(100, 5)).unwrap();
    u.nb.respond_tx_raw(|_| NetifTxResponse {
        id,
        status: NETIF_RSP_OKAY,
    })
    .unwrap();
    u.nf.poll();
    assert_eq!(u.nf.stats().bad_id, 3);
    assert!(u.nf.carrier());
}

#[test]
fn hostile_ring_indices_take_the_carrier_down_without_panic() {
    let mut u = up();
    // rx: rsp_prod claims far more responses than requests outstanding.
    let p = u.nb.rx_rsp_prod();
    u.nb.set_rx_rsp_prod(p.wrapping_add(1000));
    assert_eq!(u.nf.receive(), None);
    assert_eq!(u.nf.stats().ring_corrupt, 1);
    assert!(!u.nf.carrier());
    assert_eq!(u.nf.send(&frame(60, 0)), Err(NetError::NotConnected));
    assert!(!u.nf.poll());

    // tx: the same on the other ring (a fresh device).
    let mut u = up();
    u.nf.send(&frame(60, 0)).unwrap();
    let p = u.nb.tx_rsp_prod();
    u.nb.set_tx_rsp_prod(p.wrapping_add(257));
    u.nf.poll();
    assert_eq!(u.nf.stats().ring_corrupt, 1);
    assert!(!u.nf.carrier());
    // Going backwards is as corrupt as jumping forward.
    let mut u = up();
    u.nb.set_rx_rsp_prod(u32::MAX);
    u.nf.poll();
    assert_eq!(u.nf.stats().ring_corrupt, 1);

    // A broken device still disconnects cleanly and gives every page back.
    let mut xs = Xenstore::new(u.env.fake.ring(), &*u.env.fake);
    let rep = u.nf.disconnect(&mut xs, 5_000_000_000).unwrap();
    assert_eq!(rep.pages_kept_granted, 0);
    assert_eq!(u.plat.world().grants_in_use(), 0);
}

#[test]
fn a_page_still_mapped_by_the_backend_is_never_freed() {
    let mut u = up();
    // The back end keeps one rx buffer and the tx ring mapped across the disconnect.
    let (txg, _) = u.nf.ring_grefs();
    let some_buffer_gref = {
        // Grant references are handed out in order: the first rx buffer follows the rings.
        txg + 2
    };
    u.nb.hold_mapped(some_buffer_gref);
    u.nb.hold_mapped(txg);
    let mut xs = Xenstore::new(u.env.fake.ring(), &*u.env.fake);
    let rep = u.nf.disconnect(&mut xs, 5_000_000_000).unwrap();
    assert_eq!(rep.pages_kept_granted, 2);
    assert_eq!(rep.pages_freed, 63);
    // The held buffer is still granted and was not given back to the allocator.
    assert_eq!(u.plat.world().grants_in_use(), 2);
    assert_eq!(u.plat.world().pages_outstanding(), 1);
}

#[test]
fn two_vifs_on_one_guest() {
    let fake = Rc::new(FakeXenstored::new());
    let mut fes = Vec::new();
    for i in 0..2u32 {
        let (fe, be) = fake.add_device("vif", i);
        let fe_abs = format!("{}/{fe}", fake.home());
        let mac = format!("00:16:3e:00:00:{:02x}", i + 1);
        fake.write_as(0, &format!("{fe_abs}/mac"), mac.as_bytes())
            .unwrap();
        for (k, v) in FULL {
            fake.write_as(0, &format!("{be}/{k}"), v.as_bytes())
                .unwrap();
        }
        fake.write_as(0, &format!("{be}/state"), b"2").unwrap();
        let (a, b) = (fe_abs.clone(), be.clone());
        fake.schedule(1_000_000, move |f| backend_step(f, a, b));
        fes.push((fe, fe_abs));
    }
    let plat = MockPlatform::new(1);
    let mut xs = Xenstore::new(fake.ring(), &*fake);
    let mut devs = Vec::new();
    for (fe, fe_abs) in &fes {
        let mut nf = Netfront::connect(plat.clone(), &mut xs, fe, &small_cfg()).unwrap();
        let val = |k: &str| {
            String::from_utf8(fake.value(&format!("{fe_abs}/{k}")).unwrap())
                .unwrap()
                .parse::<u32>()
                .unwrap()
        };
        let mut nb = MockNetback::attach(&plat, 0, val("tx-ring-ref"), val("rx-ring-ref")).unwrap();
        let f = frame(200, val("tx-ring-ref"));
        nb.deliver(&f).unwrap();
        assert_eq!(nf.receive().unwrap(), f);
        devs.push((nf, nb));
    }
    assert_ne!(devs[0].0.mac(), devs[1].0.mac());
    // Traffic on one does not show on the other.
    devs[0].1.deliver(&frame(64, 1)).unwrap();
    assert!(devs[1].0.receive().is_none());
    assert!(devs[0].0.receive().is_some());
    assert_eq!(plat.world().grants_in_use(), 2 * (2 + 64));
}

#[test]
fn backend_closing_drops_the_carrier_and_the_device_disconnects_once() {
    let mut u = up();
    let mut xs = Xenstore::new(u.env.fake.ring(), &*u.env.fake);
    assert_eq!(u.nf.check_backend(&mut xs), XenbusState::Connected);
    assert!(u.nf.carrier());
    // The toolstack unplugs the vif: the back end goes to Closing.
    u.env
        .fake
        .write_as(0, &format!("{}/state", u.env.be), b"5")
        .unwrap();
    assert_eq!(u.nf.check_backend(&mut xs), XenbusState::Closing);
    assert!(!u.nf.carrier());
    assert_eq!(u.nf.send(&frame(60, 0)), Err(NetError::NotConnected));
    let rep = u.nf.disconnect(&mut xs, 5_000_000_000).unwrap();
    assert_eq!(rep.pages_freed, 64);
    assert!(u.nf.is_released());
    assert_eq!(u.plat.world().grants_in_use(), 0);
    // A second disconnect frees nothing twice.
    let again = u.nf.disconnect(&mut xs, 5_000_000_000).unwrap();
    assert_eq!(again.pages_freed, 0);
    assert_eq!(u.plat.world().pages_outstanding(), 0);
}
