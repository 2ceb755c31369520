// The accelerator's request engine and its two top levels (UART and AXI-Stream), for
// one ring and memory size, included by `accel.rs` into the module that defines the
// ring's `Accelerator`, `L`, `Word`, `LD_BITS` and `ACT_AW`. The requests and replies
// are [`crate::accel_link`]'s, in this module's wire format ([`link_format`]).

use crate::accel_link::{self as link, FieldInputs, Format};

/// Bytes of an address (and of a word count less one) on the line.
pub const LINK_ADDR_BYTES: usize = LD_BITS / 8;
/// Bits of a request's header (after its opcode).
pub const LINK_HDR_BITS: usize = 8 * (2 + 2 * LINK_ADDR_BYTES);
const _: () = assert!(LD_BITS % 8 == 0 && ACT_AW == LD_BITS);

/// The wire format of this module's links with `lanes` MAC lanes.
pub fn link_format(lanes: usize) -> Format {
    Format {
        ring_bits: L as u32,
        lanes,
        addr_bytes: LINK_ADDR_BYTES,
    }
}

/// The link's registers' next values, combinational: hold (mode 0), shift the received
/// byte in at the top of the header (1) or of the word (2), shift the result down a
/// byte as it is sent (3), or load the result with the identity (4), the run's report
/// (5) or the activation read (6). Also the byte to send, the load's data and the
/// header's fields ([`link::decode_header`]).
#[derive(LogicBlock, Default)]
pub struct LinkFields<const LANES: usize> {
    hdr: Signal<In, Bits<LINK_HDR_BITS>>,
    fd: Signal<In, Bits<128>>,
    r: Signal<In, Bits<104>>,
    byte_in: Signal<In, Bits<8>>,
    mode: Signal<In, Bits<3>>,
    wide: Signal<In, Bit>,
    id: Signal<In, Bits<64>>,
    now: Signal<In, Bits<32>>,
    halted: Signal<In, Bit>,
    late: Signal<In, Bit>,
    fault: Signal<In, Bit>,
    mem: Signal<In, Bits<8>>,
    wr: Signal<In, Bit>,
    ci: Signal<In, Bits<16>>,
    cw: Signal<In, Bits<16>>,
    cbi: Signal<In, Bits<16>>,
    cbw: Signal<In, Bits<16>>,
    pk: Signal<In, Word>,
    hdr_n: Signal<Out, Bits<LINK_HDR_BITS>>,
    fd_n: Signal<Out, Bits<128>>,
    r_n: Signal<Out, Bits<104>>,
    byte_out: Signal<Out, Bits<8>>,
    ld_data: Signal<Out, Bits<128>>,
    strobes: Signal<Out, Bits<11>>,
    load_bad: Signal<Out, Bit>,
    load_wide: Signal<Out, Bit>,
    load_lane: Signal<Out, Bits<LANES>>,
    read_bad: Signal<Out, Bit>,
    read_lane: Signal<Out, Bits<LANES>>,
    load_mem: Signal<Out, Bits<8>>,
    load_addr: Signal<Out, Bits<LD_BITS>>,
    load_left: Signal<Out, Bits<LD_BITS>>,
    read_row: Signal<Out, Bits<LD_BITS>>,
    read_left: Signal<Out, Bits<LD_BITS>>,
    limit: Signal<Out, Bits<32>>,
}

impl<const LANES: usize> Logic for LinkFields<LANES> {
    fn update(&mut self) {
        let fmt = link_format(LANES);
        let i = FieldInputs {
            byte: self.byte_in.val().to_u64() as u8,
            mode: self.mode.val().to_u64(),
            id: self.id.val().to_u64(),
            now: self.now.val().to_u64() as u32,
            flags: u8::from(self.halted.val())
                | u8::from(self.late.val()) << 1
                | u8::from(self.fault.val()) << 2,
            counts: [
                self.ci.val().to_u64() as u16,
                self.cw.val().to_u64() as u16,
                self.cbi.val().to_u64() as u16,
                self.cbw.val().to_u64() as u16,
            ],
            pk: self.pk.val().to_u64(),
        };
        let hdr = self.hdr.val().to_u64();
        let fd = self.fd.val().to_u128();
        let r = self.r.val().to_u128();
        let (h, f, rn) = link::fields_next(&fmt, hdr, fd, r, &i);
        self.hdr_n.next = h.into();
        self.fd_n.next = f.to_bits();
        self.r_n.next = rn.to_bits();
        self.byte_out.next = u64::from(r as u8).into();
        let data = if self.wide.val() { fd } else { fd >> (128 - L) };
        self.ld_data.next = data.to_bits();
        let mem = self.mem.val().to_u64();
        let strobe = if self.wr.val() && mem < 11 {
            1 << mem
        } else {
            0
        };
        self.strobes.next = strobe.into();
        let d = link::decode_header(&fmt, hdr);
        self.load_bad.next = d.load_bad;
        self.load_wide.next = d.load_wide;
        self.load_lane.next = d.load_lane.into();
        self.read_bad.next = d.read_bad;
        self.read_lane.next = d.read_lane.into();
        self.load_mem.next = u64::from(d.mem).into();
        self.load_addr.next = d.load_addr.into();
        self.load_left.next = d.load_left.into();
        self.read_row.next = d.read_row.into();
        self.read_left.next = d.read_left.into();
        self.limit.next = u64::from(d.limit).into();
    }

    fn connect(&mut self) {
        self.hdr_n.connect();
        self.fd_n.connect();
        self.r_n.connect();
        self.byte_out.connect();
        self.ld_data.connect();
        self.strobes.connect();
        self.load_bad.connect();
        self.load_wide.connect();
        self.load_lane.connect();
        self.read_bad.connect();
        self.read_lane.connect();
        self.load_mem.connect();
        self.load_addr.connect();
        self.load_left.connect();
        self.read_row.connect();
        self.read_left.connect();
        self.limit.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(link::fields_verilog(&link_format(LANES)))
    }
}

/// The request engine: request bytes in, reply bytes out (a byte stream each way, with
/// handshakes), and the accelerator with `LANES` MAC lanes and `BL` Beaver lanes; the
/// UART top level ([`AccelLink`]) and the AXI-Stream one ([`AccelAxisLink`]) put their
/// own ports around it.
#[derive(LogicBlock)]
pub struct AccelEngine<const LANES: usize, const BL: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// A request byte.
    pub in_data: Signal<In, Bits<8>>,
    /// `in_data` is valid (taken only while `in_ready`).
    pub in_valid: Signal<In, Bit>,
    /// The byte's frame was broken: the request is dropped.
    pub in_error: Signal<In, Bit>,
    /// The engine takes a byte this cycle (waiting for a request, its header or its
    /// words).
    pub in_ready: Signal<Out, Bit>,
    /// A reply byte.
    pub out_data: Signal<Out, Bits<8>>,
    /// `out_data` is valid.
    pub out_valid: Signal<Out, Bit>,
    /// The consumer takes the byte this cycle.
    pub out_ready: Signal<In, Bit>,
    /// The byte is the reply's last.
    pub out_last: Signal<Out, Bit>,
    acc: Accelerator<LANES, BL>,
    fields: LinkFields<LANES>,
    hdr: DFF<Bits<LINK_HDR_BITS>>,
    fd: DFF<Bits<128>>,
    r: DFF<Bits<104>>,
    state: DFF<Bits<4>>,
    op: DFF<Bits<8>>,
    cnt: DFF<Bits<4>>,
    mem: DFF<Bits<8>>,
    wide: DFF<Bit>,
    bad: DFF<Bit>,
    addr: DFF<Bits<LD_BITS>>,
    left: DFF<Bits<LD_BITS>>,
    lane_oh: DFF<Bits<LANES>>,
    nres: DFF<Bits<4>>,
    head: DFF<Bit>,
    status: DFF<Bits<8>>,
    wr: DFF<Bit>,
    go: DFF<Bit>,
    settle: DFF<Bits<4>>,
    draining: DFF<Bit>,
    ci: DFF<Bits<16>>,
    cw: DFF<Bits<16>>,
    cbi: DFF<Bits<16>>,
    cbw: DFF<Bits<16>>,
    word_end: Signal<Local, Bit>,
    last_byte: Signal<Local, Bit>,
    more: Signal<Local, Bit>,
    s_idle: Constant<Bits<4>>,
    s_head: Constant<Bits<4>>,
    s_hdr: Constant<Bits<4>>,
    s_decode: Constant<Bits<4>>,
    s_data: Constant<Bits<4>>,
    s_run: Constant<Bits<4>>,
    s_peek: Constant<Bits<4>>,
    s_peek2: Constant<Bits<4>>,
    s_send: Constant<Bits<4>>,
    m_hold: Constant<Bits<3>>,
    m_hdr: Constant<Bits<3>>,
    m_word: Constant<Bits<3>>,
    m_shift: Constant<Bits<3>>,
    m_id: Constant<Bits<3>>,
    m_report: Constant<Bits<3>>,
    m_pk: Constant<Bits<3>>,
    op_id: Constant<Bits<8>>,
    op_load: Constant<Bits<8>>,
    op_run: Constant<Bits<8>>,
    op_read: Constant<Bits<8>>,
    st_unknown: Constant<Bits<8>>,
    st_bad: Constant<Bits<8>>,
    st_ok: Constant<Bits<8>>,
    cnt_one: Constant<Bits<4>>,
    cnt_last_hdr: Constant<Bits<4>>,
    cnt_last_wide: Constant<Bits<4>>,
    cnt_last_narrow: Constant<Bits<4>>,
    cnt_zero: Constant<Bits<4>>,
    res_id: Constant<Bits<4>>,
    res_run: Constant<Bits<4>>,
    res_pk: Constant<Bits<4>>,
    zero_a: Constant<Bits<LD_BITS>>,
    one_a: Constant<Bits<LD_BITS>>,
    one16: Constant<Bits<16>>,
    zero16: Constant<Bits<16>>,
    settle_c: Constant<Bits<4>>,
    drain_c: Constant<Bits<4>>,
    id: Constant<Bits<64>>,
}

/// Cycles a run waits after `start` before it reads `halted` and the cycle count (the
/// count is -1 the cycle after `start`).
const LINK_SETTLE: u64 = 3;

/// Cycles a run goes on after the halt (or the limit) before it answers, so the writes
/// still in the lanes' pipelines are done and counted.
pub const LINK_DRAIN: u64 = if BEAVER_DELAY > DELAY {
    BEAVER_DELAY as u64 + 1
} else {
    DELAY as u64 + 1
};

impl<const LANES: usize, const BL: usize> AccelEngine<LANES, BL> {
    /// An engine whose accelerator truncates by `frac_bits`.
    pub fn new(frac_bits: u32) -> Self {
        let c3 = |x: u64| Constant::new(x.into());
        let c4 = |x: u64| Constant::new(x.into());
        let c8 = |x: u8| Constant::new(u64::from(x).into());
        let ca = |x: u64| Constant::new(x.into());
        let fmt = link_format(LANES);
        Self {
            clock: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_error: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_last: Default::default(),
            acc: Accelerator::new(frac_bits),
            fields: Default::default(),
            hdr: Default::default(),
            fd: Default::default(),
            r: Default::default(),
            state: Default::default(),
            op: Default::default(),
            cnt: Default::default(),
            mem: Default::default(),
            wide: Default::default(),
            bad: Default::default(),
            addr: Default::default(),
            left: Default::default(),
            lane_oh: Default::default(),
            nres: Default::default(),
            head: Default::default(),
            status: Default::default(),
            wr: Default::default(),
            go: Default::default(),
            settle: Default::default(),
            draining: Default::default(),
            ci: Default::default(),
            cw: Default::default(),
            cbi: Default::default(),
            cbw: Default::default(),
            word_end: Default::default(),
            last_byte: Default::default(),
            more: Default::default(),
            s_idle: c4(0),
            s_head: c4(1),
            s_hdr: c4(2),
            s_decode: c4(3),
            s_data: c4(4),
            s_run: c4(5),
            s_peek: c4(6),
            s_peek2: c4(7),
            s_send: c4(8),
            m_hold: c3(0),
            m_hdr: c3(1),
            m_word: c3(2),
            m_shift: c3(3),
            m_id: c3(4),
            m_report: c3(5),
            m_pk: c3(6),
            op_id: c8(link::OP_ID),
            op_load: c8(link::OP_LOAD),
            op_run: c8(link::OP_RUN),
            op_read: c8(link::OP_READ),
            st_unknown: c8(link::STATUS_UNKNOWN),
            st_bad: c8(link::STATUS_BAD),
            st_ok: c8(0x80),
            cnt_one: c4(1),
            cnt_last_hdr: c4(fmt.header_bytes() as u64 - 1),
            cnt_last_wide: c4(15),
            cnt_last_narrow: c4(fmt.element_bytes() as u64 - 1),
            cnt_zero: c4(0),
            res_id: c4(8),
            res_run: c4(13),
            res_pk: c4(fmt.element_bytes() as u64),
            zero_a: ca(0),
            one_a: ca(1),
            one16: Constant::new(1u64.into()),
            zero16: Constant::new(0u64.into()),
            settle_c: c4(LINK_SETTLE - 1),
            drain_c: c4(LINK_DRAIN - 1),
            id: Constant::new(u64::from_le_bytes(link::identity_of(&fmt, frac_bits, BL)).into()),
        }
    }
}

impl<const LANES: usize, const BL: usize> Logic for AccelEngine<LANES, BL> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, hdr, fd, r, state, op, cnt, mem, wide, bad, addr, left, lane_oh, nres,
            head, status, wr, go, settle, draining, ci, cw, cbi, cbw
        );
        self.acc.clock.next = self.clock.val();
        // The registers follow the datapath; the mode is hold unless set below.
        self.fields.hdr.next = self.hdr.q.val();
        self.fields.fd.next = self.fd.q.val();
        self.fields.r.next = self.r.q.val();
        self.fields.byte_in.next = self.in_data.val();
        self.fields.mode.next = self.m_hold.val();
        self.fields.wide.next = self.wide.q.val();
        self.fields.id.next = self.id.val();
        self.fields.now.next = self.acc.now.val();
        self.fields.halted.next = self.acc.halted.val();
        self.fields.late.next = self.acc.late.val();
        self.fields.fault.next = self.acc.fault.val();
        self.fields.mem.next = self.mem.q.val();
        self.fields.wr.next = self.wr.q.val();
        self.fields.ci.next = self.ci.q.val();
        self.fields.cw.next = self.cw.q.val();
        self.fields.cbi.next = self.cbi.q.val();
        self.fields.cbw.next = self.cbw.q.val();
        self.fields.pk.next = self.acc.pk_data.val();
        self.hdr.d.next = self.fields.hdr_n.val();
        self.fd.d.next = self.fields.fd_n.val();
        self.r.d.next = self.fields.r_n.val();
        // The accelerator's host ports: the bank, address and data of the load or read
        // under way; a write strobe the cycle after a word's last byte.
        self.acc.start.next = self.go.q.val();
        self.go.d.next = false;
        self.acc.ld_lane.next = self.lane_oh.q.val();
        self.acc.ld_addr.next = self.addr.q.val();
        self.acc.ld_data.next = self.fields.ld_data.val();
        self.acc.pk_lane.next = self.lane_oh.q.val();
        self.acc.pk_addr.next = self.addr.q.val();
        self.acc.ld_act.next = self.fields.strobes.val().get_bit(0);
        self.acc.ld_aux.next = self.fields.strobes.val().get_bit(1);
        self.acc.ld_wgt.next = self.fields.strobes.val().get_bit(2);
        self.acc.ld_prog.next = self.fields.strobes.val().get_bit(3);
        self.acc.ld_bprog.next = self.fields.strobes.val().get_bit(4);
        self.acc.ld_pa.next = self.fields.strobes.val().get_bit(5);
        self.acc.ld_pc.next = self.fields.strobes.val().get_bit(6);
        self.acc.ld_pd.next = self.fields.strobes.val().get_bit(7);
        self.acc.ld_cw2.next = self.fields.strobes.val().get_bit(8);
        self.acc.ld_cw1.next = self.fields.strobes.val().get_bit(9);
        self.acc.ld_cb.next = self.fields.strobes.val().get_bit(10);
        self.wr.d.next = false;
        if self.wr.q.val() {
            self.addr.d.next = self.addr.q.val() + self.one_a.val();
        }
        self.in_ready.next = (self.state.q.val() == self.s_idle.val())
            | (self.state.q.val() == self.s_hdr.val())
            | (self.state.q.val() == self.s_data.val());
        self.out_valid.next = false;
        self.out_last.next = false;
        self.out_data.next = self.fields.byte_out.val();
        self.word_end.next = (self.wide.q.val() & (self.cnt.q.val() == self.cnt_last_wide.val()))
            | (!self.wide.q.val() & (self.cnt.q.val() == self.cnt_last_narrow.val()));
        // In a reply: its last byte, or a read's status or element; a read goes on
        // with its next element.
        self.last_byte.next = (self.head.q.val() & (self.nres.q.val() == self.cnt_zero.val()))
            | (!self.head.q.val() & (self.nres.q.val() == self.cnt_one.val()));
        self.more.next = (self.op.q.val() == self.op_read.val())
            & (self.status.q.val() != self.st_bad.val())
            & (self.head.q.val() | (self.left.q.val() != self.zero_a.val()));
        if self.state.q.val() == self.s_idle.val() {
            if self.in_valid.val() {
                self.op.d.next = self.in_data.val();
                self.cnt.d.next = self.cnt_zero.val();
                self.state.d.next = self.s_head.val();
            }
        } else if self.state.q.val() == self.s_head.val() {
            self.head.d.next = true;
            if self.op.q.val() == self.op_id.val() {
                self.fields.mode.next = self.m_id.val();
                self.nres.d.next = self.res_id.val();
                self.status.d.next = self.st_ok.val() | self.op.q.val();
                self.state.d.next = self.s_send.val();
            } else if (self.op.q.val() == self.op_load.val())
                | (self.op.q.val() == self.op_run.val())
                | (self.op.q.val() == self.op_read.val())
            {
                self.state.d.next = self.s_hdr.val();
            } else {
                self.nres.d.next = self.cnt_zero.val();
                self.status.d.next = self.st_unknown.val();
                self.state.d.next = self.s_send.val();
            }
        } else if self.state.q.val() == self.s_hdr.val() {
            if self.in_valid.val() {
                self.fields.mode.next = self.m_hdr.val();
                self.cnt.d.next = self.cnt.q.val() + self.cnt_one.val();
                if self.cnt.q.val() == self.cnt_last_hdr.val() {
                    self.cnt.d.next = self.cnt_zero.val();
                    self.state.d.next = self.s_decode.val();
                }
            }
        } else if self.state.q.val() == self.s_decode.val() {
            self.nres.d.next = self.cnt_zero.val();
            if self.op.q.val() == self.op_load.val() {
                // Header: memory, lane, address, words - 1.
                self.mem.d.next = self.fields.load_mem.val();
                self.bad.d.next = self.fields.load_bad.val();
                self.lane_oh.d.next = self.fields.load_lane.val();
                self.addr.d.next = self.fields.load_addr.val();
                self.left.d.next = self.fields.load_left.val();
                self.wide.d.next = self.fields.load_wide.val();
                self.state.d.next = self.s_data.val();
            } else if self.op.q.val() == self.op_run.val() {
                self.go.d.next = true;
                self.settle.d.next = self.settle_c.val();
                self.draining.d.next = false;
                self.ci.d.next = self.zero16.val();
                self.cw.d.next = self.zero16.val();
                self.cbi.d.next = self.zero16.val();
                self.cbw.d.next = self.zero16.val();
                self.state.d.next = self.s_run.val();
            } else {
                // A read's header: lane, row, rows - 1, 0.
                self.lane_oh.d.next = self.fields.read_lane.val();
                self.addr.d.next = self.fields.read_row.val();
                self.left.d.next = self.fields.read_left.val();
                self.status.d.next = self.st_ok.val() | self.op.q.val();
                if self.fields.read_bad.val() {
                    self.status.d.next = self.st_bad.val();
                }
                self.state.d.next = self.s_send.val();
            }
        } else if self.state.q.val() == self.s_data.val() {
            if self.in_valid.val() {
                self.fields.mode.next = self.m_word.val();
                self.cnt.d.next = self.cnt.q.val() + self.cnt_one.val();
                if self.word_end.val() {
                    self.cnt.d.next = self.cnt_zero.val();
                    self.wr.d.next = !self.bad.q.val();
                    self.left.d.next = self.left.q.val() - self.one_a.val();
                    if self.left.q.val() == self.zero_a.val() {
                        self.status.d.next = self.st_ok.val() | self.op.q.val();
                        if self.bad.q.val() {
                            self.status.d.next = self.st_bad.val();
                        }
                        self.state.d.next = self.s_send.val();
                    }
                }
            }
        } else if self.state.q.val() == self.s_run.val() {
            if self.acc.issue.val() {
                self.ci.d.next = self.ci.q.val() + self.one16.val();
            }
            if self.acc.writing.val() {
                self.cw.d.next = self.cw.q.val() + self.one16.val();
            }
            if self.acc.bissue.val() {
                self.cbi.d.next = self.cbi.q.val() + self.one16.val();
            }
            if self.acc.bwriting.val() {
                self.cbw.d.next = self.cbw.q.val() + self.one16.val();
            }
            if self.settle.q.val() != self.cnt_zero.val() {
                self.settle.d.next = self.settle.q.val() - self.cnt_one.val();
            } else if self.draining.q.val() {
                self.fields.mode.next = self.m_report.val();
                self.nres.d.next = self.res_run.val();
                self.status.d.next = self.st_ok.val() | self.op.q.val();
                self.state.d.next = self.s_send.val();
            } else if self.acc.halted.val() | (self.acc.now.val() >= self.fields.limit.val()) {
                self.draining.d.next = true;
                self.settle.d.next = self.drain_c.val();
            }
        } else if self.state.q.val() == self.s_peek.val() {
            self.state.d.next = self.s_peek2.val();
        } else if self.state.q.val() == self.s_peek2.val() {
            self.fields.mode.next = self.m_pk.val();
            self.nres.d.next = self.res_pk.val();
            self.head.d.next = false;
            self.state.d.next = self.s_send.val();
        } else if self.state.q.val() == self.s_send.val() {
            self.out_valid.next = true;
            self.out_last.next = self.last_byte.val() & !self.more.val();
            if self.head.q.val() {
                self.out_data.next = self.status.q.val();
            }
            if self.out_ready.val() {
                if self.head.q.val() {
                    self.head.d.next = false;
                } else {
                    self.fields.mode.next = self.m_shift.val();
                    self.nres.d.next = self.nres.q.val() - self.cnt_one.val();
                }
                if self.last_byte.val() {
                    self.state.d.next = self.s_idle.val();
                    if self.more.val() {
                        self.state.d.next = self.s_peek.val();
                        if !self.head.q.val() {
                            self.left.d.next = self.left.q.val() - self.one_a.val();
                            self.addr.d.next = self.addr.q.val() + self.one_a.val();
                        }
                    }
                }
            }
        } else {
            self.state.d.next = self.s_idle.val();
        }
        // A request with a broken frame is dropped.
        if self.in_error.val()
            & ((self.state.q.val() == self.s_hdr.val()) | (self.state.q.val() == self.s_data.val()))
        {
            self.state.d.next = self.s_idle.val();
        }
    }
}

crate::stream::byte_stream_tops! {
    /// The accelerator's link top level over a UART: the request engine and the
    /// accelerator with `LANES` MAC lanes and `BL` Beaver lanes
    /// ([`byte_stream_tops`](crate::stream::byte_stream_tops)'s UART ports and LEDs, as
    /// the host link's).
    uart AccelLink,
    /// The request engine and the accelerator with AXI-Stream ports, for Xilinx parts:
    /// requests on the slave stream (`s_axis_*`, 8-bit beats), replies on the master
    /// stream (`m_axis_*`, `tlast` on each reply's last byte). The same requests and
    /// replies as over the UART, in this module's wire format.
    axis AccelAxisLink,
    engine AccelEngine<LANES, BL>
}

impl<const LANES: usize, const BL: usize> AccelLink<LANES, BL> {
    /// A top level whose UART takes `divisor` clock cycles a bit and whose accelerator
    /// truncates by `frac_bits`.
    pub fn new(divisor: u16, frac_bits: u32) -> Self {
        Self::around(AccelEngine::new(frac_bits), divisor)
    }
}

impl<const LANES: usize, const BL: usize> AccelAxisLink<LANES, BL> {
    /// A top level whose accelerator truncates by `frac_bits`.
    pub fn new(frac_bits: u32) -> Self {
        Self::around(AccelEngine::new(frac_bits))
    }
}
