//! The host link's UART on Verilator: the transmitter's line is the line model's, byte
//! for byte and cycle for cycle; the receiver reads random bytes off the model's line
//! with the predicted latency, flags a missing stop bit, and ignores a glitch.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hdl::uart::{self, UartRx, UartTx};
use sim::verilator::{lint, VerilatedDesign};

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

/// The index of a port among the inputs or among the outputs.
fn port(sim: &VerilatedDesign, name: &str) -> usize {
    sim.port(name).unwrap()
}

/// The receiver's outputs, a cycle per entry, with `line` on its `rx`.
fn receive(sim: &VerilatedDesign, line: &[bool]) -> Vec<Vec<u128>> {
    let rx = port(sim, "rx");
    let mut cycles = vec![vec![0u128; sim.inputs().len()]; line.len()];
    for (c, &b) in cycles.iter_mut().zip(line) {
        c[rx] = u128::from(b);
    }
    sim.run(&cycles, None).unwrap()
}

#[test]
fn the_transmitter_sends_the_line_model_back_to_back() {
    for d in [2u16, 5, 8] {
        let v = hdl::verilog(UartTx::new(d));
        let sim = VerilatedDesign::build(&format!("uart_tx{d}"), &v).unwrap();
        let (data, valid) = (port(&sim, "data"), port(&sim, "valid"));
        let msg = bytes(40, u64::from(d));
        // The host offers the next byte whenever the transmitter is ready, so the
        // stimulus follows the model's timing: a byte every `tx_cycles`.
        let per = uart::tx_cycles(d) as usize;
        let lead = 3;
        let total = lead + msg.len() * per + 20;
        let mut cycles = vec![vec![0u128; sim.inputs().len()]; total];
        for (k, b) in msg.iter().enumerate() {
            let t = lead + k * per;
            cycles[t][data] = u128::from(*b);
            cycles[t][valid] = 1;
        }
        let out = sim.run(&cycles, None).unwrap();
        let (tx, ready) = (port(&sim, "tx"), port(&sim, "ready"));
        let line: Vec<bool> = out.iter().map(|o| o[tx] == 1).collect();
        // The frame starts the cycle after the byte is taken.
        let want = uart::encode(&msg, d, lead + 1);
        assert_eq!(&line[..want.len()], &want[..], "divisor {d}");
        assert!(
            line[want.len()..].iter().all(|&b| b),
            "idle after the last byte"
        );
        for (k, _) in msg.iter().enumerate() {
            assert_eq!(out[lead + k * per][ready], 1, "ready for byte {k}");
        }
        assert_eq!(uart::decode(&line, d).unwrap(), msg);
    }
}

#[test]
fn the_receiver_reads_the_line_model_with_the_predicted_latency() {
    for d in [2u16, 5, 8] {
        let v = hdl::verilog(UartRx::new(d));
        let sim = VerilatedDesign::build(&format!("uart_rx{d}"), &v).unwrap();
        let msg = bytes(40, 7 + u64::from(d));
        let idle = 4;
        let mut line = uart::encode(&msg, d, idle);
        // A glitch shorter than half a bit between two frames' worth of idle line.
        let mut tail = vec![true; 3 * d as usize];
        tail[1] = false;
        line.extend(tail);
        line.extend(uart::encode(&[0xc3], d, 0));
        line.extend(vec![true; 40]);
        let out = receive(&sim, &line);
        let (data, valid, error) = (port(&sim, "data"), port(&sim, "valid"), port(&sim, "error"));
        let got: Vec<(usize, u8)> = out
            .iter()
            .enumerate()
            .filter(|(_, c)| c[valid] == 1)
            .map(|(t, c)| (t, c[data] as u8))
            .collect();
        let mut want: Vec<u8> = msg.clone();
        want.push(0xc3);
        assert_eq!(
            got.iter().map(|g| g.1).collect::<Vec<_>>(),
            want,
            "divisor {d}"
        );
        let per = uart::tx_cycles(d) as usize;
        for (k, (t, _)) in got.iter().take(msg.len()).enumerate() {
            let start = idle + k * per;
            assert_eq!(
                *t as u64,
                start as u64 + uart::rx_latency(d),
                "byte {k}, divisor {d}"
            );
        }
        assert!(out.iter().all(|c| c[error] == 0));
    }
}

#[test]
fn a_frame_without_its_stop_bit_raises_error() {
    let d = 4u16;
    let sim = VerilatedDesign::build("uart_rx4", &hdl::verilog(UartRx::new(d))).unwrap();
    let mut line = uart::encode(&[0x5a, 0x00], d, 2);
    // Break the second frame's stop bit (and hold the line low a while after it).
    let second = 2 + uart::tx_cycles(d) as usize;
    let stop = second + 9 * d as usize;
    for c in &mut line[stop..] {
        *c = false;
    }
    line.extend(vec![true; 60]);
    let out = receive(&sim, &line);
    let o = |n: &str| port(&sim, n);
    let valid: Vec<usize> = (0..out.len())
        .filter(|&t| out[t][o("valid")] == 1)
        .collect();
    let errors: Vec<usize> = (0..out.len())
        .filter(|&t| out[t][o("error")] == 1)
        .collect();
    assert_eq!(valid.len(), 1, "only the first frame is a byte");
    assert_eq!(out[valid[0]][o("data")], 0x5a);
    assert_eq!(errors, [second + uart::rx_latency(d) as usize]);
    assert!(uart::decode(&line, d).is_err());
}

#[test]
fn verilog_passes_verilator_lint() {
    for (name, v) in [
        ("uart_tx", hdl::verilog(UartTx::new(868))),
        ("uart_rx", hdl::verilog(UartRx::new(868))),
    ] {
        if let Err(e) = lint(name, &v) {
            panic!("{e}");
        }
    }
}
