// The accelerator's top level for one ring, included by `accel.rs` into a module per
// ring width that defines `L`, `Word` (`Bits<L>`), `MacLane`, `BeaverLane`, `DELAY`
// and `BEAVER_DELAY`.

/// The delay line of one lane's sums: `DELAY - 1` registers, so a sum formed the cycle
/// after its issue leaves `DELAY` cycles after it.
#[derive(LogicBlock, Default)]
pub struct SumDelay {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// The sum.
    pub d: Signal<In, Word>,
    /// The sum of `DELAY - 1` cycles ago.
    pub q: Signal<Out, Word>,
    line: [DFF<Word>; DELAY - 1],
}

impl Logic for SumDelay {
    #[hdl_gen]
    fn update(&mut self) {
        for s in 0..(DELAY - 1) {
            self.line[s].clock.next = self.clock.val();
        }
        self.line[0].d.next = self.d.val();
        for s in 1..(DELAY - 1) {
            self.line[s].d.next = self.line[s - 1].q.val();
        }
        for s in (DELAY - 2)..(DELAY - 1) {
            self.q.next = self.line[s].q.val();
        }
    }
}

/// The accelerator with `LANES` MAC lanes (a power of two from 2 to 32) and `BL`
/// Beaver lanes (a power of two, at most `LANES`). With fewer Beaver lanes than banks, a
/// `POLY` row takes `LANES / BL` cycles: in its `s`-th, Beaver lane `k` serves bank
/// `s * BL + k`; the last, partial row only as many cycles as its elements need, so an
/// instruction of `n` elements holds the lanes `ceil(n / BL)` cycles.
#[derive(LogicBlock)]
pub struct Accelerator<const LANES: usize, const BL: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Start the program from its first instruction (the cycle count is -1 the next
    /// cycle, 0 the one after).
    pub start: Signal<In, Bit>,
    /// Host write: an activation bank.
    pub ld_act: Signal<In, Bit>,
    /// Host write: an aux bank.
    pub ld_aux: Signal<In, Bit>,
    /// Host write: a weight bank.
    pub ld_wgt: Signal<In, Bit>,
    /// Host write: the program.
    pub ld_prog: Signal<In, Bit>,
    /// Host write: the Beaver program.
    pub ld_bprog: Signal<In, Bit>,
    /// Host write: a Beaver bank of the pairs' `a` shares.
    pub ld_pa: Signal<In, Bit>,
    /// Host write: a Beaver bank of the pairs' `a^2` shares.
    pub ld_pc: Signal<In, Bit>,
    /// Host write: a Beaver bank of the opened `d`.
    pub ld_pd: Signal<In, Bit>,
    /// Host write: a coefficient bank of `w2`.
    pub ld_cw2: Signal<In, Bit>,
    /// Host write: a coefficient bank of `w1`.
    pub ld_cw1: Signal<In, Bit>,
    /// Host write: a coefficient bank of `b`.
    pub ld_cb: Signal<In, Bit>,
    /// Host write: the bank (one-hot).
    pub ld_lane: Signal<In, Bits<LANES>>,
    /// Host write: the address.
    pub ld_addr: Signal<In, Bits<LD_BITS>>,
    /// Host write: the data (an instruction, or a ring element in the low bits).
    pub ld_data: Signal<In, Bits<128>>,
    /// Host read of the activations (while the array is idle): the bank (one-hot).
    pub pk_lane: Signal<In, Bits<LANES>>,
    /// Host read: the row.
    pub pk_addr: Signal<In, Bits<ACT_AW>>,
    /// Host read: the element, the cycle after its address.
    pub pk_data: Signal<Out, Word>,
    /// The cycle count since `start`.
    pub now: Signal<Out, Bits<32>>,
    /// An instruction is decoded this cycle; its first operands issue the next, at
    /// its start cycle.
    pub issue: Signal<Out, Bit>,
    /// Results are written this cycle.
    pub writing: Signal<Out, Bit>,
    /// A `POLY` is decoded this cycle; its first row issues the next.
    pub bissue: Signal<Out, Bit>,
    /// The Beaver lanes' results are written this cycle.
    pub bwriting: Signal<Out, Bit>,
    /// The program has reached its end and the array is idle.
    pub halted: Signal<Out, Bit>,
    /// Sticky: an instruction issued after its start cycle.
    pub late: Signal<Out, Bit>,
    /// Sticky: a lane refused a pair, or had no result when its write was due.
    pub fault: Signal<Out, Bit>,
    lanes: [MacLane; LANES],
    act: [RAM<Word, ACT_AW>; LANES],
    aux: [RAM<Word, ACT_AW>; LANES],
    wgt: [RAM<Word, WGT_AW>; LANES],
    prog: RAM<Bits<128>, PROG_AW>,
    // The Beaver lanes, their memories, program and issue state.
    beavers: [BeaverLane; BL],
    xm: [RAM<Word, ACT_AW>; LANES],
    pa: [RAM<Word, BEAVER_AW>; LANES],
    pcm: [RAM<Word, BEAVER_AW>; LANES],
    pd: [RAM<Word, BEAVER_AW>; LANES],
    zm: [RAM<Word, BEAVER_AW>; LANES],
    cw2: [CoefRam; LANES],
    cw1: [CoefRam; LANES],
    cb: [CoefRam; LANES],
    bprog: RAM<Bits<128>, PROG_AW>,
    bpc: DFF<Bits<PROG_AW>>,
    b_busy: DFF<Bit>,
    b_left: DFF<Bits<16>>,
    b_xrow: DFF<Bits<ROW_BITS>>,
    b_row: DFF<Bits<BEAVER_BITS>>,
    b_cbase: DFF<Bits<COEF_BITS>>,
    b_repm1: DFF<Bits<12>>,
    b_repk: DFF<Bits<12>>,
    b_perm1: DFF<Bits<COEF_BITS>>,
    b_perk: DFF<Bits<COEF_BITS>>,
    // The row's sub-cycle: its first element, and the banks it serves.
    b_soff: DFF<Bits<16>>,
    b_smask: DFF<Bits<LANES>>,
    bf_smask: DFF<Bits<LANES>>,
    pw_base: DFF<Bits<COEF_BITS>>,
    pw_repm1: DFF<Bits<12>>,
    pw_perm1: DFF<Bits<COEF_BITS>>,
    pw_repk0: DFF<Bits<12>>,
    pw_perk0: DFF<Bits<COEF_BITS>>,
    bf_valid: DFF<Bit>,
    bw_we: [DFF<Bit>; BEAVER_DELAY],
    bw_row: [DFF<Bits<BEAVER_AW>>; BEAVER_DELAY],
    bw_mask: [DFF<Bits<LANES>>; BEAVER_DELAY],
    u_fromz: DFF<Bit>,
    f_fromz: DFF<Bit>,
    // Controller.
    running: DFF<Bit>,
    count: DFF<Bits<32>>,
    // `count + 1` with its lowest bit flipped (so its reset value stands for 1): the
    // start comparisons read a register, not the increment's carry chain.
    count_n: DFF<Bits<32>>,
    pc: DFF<Bits<PROG_AW>>,
    late_q: DFF<Bit>,
    fault_q: DFF<Bit>,
    // The array's issue state.
    busy: DFF<Bit>,
    u_dot: DFF<Bit>,
    u_depth: DFF<Bits<12>>,
    u_k: DFF<Bits<12>>,
    u_left: DFF<Bits<16>>,
    u_arow: DFF<Bits<ROW_BITS>>,
    u_brow: DFF<Bits<ROW_BITS>>,
    u_orow: DFF<Bits<ROW_BITS>>,
    u_wptr: DFF<Bits<WEIGHT_BITS>>,
    u_conv: DFF<Bit>,
    // A convolution's geometry as `GEOM` and `TILE` loaded it (p_), and as the running
    // `CONV` uses it (c_), with its address generator's state.
    p_km1: DFF<Bits<8>>,
    p_s8: DFF<Bits<8>>,
    p_outws: DFF<Bits<8>>,
    p_cgm1: DFF<Bits<8>>,
    p_oxs0: DFF<Bits<8>>,
    p_cg0: DFF<Bits<8>>,
    c_km1: DFF<Bits<8>>,
    c_s8: DFF<Bits<8>>,
    c_outws: DFF<Bits<8>>,
    c_cgm1: DFF<Bits<8>>,
    c_kx: DFF<Bits<8>>,
    c_ky: DFF<Bits<8>>,
    c_cg: DFF<Bits<8>>,
    c_oxs: DFF<Bits<8>>,
    p_hp: DFF<Bits<8>>,
    p_wp: DFF<Bits<8>>,
    p_pad: DFF<Bits<8>>,
    p_oys0: DFF<Bits<8>>,
    c_hp: DFF<Bits<8>>,
    c_wp: DFF<Bits<8>>,
    c_pad: DFF<Bits<8>>,
    c_oys: DFF<Bits<8>>,
    f_zero: DFF<Bit>,
    p_dky: DFF<Bits<16>>,
    p_dic: DFF<Bits<16>>,
    p_sw: DFF<Bits<16>>,
    p_s16: DFF<Bits<16>>,
    p_pbase0: DFF<Bits<16>>,
    p_prow0: DFF<Bits<16>>,
    p_wbase: DFF<Bits<16>>,
    c_dky: DFF<Bits<16>>,
    c_dic: DFF<Bits<16>>,
    c_sw: DFF<Bits<16>>,
    c_s16: DFF<Bits<16>>,
    c_wbase: DFF<Bits<16>>,
    c_e: DFF<Bits<16>>,
    c_pbase: DFF<Bits<16>>,
    c_prow: DFF<Bits<16>>,
    // The operand stage (the cycle after issue).
    f_valid: DFF<Bit>,
    f_mask: DFF<Bit>,
    f_add: DFF<Bit>,
    f_oh: DFF<Bits<LANES>>,
    pk_q: DFF<Bits<LANES>>,
    // The write delay line: stage i shows an issue of i + 1 cycles ago.
    d_we: [DFF<Bit>; DELAY],
    d_add: [DFF<Bit>; DELAY],
    d_row: [DFF<Bits<ACT_AW>>; DELAY],
    d_mask: [DFF<Bits<LANES>>; DELAY],
    sums: [SumDelay; LANES],
    // Combinational.
    inst: Signal<Local, Bits<128>>,
    i_start: Signal<Local, Bits<32>>,
    next: Signal<Local, Bits<32>>,
    i_op: Signal<Local, Bits<4>>,
    go: Signal<Local, Bit>,
    free: Signal<Local, Bit>,
    setup: Signal<Local, Bit>,
    n_oxs: Signal<Local, Bits<8>>,
    iy: Signal<Local, Bits<8>>,
    ix: Signal<Local, Bits<8>>,
    n_pbase: Signal<Local, Bits<16>>,
    n_prow: Signal<Local, Bits<16>>,
    last_pair: Signal<Local, Bit>,
    last_group: Signal<Local, Bit>,
    lane_mask: Signal<Local, Bits<LANES>>,
    x: Signal<Local, Word>,
    binst: Signal<Local, Bits<128>>,
    b_start: Signal<Local, Bits<32>>,
    b_op: Signal<Local, Bits<4>>,
    b_go: Signal<Local, Bit>,
    b_setup: Signal<Local, Bit>,
    b_free: Signal<Local, Bit>,
    b_last: Signal<Local, Bit>,
    b_lmask: Signal<Local, Bits<LANES>>,
    b_rowend: Signal<Local, Bit>,
    // A window element's row, and whether it lies in the padding; a coefficient word.
    a_addr: Signal<Local, Bits<ROW_BITS>>,
    outside: Signal<Local, Bit>,
    c_addr: Signal<Local, Bits<COEF_BITS>>,
    // Constants.
    op_end: Constant<Bits<4>>,
    op_dot: Constant<Bits<4>>,
    lanes_c: Constant<Bits<16>>,
    ones: Constant<Bits<LANES>>,
    one_l: Constant<Bits<LANES>>,
    one_w: Constant<Word>,
    one32: Constant<Bits<32>>,
    minus1: Constant<Bits<32>>,
    zero16: Constant<Bits<16>>,
    zero_w: Constant<Word>,
    p0: Constant<Bits<PROG_AW>>,
    p1: Constant<Bits<PROG_AW>>,
    k0: Constant<Bits<12>>,
    k1: Constant<Bits<12>>,
    r1: Constant<Bits<ROW_BITS>>,
    w1: Constant<Bits<WEIGHT_BITS>>,
    logl: Constant<Bits<8>>,
    lmask: Constant<Bits<8>>,
    b8_0: Constant<Bits<8>>,
    b8_1: Constant<Bits<8>>,
    b16_1: Constant<Bits<16>>,
    op_add: Constant<Bits<4>>,
    op_geom: Constant<Bits<4>>,
    op_tile: Constant<Bits<4>>,
    op_conv: Constant<Bits<4>>,
    op_poly: Constant<Bits<4>>,
    op_walk: Constant<Bits<4>>,
    rb1: Constant<Bits<BEAVER_BITS>>,
    c0: Constant<Bits<COEF_BITS>>,
    c1: Constant<Bits<COEF_BITS>>,
    k12_0: Constant<Bits<12>>,
    k12_1: Constant<Bits<12>>,
    bl_c: Constant<Bits<16>>,
    bl8: Constant<Bits<8>>,
    bl_first: Constant<Bits<LANES>>,
    act_aw: Constant<Bits<ROW_BITS>>,
    coef_aw: Constant<Bits<COEF_BITS>>,
}

impl<const LANES: usize, const BL: usize> Accelerator<LANES, BL> {
    /// The top level whose lanes truncate by `frac_bits`.
    pub fn new(frac_bits: u32) -> Self {
        assert!(
            LANES.is_power_of_two() && (2..=32).contains(&LANES),
            "LANES must be a power of two from 2 to 32"
        );
        assert!(
            BL.is_power_of_two() && BL <= LANES,
            "BL must be a power of two up to LANES"
        );
        Self {
            clock: Default::default(),
            start: Default::default(),
            ld_act: Default::default(),
            ld_aux: Default::default(),
            ld_wgt: Default::default(),
            ld_prog: Default::default(),
            ld_bprog: Default::default(),
            ld_pa: Default::default(),
            ld_pc: Default::default(),
            ld_pd: Default::default(),
            ld_cw2: Default::default(),
            ld_cw1: Default::default(),
            ld_cb: Default::default(),
            ld_lane: Default::default(),
            ld_addr: Default::default(),
            ld_data: Default::default(),
            pk_lane: Default::default(),
            pk_addr: Default::default(),
            pk_data: Default::default(),
            now: Default::default(),
            issue: Default::default(),
            writing: Default::default(),
            bissue: Default::default(),
            bwriting: Default::default(),
            halted: Default::default(),
            late: Default::default(),
            fault: Default::default(),
            lanes: std::array::from_fn(|_| MacLane::new(frac_bits)),
            act: std::array::from_fn(|_| Default::default()),
            aux: std::array::from_fn(|_| Default::default()),
            wgt: std::array::from_fn(|_| Default::default()),
            prog: Default::default(),
            beavers: std::array::from_fn(|_| BeaverLane::new(frac_bits)),
            xm: std::array::from_fn(|_| Default::default()),
            pa: std::array::from_fn(|_| Default::default()),
            pcm: std::array::from_fn(|_| Default::default()),
            pd: std::array::from_fn(|_| Default::default()),
            zm: std::array::from_fn(|_| Default::default()),
            cw2: std::array::from_fn(|_| Default::default()),
            cw1: std::array::from_fn(|_| Default::default()),
            cb: std::array::from_fn(|_| Default::default()),
            bprog: Default::default(),
            bpc: Default::default(),
            b_busy: Default::default(),
            b_left: Default::default(),
            b_xrow: Default::default(),
            b_row: Default::default(),
            b_cbase: Default::default(),
            b_repm1: Default::default(),
            b_repk: Default::default(),
            b_perm1: Default::default(),
            b_perk: Default::default(),
            b_soff: Default::default(),
            b_smask: Default::default(),
            bf_smask: Default::default(),
            pw_base: Default::default(),
            pw_repm1: Default::default(),
            pw_perm1: Default::default(),
            pw_repk0: Default::default(),
            pw_perk0: Default::default(),
            bf_valid: Default::default(),
            bw_we: Default::default(),
            bw_row: Default::default(),
            bw_mask: Default::default(),
            u_fromz: Default::default(),
            f_fromz: Default::default(),
            running: Default::default(),
            count: Default::default(),
            count_n: Default::default(),
            pc: Default::default(),
            late_q: Default::default(),
            fault_q: Default::default(),
            busy: Default::default(),
            u_dot: Default::default(),
            u_depth: Default::default(),
            u_k: Default::default(),
            u_left: Default::default(),
            u_arow: Default::default(),
            u_brow: Default::default(),
            u_orow: Default::default(),
            u_wptr: Default::default(),
            u_conv: Default::default(),
            p_km1: Default::default(),
            p_s8: Default::default(),
            p_outws: Default::default(),
            p_cgm1: Default::default(),
            p_oxs0: Default::default(),
            p_cg0: Default::default(),
            c_km1: Default::default(),
            c_s8: Default::default(),
            c_outws: Default::default(),
            c_cgm1: Default::default(),
            c_kx: Default::default(),
            c_ky: Default::default(),
            c_cg: Default::default(),
            c_oxs: Default::default(),
            p_hp: Default::default(),
            p_wp: Default::default(),
            p_pad: Default::default(),
            p_oys0: Default::default(),
            c_hp: Default::default(),
            c_wp: Default::default(),
            c_pad: Default::default(),
            c_oys: Default::default(),
            f_zero: Default::default(),
            p_dky: Default::default(),
            p_dic: Default::default(),
            p_sw: Default::default(),
            p_s16: Default::default(),
            p_pbase0: Default::default(),
            p_prow0: Default::default(),
            p_wbase: Default::default(),
            c_dky: Default::default(),
            c_dic: Default::default(),
            c_sw: Default::default(),
            c_s16: Default::default(),
            c_wbase: Default::default(),
            c_e: Default::default(),
            c_pbase: Default::default(),
            c_prow: Default::default(),
            f_valid: Default::default(),
            f_mask: Default::default(),
            f_add: Default::default(),
            f_oh: Default::default(),
            pk_q: Default::default(),
            d_we: Default::default(),
            d_add: Default::default(),
            d_row: Default::default(),
            d_mask: Default::default(),
            sums: std::array::from_fn(|_| Default::default()),
            inst: Default::default(),
            i_start: Default::default(),
            next: Default::default(),
            i_op: Default::default(),
            go: Default::default(),
            free: Default::default(),
            setup: Default::default(),
            n_oxs: Default::default(),
            iy: Default::default(),
            ix: Default::default(),
            n_pbase: Default::default(),
            n_prow: Default::default(),
            last_pair: Default::default(),
            last_group: Default::default(),
            lane_mask: Default::default(),
            x: Default::default(),
            binst: Default::default(),
            b_start: Default::default(),
            b_op: Default::default(),
            b_go: Default::default(),
            b_setup: Default::default(),
            b_free: Default::default(),
            b_last: Default::default(),
            b_lmask: Default::default(),
            b_rowend: Default::default(),
            a_addr: Default::default(),
            outside: Default::default(),
            c_addr: Default::default(),
            op_end: Constant::new((Op::End as u64).into()),
            op_dot: Constant::new((Op::Dot as u64).into()),
            lanes_c: Constant::new((LANES as u64).into()),
            ones: Constant::new(((1u64 << LANES) - 1).into()),
            one_l: Constant::new(1u64.into()),
            one_w: Constant::new(1u64.into()),
            one32: Constant::new(1u64.into()),
            minus1: Constant::new(u64::from(u32::MAX).into()),
            zero16: Constant::new(0u64.into()),
            zero_w: Constant::new(0u64.into()),
            p0: Constant::new(0u64.into()),
            p1: Constant::new(1u64.into()),
            k0: Constant::new(0u64.into()),
            k1: Constant::new(1u64.into()),
            r1: Constant::new(1u64.into()),
            w1: Constant::new(1u64.into()),
            logl: Constant::new(u64::from(LANES.trailing_zeros()).into()),
            lmask: Constant::new((LANES as u64 - 1).into()),
            b8_0: Constant::new(0u64.into()),
            b8_1: Constant::new(1u64.into()),
            b16_1: Constant::new(1u64.into()),
            op_add: Constant::new((Op::Add as u64).into()),
            op_geom: Constant::new((Op::Geom as u64).into()),
            op_tile: Constant::new((Op::Tile as u64).into()),
            op_conv: Constant::new((Op::Conv as u64).into()),
            op_poly: Constant::new((Op::Poly as u64).into()),
            op_walk: Constant::new((Op::Walk as u64).into()),
            rb1: Constant::new(1u64.into()),
            c0: Constant::new(0u64.into()),
            c1: Constant::new(1u64.into()),
            k12_0: Constant::new(0u64.into()),
            k12_1: Constant::new(1u64.into()),
            bl_c: Constant::new((BL as u64).into()),
            bl8: Constant::new((BL as u64).into()),
            bl_first: Constant::new(((1u64 << BL) - 1).into()),
            act_aw: Constant::new((ACT_AW as u64).into()),
            coef_aw: Constant::new((COEF_AW as u64).into()),
        }
    }
}

impl<const LANES: usize, const BL: usize> Logic for Accelerator<LANES, BL> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, running, count, count_n, pc, late_q, fault_q, busy, u_dot, u_depth, u_k, u_left,
            u_arow, u_brow, u_orow, u_wptr, u_conv, f_valid, f_mask, f_add, f_oh, pk_q
        );
        dff_setup!(
            self, clock, p_km1, p_s8, p_outws, p_cgm1, p_oxs0, p_cg0, c_km1, c_s8, c_outws, c_cgm1,
            c_kx, c_ky, c_cg, c_oxs, p_hp, p_wp, p_pad, p_oys0, c_hp, c_wp, c_pad, c_oys, f_zero,
            p_dky, p_dic, p_sw, p_s16, p_pbase0, p_prow0, p_wbase, c_dky, c_dic, c_sw, c_s16,
            c_wbase, c_e, c_pbase, c_prow
        );
        dff_setup!(
            self, clock, bpc, b_busy, b_left, b_xrow, b_row, b_cbase, b_repm1, b_repk, b_perm1,
            b_perk, pw_base, pw_repm1, pw_perm1, pw_repk0, pw_perk0, bf_valid, u_fromz, f_fromz,
            b_soff, b_smask, bf_smask
        );
        for s in 0..BEAVER_DELAY {
            self.bw_we[s].clock.next = self.clock.val();
            self.bw_row[s].clock.next = self.clock.val();
            self.bw_mask[s].clock.next = self.clock.val();
            self.bw_we[s].d.next = false;
            self.bw_row[s].d.next = self.bw_row[s].q.val();
            self.bw_mask[s].d.next = self.bw_mask[s].q.val();
        }
        for s in 1..BEAVER_DELAY {
            self.bw_we[s].d.next = self.bw_we[s - 1].q.val();
            self.bw_row[s].d.next = self.bw_row[s - 1].q.val();
            self.bw_mask[s].d.next = self.bw_mask[s - 1].q.val();
        }
        for s in 0..DELAY {
            self.d_we[s].clock.next = self.clock.val();
            self.d_add[s].clock.next = self.clock.val();
            self.d_row[s].clock.next = self.clock.val();
            self.d_mask[s].clock.next = self.clock.val();
            self.d_we[s].d.next = false;
            self.d_add[s].d.next = false;
            self.d_row[s].d.next = self.d_row[s].q.val();
            self.d_mask[s].d.next = self.d_mask[s].q.val();
        }
        for s in 1..DELAY {
            self.d_we[s].d.next = self.d_we[s - 1].q.val();
            self.d_add[s].d.next = self.d_add[s - 1].q.val();
            self.d_row[s].d.next = self.d_row[s - 1].q.val();
            self.d_mask[s].d.next = self.d_mask[s - 1].q.val();
        }
        self.prog.read_clock.next = self.clock.val();
        self.prog.write_clock.next = self.clock.val();
        // The cycle count and the instruction at `pc`.
        self.next.next = self.count_n.q.val() ^ self.one32.val();
        self.count.d.next = self.next.val();
        self.count_n.d.next = (self.next.val() + self.one32.val()) ^ self.one32.val();
        self.inst.next = self.prog.read_data.val();
        self.i_start.next = self.inst.val().get_bits::<32>(96);
        self.i_op.next = self.inst.val().get_bits::<4>(92);
        // The array is free next cycle: idle, or issuing its last operands now.
        self.last_pair.next = self.u_k.q.val() == self.u_depth.q.val();
        self.last_group.next = self.u_left.q.val() <= self.lanes_c.val();
        self.free.next = !self.busy.q.val()
            | (self.last_group.val() & (!self.u_dot.q.val() | self.last_pair.val()));
        self.go.next = self.running.q.val()
            & self.free.val()
            & ((self.i_op.val() == self.op_dot.val())
                | (self.i_op.val() == self.op_add.val())
                | (self.i_op.val() == self.op_conv.val()))
            & (self.next.val() >= self.i_start.val());
        // `GEOM` and `TILE` load at once, whatever the array does.
        self.setup.next = self.running.q.val()
            & ((self.i_op.val() == self.op_geom.val()) | (self.i_op.val() == self.op_tile.val()));
        self.prog.read_address.next = self.pc.q.val();
        if self.setup.val() {
            self.pc.d.next = self.pc.q.val() + self.p1.val();
            self.prog.read_address.next = self.pc.q.val() + self.p1.val();
            if self.i_op.val() == self.op_geom.val() {
                self.p_dky.d.next = self.inst.val().get_bits::<16>(112);
                self.p_dic.d.next = self.inst.val().get_bits::<16>(96);
                self.p_sw.d.next = self.inst.val().get_bits::<16>(76);
                self.p_s16.d.next = self.inst.val().get_bits::<16>(60);
                self.p_km1.d.next = self.inst.val().get_bits::<8>(52);
                self.p_s8.d.next = self.inst.val().get_bits::<8>(44);
                self.p_outws.d.next = self.inst.val().get_bits::<8>(36);
                self.p_cgm1.d.next = self.inst.val().get_bits::<8>(28);
                self.p_hp.d.next = self.inst.val().get_bits::<8>(20);
                self.p_wp.d.next = self.inst.val().get_bits::<8>(12);
                self.p_pad.d.next = self.inst.val().get_bits::<8>(4);
            } else {
                self.p_oxs0.d.next = self.inst.val().get_bits::<8>(84);
                self.p_cg0.d.next = self.inst.val().get_bits::<8>(76);
                self.p_pbase0.d.next = self.inst.val().get_bits::<16>(60);
                self.p_prow0.d.next = self.inst.val().get_bits::<16>(44);
                self.p_wbase.d.next = self.inst.val().get_bits::<16>(28);
                self.p_oys0.d.next = self.inst.val().get_bits::<8>(20);
            }
        }
        if self.go.val() {
            self.pc.d.next = self.pc.q.val() + self.p1.val();
            self.prog.read_address.next = self.pc.q.val() + self.p1.val();
            if self.next.val() != self.i_start.val() {
                self.late_q.d.next = true;
            }
        }
        if self.start.val() {
            self.running.d.next = true;
            self.count.d.next = self.minus1.val();
            self.count_n.d.next = self.one32.val();
            self.pc.d.next = self.p0.val();
            self.prog.read_address.next = self.p0.val();
            self.late_q.d.next = false;
            self.fault_q.d.next = false;
        }
        // The Beaver program: its own controller on the same cycle count.
        self.bprog.read_clock.next = self.clock.val();
        self.bprog.write_clock.next = self.clock.val();
        self.binst.next = self.bprog.read_data.val();
        self.b_start.next = self.binst.val().get_bits::<32>(96);
        self.b_op.next = self.binst.val().get_bits::<4>(92);
        self.b_last.next = self.b_left.q.val() <= self.lanes_c.val();
        // The row's last sub-cycle: its last banks, or the instruction's last elements.
        self.b_rowend.next = ((self.b_soff.q.val() + self.bl_c.val()) >= self.b_left.q.val())
            | ((self.b_soff.q.val() + self.bl_c.val()) == self.lanes_c.val());
        self.b_free.next = !self.b_busy.q.val() | (self.b_last.val() & self.b_rowend.val());
        self.b_go.next = self.running.q.val()
            & self.b_free.val()
            & (self.b_op.val() == self.op_poly.val())
            & (self.next.val() >= self.b_start.val());
        // `WALK` loads at once, whatever the lanes do.
        self.b_setup.next = self.running.q.val() & (self.b_op.val() == self.op_walk.val());
        self.bprog.read_address.next = self.bpc.q.val();
        if self.b_setup.val() {
            self.bpc.d.next = self.bpc.q.val() + self.p1.val();
            self.bprog.read_address.next = self.bpc.q.val() + self.p1.val();
            self.pw_base.d.next = self.binst.val().get_bits::<COEF_BITS>(0);
            self.pw_repm1.d.next = self.binst.val().get_bits::<12>(10);
            self.pw_perm1.d.next = self.binst.val().get_bits::<COEF_BITS>(22);
            self.pw_perk0.d.next = self.binst.val().get_bits::<COEF_BITS>(38);
            self.pw_repk0.d.next = self.binst.val().get_bits::<12>(64);
        }
        if self.b_go.val() {
            self.bpc.d.next = self.bpc.q.val() + self.p1.val();
            self.bprog.read_address.next = self.bpc.q.val() + self.p1.val();
            if self.next.val() != self.b_start.val() {
                self.late_q.d.next = true;
            }
        }
        if self.start.val() {
            self.bpc.d.next = self.p0.val();
            self.bprog.read_address.next = self.p0.val();
        }
        // The Beaver lanes: issue the next row, its coefficients from the walk.
        self.b_lmask.next = self.ones.val();
        if self.b_left.q.val() < self.lanes_c.val() {
            self.b_lmask.next =
                (self.one_l.val() << self.b_left.q.val().get_bits::<8>(0)) - self.one_l.val();
        }
        self.bf_valid.d.next = false;
        // A coefficient word past the banks (on a top level with fewer words than the
        // walk's fields reach) is a fault.
        self.c_addr.next = self.b_cbase.q.val() + self.b_perk.q.val();
        if self.b_busy.q.val() & ((self.c_addr.val() >> self.coef_aw.val()) != self.c0.val()) {
            self.fault_q.d.next = true;
        }
        for j in 0..LANES {
            self.xm[j].read_clock.next = self.clock.val();
            self.xm[j].write_clock.next = self.clock.val();
            self.pa[j].read_clock.next = self.clock.val();
            self.pa[j].write_clock.next = self.clock.val();
            self.pcm[j].read_clock.next = self.clock.val();
            self.pcm[j].write_clock.next = self.clock.val();
            self.pd[j].read_clock.next = self.clock.val();
            self.pd[j].write_clock.next = self.clock.val();
            self.zm[j].read_clock.next = self.clock.val();
            self.zm[j].write_clock.next = self.clock.val();
            self.cw2[j].read_clock.next = self.clock.val();
            self.cw2[j].write_clock.next = self.clock.val();
            self.cw1[j].read_clock.next = self.clock.val();
            self.cw1[j].write_clock.next = self.clock.val();
            self.cb[j].read_clock.next = self.clock.val();
            self.cb[j].write_clock.next = self.clock.val();
            self.xm[j].read_address.next = self.b_xrow.q.val().get_bits::<ACT_AW>(0);
            self.pa[j].read_address.next = self.b_row.q.val().get_bits::<BEAVER_AW>(0);
            self.pcm[j].read_address.next = self.b_row.q.val().get_bits::<BEAVER_AW>(0);
            self.pd[j].read_address.next = self.b_row.q.val().get_bits::<BEAVER_AW>(0);
            self.cw2[j].read_address.next = self.c_addr.val().get_bits::<COEF_AW>(0);
            self.cw1[j].read_address.next = self.c_addr.val().get_bits::<COEF_AW>(0);
            self.cb[j].read_address.next = self.c_addr.val().get_bits::<COEF_AW>(0);
            self.zm[j].read_address.next = self.u_arow.q.val().get_bits::<BEAVER_AW>(0);
        }
        self.bf_smask.d.next = self.b_smask.q.val();
        if self.b_busy.q.val() {
            self.bf_valid.d.next = true;
            self.bw_we[0].d.next = true;
            self.bw_row[0].d.next = self.b_row.q.val().get_bits::<BEAVER_AW>(0);
            self.bw_mask[0].d.next = self.b_lmask.val() & self.b_smask.q.val();
            self.b_soff.d.next = self.b_soff.q.val() + self.bl_c.val();
            self.b_smask.d.next = self.b_smask.q.val() << self.bl8.val();
            if self.b_rowend.val() {
                self.b_soff.d.next = self.zero16.val();
                self.b_smask.d.next = self.bl_first.val();
                self.b_xrow.d.next = self.b_xrow.q.val() + self.r1.val();
                self.b_row.d.next = self.b_row.q.val() + self.rb1.val();
                self.b_left.d.next = self.b_left.q.val() - self.lanes_c.val();
                if self.b_repk.q.val() == self.b_repm1.q.val() {
                    self.b_repk.d.next = self.k12_0.val();
                    if self.b_perk.q.val() == self.b_perm1.q.val() {
                        self.b_perk.d.next = self.c0.val();
                    } else {
                        self.b_perk.d.next = self.b_perk.q.val() + self.c1.val();
                    }
                } else {
                    self.b_repk.d.next = self.b_repk.q.val() + self.k12_1.val();
                }
                if self.b_last.val() {
                    self.b_busy.d.next = false;
                }
            }
        }
        if self.b_go.val() {
            self.b_busy.d.next = self.binst.val().get_bits::<16>(76) != self.zero16.val();
            self.b_left.d.next = self.binst.val().get_bits::<16>(76);
            self.b_xrow.d.next = self.binst.val().get_bits::<ROW_BITS>(48);
            self.b_row.d.next = self.binst.val().get_bits::<BEAVER_BITS>(32);
            self.b_cbase.d.next = self.pw_base.q.val();
            self.b_repm1.d.next = self.pw_repm1.q.val();
            self.b_perm1.d.next = self.pw_perm1.q.val();
            self.b_repk.d.next = self.pw_repk0.q.val();
            self.b_perk.d.next = self.pw_perk0.q.val();
            self.b_soff.d.next = self.zero16.val();
            self.b_smask.d.next = self.bl_first.val();
        }
        for k in 0..BL {
            self.beavers[k].clock.next = self.clock.val();
            self.beavers[k].party.next = false;
            self.beavers[k].ready_out.next = true;
            self.beavers[k].valid_in.next = self.bf_valid.q.val();
            if self.bf_valid.q.val() & !self.beavers[k].ready_in.val() {
                self.fault_q.d.next = true;
            }
            self.beavers[k].x.next = self.zero_w.val();
            self.beavers[k].a.next = self.zero_w.val();
            self.beavers[k].c.next = self.zero_w.val();
            self.beavers[k].d.next = self.zero_w.val();
            self.beavers[k].w2.next = self.zero_w.val();
            self.beavers[k].w1.next = self.zero_w.val();
            self.beavers[k].b.next = self.zero_w.val();
        }
        // Beaver lane `k` takes bank `s * BL + k` in the row's `s`-th sub-cycle (`bl`
        // carries `BL` into the generated indices).
        for bl in BL..(BL + 1) {
            for s in 0..(LANES / BL) {
                for k in 0..BL {
                    if self.bf_smask.q.val().get_bit(s * bl + k) {
                        self.beavers[k].x.next = self.xm[s * bl + k].read_data.val();
                        self.beavers[k].a.next = self.pa[s * bl + k].read_data.val();
                        self.beavers[k].c.next = self.pcm[s * bl + k].read_data.val();
                        self.beavers[k].d.next = self.pd[s * bl + k].read_data.val();
                        self.beavers[k].w2.next = self.cw2[s * bl + k].read_data.val();
                        self.beavers[k].w1.next = self.cw1[s * bl + k].read_data.val();
                        self.beavers[k].b.next = self.cb[s * bl + k].read_data.val();
                    }
                }
            }
            for j in 0..LANES {
                // The results, else nothing (the host does not write them).
                self.zm[j].write_enable.next = false;
                self.zm[j].write_address.next = self.b_row.q.val().get_bits::<BEAVER_AW>(0);
                self.zm[j].write_data.next = self.beavers[j % bl].y.val();
                for s in (BEAVER_DELAY - 1)..BEAVER_DELAY {
                    self.zm[j].write_address.next = self.bw_row[s].q.val();
                    if self.bw_we[s].q.val() & self.bw_mask[s].q.val().get_bit(j) {
                        self.zm[j].write_enable.next = true;
                        if !self.beavers[j % bl].valid_out.val() {
                            self.fault_q.d.next = true;
                        }
                    }
                }
            }
        }
        for j in 0..LANES {
            self.pa[j].write_enable.next = self.ld_pa.val() & self.ld_lane.val().get_bit(j);
            self.pcm[j].write_enable.next = self.ld_pc.val() & self.ld_lane.val().get_bit(j);
            self.pd[j].write_enable.next = self.ld_pd.val() & self.ld_lane.val().get_bit(j);
            self.cw2[j].write_enable.next = self.ld_cw2.val() & self.ld_lane.val().get_bit(j);
            self.cw1[j].write_enable.next = self.ld_cw1.val() & self.ld_lane.val().get_bit(j);
            self.cb[j].write_enable.next = self.ld_cb.val() & self.ld_lane.val().get_bit(j);
            self.pa[j].write_address.next = self.ld_addr.val().get_bits::<BEAVER_AW>(0);
            self.pcm[j].write_address.next = self.ld_addr.val().get_bits::<BEAVER_AW>(0);
            self.pd[j].write_address.next = self.ld_addr.val().get_bits::<BEAVER_AW>(0);
            self.cw2[j].write_address.next = self.ld_addr.val().get_bits::<COEF_AW>(0);
            self.cw1[j].write_address.next = self.ld_addr.val().get_bits::<COEF_AW>(0);
            self.cb[j].write_address.next = self.ld_addr.val().get_bits::<COEF_AW>(0);
            self.pa[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
            self.pcm[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
            self.pd[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
            self.cw2[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
            self.cw1[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
            self.cb[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
        }
        self.bprog.write_enable.next = self.ld_bprog.val();
        self.bprog.write_address.next = self.ld_addr.val().get_bits::<PROG_AW>(0);
        self.bprog.write_data.next = self.ld_data.val();
        // The array: issue the current group's next pair, or row.
        self.n_oxs.next = self.c_oxs.q.val();
        self.n_pbase.next = self.c_pbase.q.val();
        self.n_prow.next = self.c_prow.q.val();
        self.lane_mask.next = self.ones.val();
        if self.u_left.q.val() < self.lanes_c.val() {
            self.lane_mask.next =
                (self.one_l.val() << self.u_left.q.val().get_bits::<8>(0)) - self.one_l.val();
        }
        self.f_valid.d.next = false;
        self.f_zero.d.next = false;
        self.iy.next = self.c_oys.q.val() + self.c_ky.q.val();
        self.ix.next = self.c_oxs.q.val() + self.c_kx.q.val();
        self.outside.next = self.u_conv.q.val()
            & ((self.iy.val() < self.c_pad.q.val())
                | (self.iy.val() >= self.c_hp.q.val())
                | (self.ix.val() < self.c_pad.q.val())
                | (self.ix.val() >= self.c_wp.q.val()));
        self.a_addr.next = self.u_arow.q.val() + (self.c_e.q.val() >> self.logl.val());
        self.f_mask.d.next = false;
        self.f_add.d.next = false;
        self.f_fromz.d.next = false;
        self.f_oh.d.next = self.one_l.val();
        self.pk_q.d.next = self.pk_lane.val();
        for j in 0..LANES {
            self.act[j].read_clock.next = self.clock.val();
            self.act[j].write_clock.next = self.clock.val();
            self.aux[j].read_clock.next = self.clock.val();
            self.aux[j].write_clock.next = self.clock.val();
            self.wgt[j].read_clock.next = self.clock.val();
            self.wgt[j].write_clock.next = self.clock.val();
            self.act[j].read_address.next = self.pk_addr.val();
            self.aux[j].read_address.next = self.u_brow.q.val().get_bits::<ACT_AW>(0);
            self.wgt[j].read_address.next = self.u_wptr.q.val().get_bits::<WGT_AW>(0);
        }
        if self.busy.q.val() {
            if self.u_dot.q.val() {
                self.f_valid.d.next = true;
                // The operand's element `c_e` (the vector's, or the window's): its
                // bank and row.
                for j in 0..LANES {
                    self.act[j].read_address.next = self.a_addr.val().get_bits::<ACT_AW>(0);
                }
                // A row past the banks, outside the padding, is a fault.
                if !self.outside.val() & ((self.a_addr.val() >> self.act_aw.val()) != self.zero16.val())
                {
                    self.fault_q.d.next = true;
                }
                self.f_oh.d.next =
                    self.one_l.val() << (self.c_e.q.val().get_bits::<8>(0) & self.lmask.val());
                // Outside the input (its zero padding): the pair's share is 0.
                self.f_zero.d.next = self.outside.val();
                if self.last_pair.val() {
                    // The mask pair ends the group; its results go down the delay line.
                    self.f_mask.d.next = true;
                    self.d_we[0].d.next = true;
                    self.d_row[0].d.next = self.u_orow.q.val().get_bits::<ACT_AW>(0);
                    self.d_mask[0].d.next = self.lane_mask.val();
                    self.u_k.d.next = self.k0.val();
                    self.c_e.d.next = self.zero16.val();
                    self.u_brow.d.next = self.u_brow.q.val() + self.r1.val();
                    self.u_orow.d.next = self.u_orow.q.val() + self.r1.val();
                    self.u_left.d.next = self.u_left.q.val() - self.lanes_c.val();
                    if self.last_group.val() {
                        self.busy.d.next = false;
                    }
                    if self.u_conv.q.val() {
                        // The next channel group of this window, or the next window.
                        self.c_kx.d.next = self.b8_0.val();
                        self.c_ky.d.next = self.b8_0.val();
                        self.n_oxs.next = self.c_oxs.q.val();
                        self.n_pbase.next = self.c_pbase.q.val();
                        self.n_prow.next = self.c_prow.q.val();
                        if self.c_cg.q.val() == self.c_cgm1.q.val() {
                            self.c_cg.d.next = self.b8_0.val();
                            self.u_wptr.d.next = self.c_wbase.q.val();
                            if self.c_oxs.q.val() + self.c_s8.q.val() == self.c_outws.q.val() {
                                self.n_oxs.next = self.b8_0.val();
                                self.c_oys.d.next = self.c_oys.q.val() + self.c_s8.q.val();
                                self.n_prow.next = self.c_prow.q.val() + self.c_sw.q.val();
                                self.n_pbase.next = self.n_prow.val();
                            } else {
                                self.n_oxs.next = self.c_oxs.q.val() + self.c_s8.q.val();
                                self.n_pbase.next = self.c_pbase.q.val() + self.c_s16.q.val();
                            }
                        } else {
                            self.c_cg.d.next = self.c_cg.q.val() + self.b8_1.val();
                        }
                        self.c_oxs.d.next = self.n_oxs.val();
                        self.c_pbase.d.next = self.n_pbase.val();
                        self.c_prow.d.next = self.n_prow.val();
                        self.c_e.d.next = self.n_pbase.val();
                    }
                } else if self.u_conv.q.val() {
                    // The window's next element.
                    if self.c_kx.q.val() == self.c_km1.q.val() {
                        self.c_kx.d.next = self.b8_0.val();
                        if self.c_ky.q.val() == self.c_km1.q.val() {
                            self.c_ky.d.next = self.b8_0.val();
                            self.c_e.d.next = self.c_e.q.val() + self.c_dic.q.val();
                        } else {
                            self.c_ky.d.next = self.c_ky.q.val() + self.b8_1.val();
                            self.c_e.d.next = self.c_e.q.val() + self.c_dky.q.val();
                        }
                    } else {
                        self.c_kx.d.next = self.c_kx.q.val() + self.b8_1.val();
                        self.c_e.d.next = self.c_e.q.val() + self.b16_1.val();
                    }
                    self.u_k.d.next = self.u_k.q.val() + self.k1.val();
                    self.u_wptr.d.next = self.u_wptr.q.val() + self.w1.val();
                } else {
                    // The vector's next element.
                    self.c_e.d.next = self.c_e.q.val() + self.b16_1.val();
                    self.u_k.d.next = self.u_k.q.val() + self.k1.val();
                    self.u_wptr.d.next = self.u_wptr.q.val() + self.w1.val();
                }
            } else {
                self.f_add.d.next = true;
                self.f_fromz.d.next = self.u_fromz.q.val();
                for j in 0..LANES {
                    self.act[j].read_address.next = self.u_arow.q.val().get_bits::<ACT_AW>(0);
                }
                self.d_we[0].d.next = true;
                self.d_add[0].d.next = true;
                self.d_row[0].d.next = self.u_orow.q.val().get_bits::<ACT_AW>(0);
                self.d_mask[0].d.next = self.lane_mask.val();
                self.u_arow.d.next = self.u_arow.q.val() + self.r1.val();
                self.u_brow.d.next = self.u_brow.q.val() + self.r1.val();
                self.u_orow.d.next = self.u_orow.q.val() + self.r1.val();
                self.u_left.d.next = self.u_left.q.val() - self.lanes_c.val();
                if self.last_group.val() {
                    self.busy.d.next = false;
                }
            }
        }
        if self.go.val() {
            self.busy.d.next = self.inst.val().get_bits::<16>(76) != self.zero16.val();
            self.u_dot.d.next =
                (self.i_op.val() == self.op_dot.val()) | (self.i_op.val() == self.op_conv.val());
            self.u_conv.d.next = self.i_op.val() == self.op_conv.val();
            self.u_fromz.d.next =
                (self.i_op.val() == self.op_add.val()) & self.inst.val().get_bit(64);
            self.c_km1.d.next = self.p_km1.q.val();
            self.c_s8.d.next = self.p_s8.q.val();
            self.c_outws.d.next = self.p_outws.q.val();
            self.c_cgm1.d.next = self.p_cgm1.q.val();
            self.c_dky.d.next = self.p_dky.q.val();
            self.c_dic.d.next = self.p_dic.q.val();
            self.c_sw.d.next = self.p_sw.q.val();
            self.c_s16.d.next = self.p_s16.q.val();
            self.c_wbase.d.next = self.p_wbase.q.val();
            self.c_kx.d.next = self.b8_0.val();
            self.c_ky.d.next = self.b8_0.val();
            self.c_cg.d.next = self.p_cg0.q.val();
            self.c_oxs.d.next = self.p_oxs0.q.val();
            self.c_oys.d.next = self.p_oys0.q.val();
            self.c_hp.d.next = self.p_hp.q.val();
            self.c_wp.d.next = self.p_wp.q.val();
            self.c_pad.d.next = self.p_pad.q.val();
            self.c_pbase.d.next = self.p_pbase0.q.val();
            self.c_prow.d.next = self.p_prow0.q.val();
            self.c_e.d.next = self.zero16.val();
            if self.i_op.val() == self.op_conv.val() {
                self.c_e.d.next = self.p_pbase0.q.val();
            }
            self.u_left.d.next = self.inst.val().get_bits::<16>(76);
            self.u_depth.d.next = self.inst.val().get_bits::<12>(64);
            self.u_k.d.next = self.k0.val();
            self.u_arow.d.next = self.inst.val().get_bits::<ROW_BITS>(48);
            self.u_brow.d.next = self.inst.val().get_bits::<ROW_BITS>(32);
            self.u_orow.d.next = self.inst.val().get_bits::<ROW_BITS>(16);
            self.u_wptr.d.next = self.inst.val().get_bits::<WEIGHT_BITS>(0);
        }
        // The operand stage: the lanes take the pair; additions enter the delay line.
        self.x.next = self.zero_w.val();
        for j in 0..LANES {
            if self.f_oh.q.val().get_bit(j) {
                self.x.next = self.act[j].read_data.val();
            }
        }
        if self.f_zero.q.val() {
            self.x.next = self.zero_w.val();
        }
        for j in 0..LANES {
            self.lanes[j].clock.next = self.clock.val();
            self.lanes[j].party.next = false;
            self.lanes[j].ready_out.next = true;
            self.lanes[j].valid_in.next = self.f_valid.q.val();
            if self.f_valid.q.val() & !self.lanes[j].ready_in.val() {
                self.fault_q.d.next = true;
            }
            self.lanes[j].last.next = self.f_mask.q.val();
            self.lanes[j].x.next = self.x.val();
            self.lanes[j].w.next = self.wgt[j].read_data.val();
            if self.f_mask.q.val() {
                self.lanes[j].x.next = self.aux[j].read_data.val();
                self.lanes[j].w.next = self.one_w.val();
            }
            self.sums[j].clock.next = self.clock.val();
            self.sums[j].d.next = self.act[j].read_data.val() + self.aux[j].read_data.val();
            if self.f_fromz.q.val() {
                self.sums[j].d.next = self.zm[j].read_data.val() + self.aux[j].read_data.val();
            }
        }
        // The write stage: results, else the host's loads.
        for j in 0..LANES {
            // The activations and their mirror for the Beaver lanes, written alike.
            self.act[j].write_enable.next = false;
            self.act[j].write_address.next = self.ld_addr.val().get_bits::<ACT_AW>(0);
            self.act[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
            self.xm[j].write_enable.next = false;
            self.xm[j].write_address.next = self.ld_addr.val().get_bits::<ACT_AW>(0);
            self.xm[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
            if self.ld_act.val() & self.ld_lane.val().get_bit(j) {
                self.act[j].write_enable.next = true;
                self.xm[j].write_enable.next = true;
            }
            for s in (DELAY - 1)..DELAY {
                if self.d_we[s].q.val() {
                    self.act[j].write_enable.next = self.d_mask[s].q.val().get_bit(j);
                    self.act[j].write_address.next = self.d_row[s].q.val();
                    self.xm[j].write_enable.next = self.d_mask[s].q.val().get_bit(j);
                    self.xm[j].write_address.next = self.d_row[s].q.val();
                    if self.d_add[s].q.val() {
                        self.act[j].write_data.next = self.sums[j].q.val();
                        self.xm[j].write_data.next = self.sums[j].q.val();
                    } else {
                        self.act[j].write_data.next = self.lanes[j].y.val();
                        self.xm[j].write_data.next = self.lanes[j].y.val();
                        if !self.lanes[j].valid_out.val() {
                            self.fault_q.d.next = true;
                        }
                    }
                }
            }
            self.aux[j].write_enable.next = self.ld_aux.val() & self.ld_lane.val().get_bit(j);
            self.aux[j].write_address.next = self.ld_addr.val().get_bits::<ACT_AW>(0);
            self.aux[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
            self.wgt[j].write_enable.next = self.ld_wgt.val() & self.ld_lane.val().get_bit(j);
            self.wgt[j].write_address.next = self.ld_addr.val().get_bits::<WGT_AW>(0);
            self.wgt[j].write_data.next = self.ld_data.val().get_bits::<L>(0);
        }
        self.prog.write_enable.next = self.ld_prog.val();
        self.prog.write_address.next = self.ld_addr.val().get_bits::<PROG_AW>(0);
        self.prog.write_data.next = self.ld_data.val();
        // Outputs.
        self.pk_data.next = self.zero_w.val();
        for j in 0..LANES {
            if self.pk_q.q.val().get_bit(j) {
                self.pk_data.next = self.act[j].read_data.val();
            }
        }
        self.now.next = self.count.q.val();
        self.issue.next = self.go.val();
        self.bissue.next = self.b_go.val();
        self.bwriting.next = false;
        for s in (BEAVER_DELAY - 1)..BEAVER_DELAY {
            self.bwriting.next = self.bw_we[s].q.val();
        }
        self.writing.next = false;
        for s in (DELAY - 1)..DELAY {
            self.writing.next = self.d_we[s].q.val();
        }
        self.halted.next = self.running.q.val()
            & !self.busy.q.val()
            & (self.i_op.val() == self.op_end.val())
            & !self.b_busy.q.val()
            & (self.b_op.val() == self.op_end.val());
        self.late.next = self.late_q.q.val();
        self.fault.next = self.fault_q.q.val();
    }
}
