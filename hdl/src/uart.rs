//! The host link's serial port: an 8N1 UART transmitter and receiver, `divisor` clock
//! cycles a bit, with the software line model that is both their golden model and the
//! host side of a simulated link.
//!
//! A frame is a start bit (0), eight data bits least significant first and a stop bit
//! (1); the idle line is 1. The receiver synchronises the line through two flip-flops,
//! waits half a bit after the falling edge to sample the start bit in its middle, then
//! samples every `divisor` cycles. Cycle counts: [`tx_cycles`] a byte sent back to
//! back, [`rx_latency`] from a frame's first cycle to the byte's valid pulse.

use rust_hdl::prelude::*;

/// The smallest divisor the blocks take (half a bit must be at least one cycle).
pub const MIN_DIVISOR: u16 = 2;

/// Clock cycles a bit for a clock and baud rate, rounded to the nearest; an error when
/// the rate is off by more than 2% (a receiver's margin) or the divisor out of range.
pub fn divisor(clock_hz: f64, baud: u32) -> Result<u16, String> {
    let exact = clock_hz / f64::from(baud);
    let d = exact.round();
    if !(f64::from(MIN_DIVISOR)..=f64::from(u16::MAX)).contains(&d) {
        return Err(format!(
            "{baud} baud at {clock_hz} Hz needs {exact:.2} cycles a bit, outside {MIN_DIVISOR}..{}",
            u16::MAX
        ));
    }
    let error = (d - exact).abs() / exact;
    if error > 0.02 {
        return Err(format!(
            "{baud} baud at {clock_hz} Hz: {d} cycles a bit is off by {:.1}%",
            100.0 * error
        ));
    }
    Ok(d as u16)
}

/// Cycles the transmitter takes a byte: ten bits.
pub fn tx_cycles(divisor: u16) -> u64 {
    10 * u64::from(divisor.max(MIN_DIVISOR))
}

/// Cycles from the first cycle of a frame's start bit on the line to the cycle the
/// receiver shows the byte: two synchroniser stages, half a bit, nine bits, one
/// register.
pub fn rx_latency(divisor: u16) -> u64 {
    let d = u64::from(divisor.max(MIN_DIVISOR));
    3 + d / 2 + 9 * d
}

/// The line, a cycle per entry, sending `bytes` back to back after `idle` idle cycles
/// (the golden model of the transmitter, and the host's side of a simulated link).
pub fn encode(bytes: &[u8], divisor: u16, idle: usize) -> Vec<bool> {
    let d = usize::from(divisor.max(MIN_DIVISOR));
    let mut line = vec![true; idle];
    for &b in bytes {
        let bits = std::iter::once(false)
            .chain((0..8).map(|k| b >> k & 1 == 1))
            .chain(std::iter::once(true));
        for bit in bits {
            line.extend(std::iter::repeat_n(bit, d));
        }
    }
    line
}

/// A frame whose stop bit is 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("framing error: the frame starting at cycle {at} has no stop bit")]
pub struct FramingError {
    /// The first cycle of the frame's start bit.
    pub at: usize,
}

/// The bytes on a line, sampled in the middle of each bit as the receiver does.
pub fn decode(line: &[bool], divisor: u16) -> Result<Vec<u8>, FramingError> {
    let d = usize::from(divisor.max(MIN_DIVISOR));
    let mut out = Vec::new();
    let mut t = 0;
    while t < line.len() {
        if line[t] {
            t += 1;
            continue;
        }
        let mid = |k: usize| t + d / 2 + k * d;
        if mid(9) >= line.len() {
            break; // a frame cut off at the end of the run
        }
        if line[mid(0)] {
            t += 1; // a glitch, not a start bit
            continue;
        }
        let byte = (0..8).fold(0u8, |b, k| b | u8::from(line[mid(k + 1)]) << k);
        if !line[mid(9)] {
            return Err(FramingError { at: t });
        }
        out.push(byte);
        t = mid(9) + 1;
    }
    Ok(out)
}

/// The transmitter: takes a byte when `ready` and `valid`, shifts it out on `tx`.
#[derive(LogicBlock)]
pub struct UartTx {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// The byte to send.
    pub data: Signal<In, Bits<8>>,
    /// `data` is valid.
    pub valid: Signal<In, Bit>,
    /// The transmitter takes a byte this cycle.
    pub ready: Signal<Out, Bit>,
    /// The serial line.
    pub tx: Signal<Out, Bit>,
    word: DFF<Bits<8>>,
    count: DFF<Bits<16>>,
    bits: DFF<Bits<4>>,
    last: Constant<Bits<16>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    zero4: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    ten: Constant<Bits<4>>,
    one8: Constant<Bits<8>>,
}

impl UartTx {
    /// A transmitter of `divisor` cycles a bit (at least [`MIN_DIVISOR`]).
    pub fn new(divisor: u16) -> Self {
        let d = u64::from(divisor.max(MIN_DIVISOR));
        Self {
            clock: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            word: Default::default(),
            count: Default::default(),
            bits: Default::default(),
            last: Constant::new((d - 1).into()),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            zero4: Constant::new(0u64.into()),
            one4: Constant::new(1u64.into()),
            ten: Constant::new(10u64.into()),
            one8: Constant::new(1u64.into()),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, word, count, bits);
        // `bits` counts the bits left: 10 the start bit, 9 to 2 the data bits (the
        // word's bit 0, shifted), 1 the stop bit, 0 idle. The next byte is taken in the
        // stop bit's last cycle, so bytes go out back to back.
        self.ready.next = (self.bits.q.val() == self.zero4.val())
            | ((self.bits.q.val() == self.one4.val()) & (self.count.q.val() == self.last.val()));
        self.tx.next = true;
        if self.bits.q.val() == self.ten.val() {
            self.tx.next = false;
        } else if (self.bits.q.val() != self.one4.val()) & (self.bits.q.val() != self.zero4.val()) {
            self.tx.next = self.word.q.val().get_bit(0);
        }
        if self.bits.q.val() != self.zero4.val() {
            if self.count.q.val() == self.last.val() {
                self.count.d.next = self.zero16.val();
                if self.bits.q.val() != self.ten.val() {
                    self.word.d.next = self.word.q.val() >> self.one8.val();
                }
                self.bits.d.next = self.bits.q.val() - self.one4.val();
            } else {
                self.count.d.next = self.count.q.val() + self.one16.val();
            }
        }
        if self.valid.val()
            & ((self.bits.q.val() == self.zero4.val())
                | ((self.bits.q.val() == self.one4.val())
                    & (self.count.q.val() == self.last.val())))
        {
            self.word.d.next = self.data.val();
            self.bits.d.next = self.ten.val();
            self.count.d.next = self.zero16.val();
        }
    }
}

/// The receiver: shows each byte on `data` with a one-cycle `valid`, or a one-cycle
/// `error` for a frame without its stop bit.
#[derive(LogicBlock)]
pub struct UartRx {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// The serial line.
    pub rx: Signal<In, Bit>,
    /// The byte received.
    pub data: Signal<Out, Bits<8>>,
    /// `data` is new this cycle.
    pub valid: Signal<Out, Bit>,
    /// A frame ended without its stop bit.
    pub error: Signal<Out, Bit>,
    sync1: DFF<Bit>,
    sync2: DFF<Bit>,
    busy: DFF<Bit>,
    count: DFF<Bits<16>>,
    bits: DFF<Bits<4>>,
    shift: DFF<Bits<8>>,
    out: DFF<Bits<8>>,
    out_valid: DFF<Bit>,
    out_error: DFF<Bit>,
    last: Constant<Bits<16>>,
    half: Constant<Bits<16>>,
    zero16: Constant<Bits<16>>,
    one16: Constant<Bits<16>>,
    zero4: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    nine: Constant<Bits<4>>,
    one8: Constant<Bits<8>>,
    top8: Constant<Bits<8>>,
}

impl UartRx {
    /// A receiver of `divisor` cycles a bit (at least [`MIN_DIVISOR`]).
    pub fn new(divisor: u16) -> Self {
        let d = u64::from(divisor.max(MIN_DIVISOR));
        Self {
            clock: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            error: Default::default(),
            sync1: Default::default(),
            sync2: Default::default(),
            busy: Default::default(),
            count: Default::default(),
            bits: Default::default(),
            shift: Default::default(),
            out: Default::default(),
            out_valid: Default::default(),
            out_error: Default::default(),
            last: Constant::new((d - 1).into()),
            half: Constant::new((d / 2 - 1).into()),
            zero16: Constant::new(0u64.into()),
            one16: Constant::new(1u64.into()),
            zero4: Constant::new(0u64.into()),
            one4: Constant::new(1u64.into()),
            nine: Constant::new(9u64.into()),
            one8: Constant::new(1u64.into()),
            top8: Constant::new(0x80u64.into()),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sync1, sync2, busy, count, bits, shift, out, out_valid, out_error);
        // The synchroniser holds the inverted line, so that its reset state (0) is
        // the idle line.
        self.sync1.d.next = !self.rx.val();
        self.sync2.d.next = self.sync1.q.val();
        self.out_valid.d.next = false;
        self.out_error.d.next = false;
        if !self.busy.q.val() {
            if self.sync2.q.val() {
                // A falling edge: the start bit's middle is half a bit on.
                self.busy.d.next = true;
                self.count.d.next = self.half.val();
                self.bits.d.next = self.zero4.val();
            }
        } else if self.count.q.val() == self.zero16.val() {
            self.count.d.next = self.last.val();
            if self.bits.q.val() == self.zero4.val() {
                if !self.sync2.q.val() {
                    self.busy.d.next = false; // a glitch
                } else {
                    self.bits.d.next = self.one4.val();
                }
            } else if self.bits.q.val() == self.nine.val() {
                self.busy.d.next = false;
                if !self.sync2.q.val() {
                    self.out.d.next = self.shift.q.val();
                    self.out_valid.d.next = true;
                } else {
                    self.out_error.d.next = true;
                }
            } else {
                // The bits come least significant first: shift them in at the top.
                if !self.sync2.q.val() {
                    self.shift.d.next = (self.shift.q.val() >> self.one8.val()) | self.top8.val();
                } else {
                    self.shift.d.next = self.shift.q.val() >> self.one8.val();
                }
                self.bits.d.next = self.bits.q.val() + self.one4.val();
            }
        } else {
            self.count.d.next = self.count.q.val() - self.one16.val();
        }
        self.data.next = self.out.q.val();
        self.valid.next = self.out_valid.q.val();
        self.error.next = self.out_error.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_model_reads_back_what_it_writes() {
        let bytes: Vec<u8> = (0..=255).collect();
        for d in [2, 3, 4, 7, 104] {
            let line = encode(&bytes, d, 5);
            assert_eq!(line.len(), 5 + bytes.len() * tx_cycles(d) as usize);
            assert_eq!(decode(&line, d), Ok(bytes.clone()));
        }
    }

    #[test]
    fn a_missing_stop_bit_is_a_framing_error() {
        let mut line = encode(&[0x55, 0xa5], 4, 3);
        let stop = 3 + 40 + 9 * 4;
        for c in &mut line[stop..stop + 4] {
            *c = false;
        }
        assert_eq!(decode(&line, 4), Err(FramingError { at: 43 }));
    }

    #[test]
    fn divisors_for_boards() {
        assert_eq!(divisor(12e6, 115_200), Ok(104));
        assert_eq!(divisor(100e6, 115_200), Ok(868));
        assert!(divisor(12e6, 9_000_000).is_err());
        assert!(divisor(100e6, 1).is_err());
    }

    #[test]
    fn both_blocks_generate_verilog() {
        for v in [
            crate::verilog(UartTx::new(4)),
            crate::verilog(UartRx::new(4)),
        ] {
            assert!(v.contains("module top("));
        }
    }
}
