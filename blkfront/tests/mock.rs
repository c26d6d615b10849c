//! blkfront against the mock blkback over the mock ring: handshake variants, every
//! operation, a full ring, multi-page rings, indirect segments, resource exhaustion and a
//! hostile back end.

use std::cell::RefCell;
use std::rc::Rc;

use blkfront::mock::{Action, BackendConfig, MockBlkback, MockPlatform, MockWorld};
use blkfront::{BlkError, BlkFront, Options};
use xen_abi::blkif::{
    BlkifResponse, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE,
    BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, VDISK_READONLY,
};
use xenstore_client::fake::FakeXenstored;
use xenstore_client::Xenstore;

struct Rig {
    front: BlkFront<MockPlatform>,
    world: Rc<RefCell<MockWorld>>,
    fake: &'static FakeXenstored,
    fe: String,
}

type Attempt = (
    Result<BlkFront<MockPlatform>, BlkError>,
    Rc<RefCell<MockWorld>>,
    &'static FakeXenstored,
    String,
);

fn try_rig(cfg: BackendConfig, opts: Options, grants: usize) -> Attempt {
    let fake: &'static FakeXenstored = Box::leak(Box::new(FakeXenstored::new()));
    let (fe, be) = fake.add_device("vbd", 51712);
    let world = MockWorld::new(grants);
    MockBlkback::serve_handshake(fake, world.clone(), &fe, &be, cfg);
    let mut xs = Xenstore::new(fake.ring(), fake);
    let platform = MockPlatform {
        world: world.clone(),
    };
    let r = BlkFront::connect(&mut xs, &fe, platform, opts);
    (r, world, fake, fe)
}

fn rig(cfg: BackendConfig, opts: Options) -> Rig {
    let (r, world, fake, fe) = try_rig(cfg, opts, 504);
    Rig {
        front: r.expect("handshake"),
        world,
        fake,
        fe,
    }
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn with_backend<R>(world: &Rc<RefCell<MockWorld>>, f: impl FnOnce(&mut MockBlkback) -> R) -> R {
    f(world
        .borrow_mut()
        .backend
        .as_mut()
        .expect("backend attached"))
}

#[test]
fn handshake_single_page_ring_and_disk_info() {
    let r = rig(
        BackendConfig {
            size: 8 << 20,
            ..Default::default()
        },
        Options::default(),
    );
    let info = r.front.info();
    assert_eq!(info.sectors, (8 << 20) / 512);
    assert_eq!(info.bytes(), 8 << 20);
    assert_eq!(info.sector_size, 512);
    assert_eq!((info.ring_pages, info.ring_size), (1, 32));
    assert!(info.flush && !info.barrier && !info.readonly);
    assert_eq!(info.segments_per_request, 11, "no indirect offered");
    let home = r.fake.home();
    let node = |n: &str| r.fake.value(&format!("{home}/{}/{n}", r.fe));
    assert_eq!(node("state").as_deref(), Some(&b"4"[..]), "front Connected");
    assert!(node("ring-ref").is_some());
    assert!(node("ring-page-order").is_none());
    assert_eq!(node("protocol").as_deref(), Some(&b"x86_64-abi"[..]));
}

#[test]
fn write_flush_read_round_trip_unaligned_lengths() {
    let mut r = rig(BackendConfig::default(), Options::default());
    // A range that is not page-aligned and not a whole number of pages.
    let data = pattern(1, 512 * 177);
    r.front.write(3, &data).unwrap();
    r.front.flush().unwrap();
    let mut back = vec![0u8; data.len()];
    r.front.read(3, &mut back).unwrap();
    assert_eq!(back, data);
    // The mock's disk has it at the right place, nothing around it.
    let disk = with_backend(&r.world, |b| b.disk.clone());
    assert_eq!(&disk[3 * 512..3 * 512 + data.len()], &data[..]);
    assert!(disk[..3 * 512].iter().all(|&b| b == 0));
    assert!(disk[3 * 512 + data.len()..].iter().all(|&b| b == 0));
    let ops = with_backend(&r.world, |b| b.ops.clone());
    assert_eq!(ops.get(&BLKIF_OP_FLUSH_DISKCACHE), Some(&1));
    // 88.5 KiB in requests of at most 11 pages: 3 each way.
    assert_eq!(
        (ops[&BLKIF_OP_WRITE], ops[&BLKIF_OP_READ]),
        (3, 3),
        "{ops:?}"
    );
    // Every grant ended, every bounce page back in the pool.
    assert_eq!(
        r.world.borrow().grants_in_use(),
        1,
        "only the ring is granted"
    );
    let s = r.front.stats();
    assert_eq!(
        s.quarantined_pages + s.unknown_id + s.bad_status + s.bad_operation,
        0
    );
    assert!(with_backend(&r.world, |b| b.violations.is_empty()));
}

#[test]
fn full_ring_keeps_every_slot_busy_then_waits() {
    let opts = Options {
        max_indirect_segments: 0,
        max_pages_in_flight: 4096,
        ..Options::default()
    };
    let mut r = rig(
        BackendConfig {
            size: 8 << 20,
            ..Default::default()
        },
        opts,
    );
    // 32 slots x 11 pages = 1408 KiB fills the ring; 3 MiB needs several rounds.
    let data = pattern(2, 3 << 20);
    r.front.write(0, &data).unwrap();
    let s = r.front.stats();
    // 352 pages fit in 504 grants: the ring, not the grants, is the limit.
    assert_eq!(s.max_in_flight, 32, "{s:?}");
    assert!(s.resource_waits > 0);
    assert_eq!(with_backend(&r.world, |b| b.max_batch), 32);
    let mut back = vec![0u8; data.len()];
    r.front.read(0, &mut back).unwrap();
    assert_eq!(back, data);
}

#[test]
fn slow_backend_answering_one_request_per_event() {
    let mut r = rig(BackendConfig::default(), Options::default());
    with_backend(&r.world, |b| b.per_wait = Some(1));
    let data = pattern(3, 300 * 1024);
    r.front.write(16, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    r.front.read(16, &mut back).unwrap();
    assert_eq!(back, data);
}

#[test]
fn multi_page_ring_when_offered() {
    let mut r = rig(
        BackendConfig {
            max_ring_page_order: Some(2),
            ..Default::default()
        },
        Options::default(),
    );
    let info = r.front.info().clone();
    assert_eq!(info.ring_pages, 4);
    // (4 * 4096 - 64) / 112 = 145 -> 128 entries.
    assert_eq!(info.ring_size, 128);
    let home = r.fake.home();
    let node = |n: &str| r.fake.value(&format!("{home}/{}/{n}", r.fe));
    assert_eq!(node("ring-page-order").as_deref(), Some(&b"2"[..]));
    assert!(node("ring-ref3").is_some() && node("ring-ref").is_none());
    let data = pattern(4, 1 << 20);
    r.front.write(0, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    r.front.read(0, &mut back).unwrap();
    assert_eq!(back, data);

    // Our own cap wins over a bigger offer.
    let r = rig(
        BackendConfig {
            max_ring_page_order: Some(9),
            ..Default::default()
        },
        Options {
            max_ring_page_order: 1,
            ..Options::default()
        },
    );
    assert_eq!(r.front.info().ring_pages, 2);
}

#[test]
fn indirect_segments_when_offered() {
    let (front, world, _, _) = try_rig(
        BackendConfig {
            max_indirect_segments: Some(600),
            ..Default::default()
        },
        Options {
            max_indirect_segments: 520,
            max_pages_in_flight: 2048,
            ..Options::default()
        },
        1200,
    );
    let mut r = Rig {
        front: front.unwrap(),
        world,
        fake: Box::leak(Box::new(FakeXenstored::new())),
        fe: String::new(),
    };
    assert_eq!(r.front.info().segments_per_request, 520);
    // 520 segments need 2 indirect pages; 3 MiB = 768 pages = one 520 + one 248.
    let data = pattern(5, 3 << 20);
    r.front.write(8, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    r.front.read(8, &mut back).unwrap();
    assert_eq!(back, data);
    let segs = with_backend(&r.world, |b| b.segments_per_request.clone());
    assert_eq!(&segs[..2], &[520, 248], "{segs:?}");
    assert!(r.front.stats().indirect_requests >= 4);
    assert_eq!(
        with_backend(&r.world, |b| b.ops.get(&BLKIF_OP_INDIRECT).copied()),
        Some(4)
    );
    // A back end that echoes BLKIF_OP_INDIRECT itself is right too; any other op is not.
    with_backend(&r.world, |b| {
        b.hook = Some(Box::new(|req| {
            Action::Replace(BlkifResponse {
                id: req.id(),
                operation: req.operation(),
                status: 0,
            })
        }))
    });
    r.front.write(8, &data).unwrap();
    with_backend(&r.world, |b| {
        b.hook = Some(Box::new(|req| {
            Action::Replace(BlkifResponse {
                id: req.id(),
                operation: BLKIF_OP_READ,
                status: 0,
            })
        }))
    });
    assert!(matches!(
        r.front.write(8, &data),
        Err(BlkError::BadResponse(_))
    ));
    with_backend(&r.world, |b| b.hook = None);
    assert_eq!(
        r.front.stats().bad_operation,
        2,
        "one per request of the write"
    );
    // Small transfers still go direct.
    let before = with_backend(&r.world, |b| b.ops.get(&BLKIF_OP_WRITE).copied());
    r.front.write(0, &pattern(6, 4096)).unwrap();
    assert_eq!(
        with_backend(&r.world, |b| b.ops.get(&BLKIF_OP_WRITE).copied()),
        Some(before.unwrap_or(0) + 1)
    );
    assert_eq!(r.world.borrow().grants_in_use(), 1);
}

#[test]
fn indirect_requests_shrink_to_the_grants_there_are() {
    // 520-segment requests need 522 grants; the table has 503 for data.
    let (front, world, _, _) = try_rig(
        BackendConfig {
            max_indirect_segments: Some(600),
            ..Default::default()
        },
        Options {
            max_indirect_segments: 520,
            max_pages_in_flight: 2048,
            ..Options::default()
        },
        504,
    );
    let mut front = front.unwrap();
    let data = pattern(13, 3 << 20);
    front.write(0, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    front.read(0, &mut back).unwrap();
    assert_eq!(back, data);
    let segs = with_backend(&world, |b| b.segments_per_request.clone());
    assert!(segs.iter().all(|&n| n <= 260), "{segs:?}");
    assert!(segs.iter().any(|&n| n > 11), "still indirect: {segs:?}");
    assert_eq!(world.borrow().grants_in_use(), 1);
}

#[test]
fn grant_exhaustion_waits_then_fails_cleanly() {
    // 1 ring grant + 20 for data: requests wait for each other's grants.
    let (front, world, _, _) = try_rig(BackendConfig::default(), Options::default(), 21);
    let mut front = front.unwrap();
    let data = pattern(7, 512 * 1024);
    front.write(0, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    front.read(0, &mut back).unwrap();
    assert_eq!(back, data);
    assert!(front.stats().max_in_flight <= 2);
    assert!(front.stats().resource_waits > 0);
    assert_eq!(world.borrow().grants_in_use(), 1);

    // Only the ring's grant: nothing can ever be granted, an error, not a hang.
    let (front, world, _, _) = try_rig(BackendConfig::default(), Options::default(), 1);
    let mut front = front.unwrap();
    let mut buf = vec![0u8; 4096];
    assert_eq!(
        front.read(0, &mut buf),
        Err(BlkError::Grant(blkfront::GntError::Exhausted))
    );
    assert_eq!(world.borrow().grants_in_use(), 1);

    // No grant for the ring at all: the handshake fails and says why.
    let (front, _, fake, fe) = try_rig(BackendConfig::default(), Options::default(), 0);
    assert_eq!(
        front.unwrap_err(),
        BlkError::Grant(blkfront::GntError::Exhausted)
    );
    let state = fake.value(&format!("{}/{fe}/state", fake.home()));
    assert_eq!(state.as_deref(), Some(&b"6"[..]), "front Closed");
}

#[test]
fn out_of_memory_is_an_error() {
    let mut r = rig(BackendConfig::default(), Options::default());
    r.world.borrow_mut().page_limit = Some(0);
    let mut buf = vec![0u8; 8192];
    assert_eq!(r.front.read(0, &mut buf), Err(BlkError::NoMemory));
}

#[test]
fn range_and_alignment_checks() {
    let mut r = rig(
        BackendConfig {
            size: 1 << 20,
            sector_size: 4096,
            ..Default::default()
        },
        Options::default(),
    );
    let mut buf = vec![0u8; 4096];
    assert_eq!(
        r.front.read(1, &mut buf),
        Err(BlkError::OutOfRange),
        "not 4K-aligned"
    );
    let mut small = vec![0u8; 512];
    assert_eq!(r.front.read(0, &mut small), Err(BlkError::Unaligned));
    let last = (1 << 20) / 512 - 8;
    r.front.write(last, &buf).unwrap();
    assert_eq!(r.front.read(last + 8, &mut buf), Err(BlkError::OutOfRange));
    assert_eq!(
        r.front.read(u64::MAX - 7, &mut buf),
        Err(BlkError::OutOfRange)
    );
    assert_eq!(
        r.front.stats().requests,
        1,
        "refused ranges never reach the ring"
    );
}

#[test]
fn read_only_disk_refuses_writes() {
    let mut r = rig(
        BackendConfig {
            info: VDISK_READONLY,
            ..Default::default()
        },
        Options::default(),
    );
    assert!(r.front.info().readonly);
    assert_eq!(r.front.write(0, &[0u8; 512]), Err(BlkError::ReadOnly));
    let mut buf = [0u8; 512];
    r.front.read(0, &mut buf).unwrap();
    assert_eq!(
        with_backend(&r.world, |b| b.ops.get(&BLKIF_OP_WRITE).copied()),
        None
    );
}

#[test]
fn flush_unsupported_or_refused() {
    let mut r = rig(
        BackendConfig {
            flush: false,
            barrier: true,
            ..Default::default()
        },
        Options::default(),
    );
    assert!(r.front.info().barrier);
    assert_eq!(r.front.flush(), Err(BlkError::NotSupported));
    assert_eq!(r.front.stats().requests, 0);

    let mut r = rig(BackendConfig::default(), Options::default());
    with_backend(&r.world, |b| {
        b.hook = Some(Box::new(|req| {
            Action::Replace(BlkifResponse {
                id: req.id(),
                operation: req.operation(),
                status: BLKIF_RSP_EOPNOTSUPP,
            })
        }))
    });
    assert_eq!(r.front.flush(), Err(BlkError::NotSupported));
    assert!(!r.front.info().flush, "flush turned off after EOPNOTSUPP");
    assert_eq!(r.front.flush(), Err(BlkError::NotSupported));
    assert_eq!(r.front.stats().requests, 1);
}

#[test]
fn backend_io_error_reaches_the_caller_and_device_recovers() {
    let mut r = rig(BackendConfig::default(), Options::default());
    with_backend(&r.world, |b| {
        b.hook = Some(Box::new(|req| {
            if req.operation() == BLKIF_OP_WRITE {
                Action::Replace(BlkifResponse {
                    id: req.id(),
                    operation: req.operation(),
                    status: BLKIF_RSP_ERROR,
                })
            } else {
                Action::Serve
            }
        }))
    });
    assert_eq!(r.front.write(0, &pattern(8, 100 * 1024)), Err(BlkError::Io));
    assert!(r.front.stats().error_responses >= 1);
    assert_eq!(
        r.world.borrow().grants_in_use(),
        1,
        "all grants ended after the error"
    );
    with_backend(&r.world, |b| b.hook = None);
    let data = pattern(9, 8192);
    r.front.write(0, &data).unwrap();
    let mut back = vec![0u8; 8192];
    r.front.read(0, &mut back).unwrap();
    assert_eq!(back, data);
}

#[test]
fn hostile_unknown_id_is_dropped_and_counted() {
    let mut r = rig(BackendConfig::default(), Options::default());
    let data = pattern(10, 64 * 1024);
    r.front.write(0, &data).unwrap();
    // Every response carries a stale id (right slot, an old generation) or one never used.
    with_backend(&r.world, |b| {
        let mut n = 0u64;
        b.hook = Some(Box::new(move |req| {
            n += 1;
            Action::Replace(BlkifResponse {
                id: if n.is_multiple_of(2) {
                    req.id() ^ 0x5_0000
                } else {
                    u64::MAX
                },
                operation: req.operation(),
                status: 0,
            })
        }))
    });
    let mut back = vec![0u8; data.len()];
    assert_eq!(r.front.read(0, &mut back), Err(BlkError::Timeout));
    let s = r.front.stats();
    assert!(s.unknown_id >= 2, "{s:?}");
    assert_eq!(
        back,
        vec![0u8; data.len()],
        "no data from unmatched responses"
    );
    // The requests never completed: their pages stay granted, never reused.
    assert!(r.world.borrow().grants_in_use() > 1);
}

#[test]
fn hostile_wrong_operation_and_bad_status_fail_the_request() {
    let mut r = rig(BackendConfig::default(), Options::default());
    with_backend(&r.world, |b| {
        b.hook = Some(Box::new(|req| {
            Action::Replace(BlkifResponse {
                id: req.id(),
                operation: BLKIF_OP_WRITE,
                status: 0,
            })
        }))
    });
    let mut buf = vec![0u8; 4096];
    assert!(matches!(
        r.front.read(0, &mut buf),
        Err(BlkError::BadResponse(_))
    ));
    assert_eq!(r.front.stats().bad_operation, 1);
    with_backend(&r.world, |b| {
        b.hook = Some(Box::new(|req| {
            Action::Replace(BlkifResponse {
                id: req.id(),
                operation: req.operation(),
                status: 7,
            })
        }))
    });
    assert!(matches!(
        r.front.read(0, &mut buf),
        Err(BlkError::BadResponse(_))
    ));
    assert_eq!(r.front.stats().bad_status, 1);
    // Still usable, nothing leaked.
    with_backend(&r.world, |b| b.hook = None);
    r.front.read(0, &mut buf).unwrap();
    assert_eq!(r.world.borrow().grants_in_use(), 1);
    assert_eq!(r.front.quarantined(), 0);
}

#[test]
fn hostile_answer_while_still_mapped_quarantines_the_pages() {
    let mut r = rig(BackendConfig::default(), Options::default());
    r.front.write(0, &pattern(11, 8192)).unwrap();
    with_backend(&r.world, |b| b.keep_mapped = true);
    let mut buf = vec![0u8; 8192];
    assert!(matches!(
        r.front.read(0, &mut buf),
        Err(BlkError::BadResponse(_))
    ));
    assert_eq!(
        buf,
        vec![0u8; 8192],
        "data of pages still mapped is not used"
    );
    assert_eq!(r.front.quarantined(), 2);
    assert_eq!(r.front.stats().quarantined_pages, 2);
    let kept: Vec<u64> = with_backend(&r.world, |b| {
        b.keep_mapped = false;
        b.frames_served.split_off(b.frames_served.len() - 2)
    });
    assert_eq!(r.world.borrow().grants_mapped(), 3, "ring + 2 pages");
    // Later requests never use the quarantined frames.
    let data = pattern(12, 256 * 1024);
    r.front.write(0, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    r.front.read(0, &mut back).unwrap();
    assert_eq!(back, data);
    let frames = with_backend(&r.world, |b| b.frames_served.clone());
    let tail = &frames[frames.len() - 128..];
    assert!(
        kept.iter().all(|k| !tail.contains(k)),
        "a quarantined page was reused"
    );
}

#[test]
fn hostile_ring_indices_break_the_device_without_panic() {
    let mut r = rig(BackendConfig::default(), Options::default());
    with_backend(&r.world, |b| b.paused = true);
    let words = r.world.borrow().ring_words().unwrap();
    // The back end claims 1000 responses to requests never made.
    xen_ring::raw_header(words).set_rsp_prod(1000);
    let mut buf = vec![0u8; 4096];
    assert_eq!(r.front.read(0, &mut buf), Err(BlkError::RingCorrupt));
    assert!(r.front.is_broken());
    assert_eq!(r.front.read(0, &mut buf), Err(BlkError::Broken));
    // The request's page stays granted (never reused): the back end may still hold it.
    assert_eq!(r.world.borrow().grants_in_use(), 2);
}

#[test]
fn silent_backend_times_out() {
    let mut r = rig(
        BackendConfig::default(),
        Options {
            timeout_ns: 1_000_000_000,
            ..Options::default()
        },
    );
    with_backend(&r.world, |b| b.hook = Some(Box::new(|_| Action::Drop)));
    let before = r.world.borrow().clock;
    let mut buf = vec![0u8; 4096];
    assert_eq!(r.front.read(0, &mut buf), Err(BlkError::Timeout));
    assert!(r.world.borrow().clock - before >= 1_000_000_000);
    assert!(r.front.is_broken());
}

#[test]
fn backend_that_never_connects_or_closes() {
    // A back end that closes during the handshake.
    let fake: &'static FakeXenstored = Box::leak(Box::new(FakeXenstored::new()));
    let (fe, be) = fake.add_device("vbd", 51712);
    fake.write_as(0, &format!("{be}/state"), b"2").unwrap();
    fake.schedule(5_000_000, {
        let be = be.clone();
        move |f| f.write_as(0, &format!("{be}/state"), b"6").unwrap()
    });
    let mut xs = Xenstore::new(fake.ring(), fake);
    let world = MockWorld::new(504);
    let err =
        BlkFront::connect(&mut xs, &fe, MockPlatform { world }, Options::default()).unwrap_err();
    assert!(matches!(err, BlkError::BackendState(_)), "{err}");

    // One whose sector-size is nonsense.
    let (r, _, _, _) = try_rig(
        BackendConfig {
            sector_size: 1000,
            ..Default::default()
        },
        Options::default(),
        504,
    );
    assert!(matches!(r.unwrap_err(), BlkError::BadBackend(_, _)));
}

#[test]
fn random_io_matches_a_model() {
    let mut r = rig(
        BackendConfig {
            size: 2 << 20,
            max_ring_page_order: Some(1),
            max_indirect_segments: Some(32),
            ..Default::default()
        },
        Options::default(),
    );
    let mut model = vec![0u8; 2 << 20];
    let mut x = 0x1234_5678_u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let sectors = (2 << 20) / 512;
    for i in 0..200 {
        let start = next() % sectors;
        let n = (next() % 700 + 1).min(sectors - start);
        let len = n as usize * 512;
        let off = start as usize * 512;
        if next() % 2 == 0 {
            let data = pattern(i, len);
            r.front.write(start, &data).unwrap();
            model[off..off + len].copy_from_slice(&data);
        } else {
            let mut buf = vec![0u8; len];
            r.front.read(start, &mut buf).unwrap();
            assert_eq!(buf, model[off..off + len], "read {start}+{n}");
        }
    }
    assert_eq!(with_backend(&r.world, |b| b.disk.clone()), model);
    assert_eq!(r.world.borrow().grants_in_use(), 2, "ring (2 pages) only");
}
