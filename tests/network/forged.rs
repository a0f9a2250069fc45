//! Forged packets through the network's receive path: published by a raw
//! Zenoh session under an exported loop's key, as anyone who can reach the
//! network could. None may panic the loop, allocate what a forged length
//! says, or stop what is genuine from arriving.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use signal_slot::network::{peer_config, zenoh};
use zenoh::Wait;

use super::{Event, PATIENCE, Tester, rss_kib};

/// The probe's slot `on_echo` (its first).
const ON_ECHO: u16 = 0;

/// A record's header: `signals` signals, `before` sent before it.
fn header(signals: u32, before: u64) -> Vec<u8> {
    let mut bytes = b"ssn\0".to_vec();
    bytes.extend_from_slice(&0x5eed_u64.to_le_bytes());
    bytes.extend_from_slice(&before.to_le_bytes());
    bytes.extend_from_slice(&signals.to_le_bytes());
    bytes
}

/// A genuine signal frame to the probe's `on_echo`, its payload's `bin`
/// length as given (the true one unless forged).
fn echo_frame(value: u64, forged_length: Option<u32>) -> Vec<u8> {
    let mut payload = Vec::new();
    rmp::encode::write_array_len(&mut payload, 1).expect("write");
    rmp::encode::write_uint(&mut payload, value).expect("write");
    let mut frame = Vec::new();
    let out = &mut frame;
    rmp::encode::write_array_len(out, 8).expect("write");
    rmp::encode::write_uint(out, 0).expect("write");
    rmp::encode::write_str(out, "forger-loop").expect("write");
    rmp::encode::write_str(out, "forger").expect("write");
    rmp::encode::write_uint(out, 1).expect("write");
    rmp::encode::write_str(out, "value").expect("write");
    rmp::encode::write_array_len(out, 1).expect("write");
    rmp::encode::write_array_len(out, 3).expect("write");
    rmp::encode::write_str(out, "probe").expect("write");
    rmp::encode::write_uint(out, u64::from(ON_ECHO)).expect("write");
    rmp::encode::write_uint(out, 0).expect("write");
    rmp::encode::write_uint(out, 0).expect("write");
    rmp::encode::write_array_len(out, 1).expect("write");
    let length = forged_length.unwrap_or(payload.len() as u32);
    out.push(0xc6);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&payload);
    frame
}

fn record(frames: &[u8], signals: u32, before: u64) -> Vec<u8> {
    let mut bytes = header(signals, before);
    bytes.extend_from_slice(frames);
    bytes
}

pub(super) fn forged_packets_are_dropped_and_the_loop_goes_on() {
    let tester = Tester::new("forged");
    let raw = zenoh::open(peer_config(&[], &[&tester.endpoint]).expect("config"))
        .wait()
        .expect("a raw session");
    let key = format!("signal-slot/{}/loop/probe-forged", tester.system);
    let publisher = raw.declare_publisher(key).wait().expect("publisher");
    // Genuine records reach the probe once the raw session knows its
    // subscriber: sent until one arrives.
    let mut before = 0;
    loop {
        publisher
            .put(record(&echo_frame(1, None), 1, before))
            .wait()
            .expect("put");
        before += 1;
        match tester
            .events
            .recv_timeout(std::time::Duration::from_millis(100))
        {
            Ok(Event::Echo(1)) => break,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => assert!(before < 300, "a genuine record never arrived"),
        }
    }
    let rss_before = rss_kib();

    // Lengths that promise gigabytes.
    for length in [u32::MAX, u32::MAX - 1, 1 << 31, 1 << 20] {
        publisher
            .put(record(&echo_frame(2, Some(length)), 1, before))
            .wait()
            .expect("put");
    }
    let mut huge_array = Vec::new();
    rmp::encode::write_array_len(&mut huge_array, u32::MAX).expect("write");
    let mut huge_str = Vec::new();
    rmp::encode::write_str_len(&mut huge_str, u32::MAX).expect("write");
    for frames in [huge_array, huge_str] {
        publisher
            .put(record(&frames, u32::MAX, u64::MAX))
            .wait()
            .expect("put");
    }

    let genuine = record(&echo_frame(3, None), 1, 0);
    let cases = (
        // Anything at all.
        prop::collection::vec(any::<u8>(), 0..600),
        // A genuine record, with bytes overwritten and cut short.
        prop::collection::vec((0..genuine.len(), any::<u8>()), 0..8),
        0..=genuine.len(),
        // A true header and a body of anything.
        prop::collection::vec(any::<u8>(), 0..300),
    );
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&cases, |(anything, flips, cut, body)| {
            let mut mutated = genuine.clone();
            for (at, byte) in flips {
                mutated[at] = byte;
            }
            mutated.truncate(cut);
            for bytes in [anything, mutated, record(&body, 1, 0)] {
                publisher.put(bytes).wait().expect("put");
            }
            Ok(())
        })
        .expect("every packet sent");

    // The loop goes on: a genuine record sent after them all arrives
    // (echoes the mutations decoded into are skipped).
    publisher
        .put(record(&echo_frame(424_242, None), 1, 0))
        .wait()
        .expect("put");
    loop {
        match tester.next("the genuine record after the forged ones") {
            Event::Echo(424_242) => break,
            Event::Echo(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let rss_after = rss_kib();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert!(
        tester.probe_loop.event_loop().dropped_signals() > 0,
        "forged records are counted"
    );
    let _ = PATIENCE;
}
