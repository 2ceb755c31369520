//! hdl: the accelerator's blocks in rust-hdl (ring multiplier from 16x16 partial
//! products, MAC array, Beaver and polynomial units, AES-128 core, half-gates garbler
//! and evaluator, ReLU engine, stream plumbing, controller), each parameterised by
//! ring width and lanes and each beside its bit-exact golden model and its cycle
//! formula. The blocks arrive with the hardware issues; this crate is their home.
