//! Top levels around a byte-stream engine: the host link's request engine
//! ([`crate::host::RequestEngine`]) and the accelerator's (`AccelEngine`, in each of
//! [`crate::accel`]'s ring modules) take request bytes and give reply bytes with
//! handshakes (`in_data`, `in_valid`, `in_error`, `in_ready`; `out_data`, `out_valid`,
//! `out_ready`, `out_last`), and [`byte_stream_tops`] puts the same two sets of ports
//! around either.

/// Defines two top levels around the byte-stream engine `$engine` (generic over the
/// const parameters listed, if any), each with `around(engine, ...)`:
/// - `$uart`: ports `clock`, `rx` (from the host), `tx` (to the host) and two LEDs that
///   toggle, whatever their polarity shows: `led_rx` on every byte received,
///   `led_reply` on every reply sent. Bytes arriving while the engine is busy are
///   dropped; a broken frame drops the request.
/// - `$axis`: requests on the slave stream (`s_axis_*`, 8-bit beats), replies on the
///   master stream (`m_axis_*`, `tlast` on each reply's last byte).
macro_rules! byte_stream_tops {
    (
        $(#[$um:meta])* uart $uart:ident,
        $(#[$am:meta])* axis $axis:ident,
        engine $engine:ident $(<$($g:ident),*>)?
    ) => {
        $(#[$um])*
        #[derive(LogicBlock)]
        pub struct $uart $(<$(const $g: usize),*>)? {
            /// Clock.
            pub clock: Signal<In, Clock>,
            /// The serial line from the host.
            pub rx: Signal<In, Bit>,
            /// The serial line to the host.
            pub tx: Signal<Out, Bit>,
            /// Toggles on every byte received.
            pub led_rx: Signal<Out, Bit>,
            /// Toggles on every reply sent.
            pub led_reply: Signal<Out, Bit>,
            urx: $crate::uart::UartRx,
            utx: $crate::uart::UartTx,
            engine: $engine $(<$($g),*>)?,
            rx_toggle: DFF<Bit>,
            reply_toggle: DFF<Bit>,
        }

        impl $(<$(const $g: usize),*>)? $uart $(<$($g),*>)? {
            /// `engine` behind a UART of `divisor` clock cycles a bit.
            pub fn around(engine: $engine $(<$($g),*>)?, divisor: u16) -> Self {
                Self {
                    clock: Default::default(),
                    rx: Default::default(),
                    tx: Default::default(),
                    led_rx: Default::default(),
                    led_reply: Default::default(),
                    urx: $crate::uart::UartRx::new(divisor),
                    utx: $crate::uart::UartTx::new(divisor),
                    engine,
                    rx_toggle: Default::default(),
                    reply_toggle: Default::default(),
                }
            }
        }

        impl $(<$(const $g: usize),*>)? Logic for $uart $(<$($g),*>)? {
            #[hdl_gen]
            fn update(&mut self) {
                dff_setup!(self, clock, rx_toggle, reply_toggle);
                self.urx.clock.next = self.clock.val();
                self.utx.clock.next = self.clock.val();
                self.engine.clock.next = self.clock.val();
                self.urx.rx.next = self.rx.val();
                self.tx.next = self.utx.tx.val();
                // Bytes arriving while the engine is busy are dropped.
                self.engine.in_data.next = self.urx.data.val();
                self.engine.in_valid.next = self.urx.valid.val() & self.engine.in_ready.val();
                self.engine.in_error.next = self.urx.error.val();
                self.utx.data.next = self.engine.out_data.val();
                self.utx.valid.next = self.engine.out_valid.val();
                self.engine.out_ready.next = self.utx.ready.val();
                if self.urx.valid.val() {
                    self.rx_toggle.d.next = !self.rx_toggle.q.val();
                }
                if self.engine.out_valid.val() & self.engine.out_last.val() & self.utx.ready.val()
                {
                    self.reply_toggle.d.next = !self.reply_toggle.q.val();
                }
                self.led_rx.next = self.rx_toggle.q.val();
                self.led_reply.next = self.reply_toggle.q.val();
            }
        }

        $(#[$am])*
        #[derive(LogicBlock)]
        pub struct $axis $(<$(const $g: usize),*>)? {
            /// Clock.
            pub clock: Signal<In, Clock>,
            /// Request byte.
            pub s_axis_tdata: Signal<In, Bits<8>>,
            /// Request byte valid.
            pub s_axis_tvalid: Signal<In, Bit>,
            /// The engine takes the request byte.
            pub s_axis_tready: Signal<Out, Bit>,
            /// Reply byte.
            pub m_axis_tdata: Signal<Out, Bits<8>>,
            /// Reply byte valid.
            pub m_axis_tvalid: Signal<Out, Bit>,
            /// The consumer takes the reply byte.
            pub m_axis_tready: Signal<In, Bit>,
            /// The reply's last byte.
            pub m_axis_tlast: Signal<Out, Bit>,
            engine: $engine $(<$($g),*>)?,
        }

        impl $(<$(const $g: usize),*>)? $axis $(<$($g),*>)? {
            /// `engine` with AXI-Stream ports.
            pub fn around(engine: $engine $(<$($g),*>)?) -> Self {
                Self {
                    clock: Default::default(),
                    s_axis_tdata: Default::default(),
                    s_axis_tvalid: Default::default(),
                    s_axis_tready: Default::default(),
                    m_axis_tdata: Default::default(),
                    m_axis_tvalid: Default::default(),
                    m_axis_tready: Default::default(),
                    m_axis_tlast: Default::default(),
                    engine,
                }
            }
        }

        impl $(<$(const $g: usize),*>)? Logic for $axis $(<$($g),*>)? {
            #[hdl_gen]
            fn update(&mut self) {
                self.engine.clock.next = self.clock.val();
                self.engine.in_data.next = self.s_axis_tdata.val();
                self.engine.in_valid.next = self.s_axis_tvalid.val() & self.engine.in_ready.val();
                self.engine.in_error.next = false;
                self.s_axis_tready.next = self.engine.in_ready.val();
                self.m_axis_tdata.next = self.engine.out_data.val();
                self.m_axis_tvalid.next = self.engine.out_valid.val();
                self.m_axis_tlast.next = self.engine.out_last.val();
                self.engine.out_ready.next = self.m_axis_tready.val();
            }
        }
    };
}

pub(crate) use byte_stream_tops;
