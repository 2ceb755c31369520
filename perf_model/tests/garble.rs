//! Half-gates garbling against plain evaluation: random circuits, and the 2PC
//! profile's circuits (ReLU, Circa's sign test, max) on random shares for every ring.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::circuit::garble::{self, Delta, Hasher, Label, LabelRng};
use perf_model::circuit::{from_bits, library, to_bits, Circuit, CircuitError, Gate};
use proptest::prelude::*;

/// Garbles `c`, evaluates it on `garbler ++ evaluator` bits, decodes.
fn garbled_eval(c: &Circuit, garbler: &[bool], evaluator: &[bool], seed: u128) -> Vec<bool> {
    let h = Hasher::default();
    let mut rng = LabelRng::new(seed);
    let delta = Delta::new(rng.next_label());
    let zeros = rng.labels((c.garbler_inputs + c.evaluator_inputs) as usize);
    let (gc, state) = garble::garble(c, delta, &zeros, &h).unwrap();
    assert_eq!(gc.tables.len() as u64, c.counts().and);
    let labels: Vec<Label> = garbler
        .iter()
        .chain(evaluator)
        .enumerate()
        .map(|(i, &b)| state.input_label(i, b))
        .collect();
    let out = garble::evaluate(c, &gc, &labels, &h).unwrap();
    for (i, &l) in out.iter().enumerate() {
        assert!(
            state.decode_label(i, l).is_some(),
            "output {i} is a valid label"
        );
    }
    garble::decode(&out, &gc.decode)
}

fn circuit(g: u32, e: u32, ops: &[(u8, u32, u32)], outs: &[u32]) -> Circuit {
    library::random(g, e, ops, outs)
}

fn mask(l: u32) -> u64 {
    if l == 64 {
        u64::MAX
    } else {
        (1 << l) - 1
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_circuits_garble_to_their_plain_value(
        g in 1u32..8,
        e in 1u32..8,
        ops in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..200),
        outs in prop::collection::vec(any::<u32>(), 1..16),
        bits in any::<u16>(),
        seed in any::<u128>(),
    ) {
        let c = circuit(g, e, &ops, &outs);
        let gb: Vec<bool> = (0..g).map(|i| (bits >> i) & 1 == 1).collect();
        let eb: Vec<bool> = (0..e).map(|i| (bits >> (8 + i)) & 1 == 1).collect();
        let (plain, _) = c.eval(&gb, &eb).unwrap();
        prop_assert_eq!(garbled_eval(&c, &gb, &eb, seed), plain);
    }

    #[test]
    fn garbled_relu_is_relu_re_shared(li in 0usize..3, x in any::<u64>(), xs in any::<u64>(), r in any::<u64>(), seed in any::<u128>()) {
        let l = [16u32, 32, 64][li];
        let m = mask(l);
        let (x, xs, r) = (x & m, xs & m, r & m);
        let xc = x.wrapping_sub(xs) & m;
        let c = library::relu(l);
        let out = garbled_eval(&c, &to_bits(xs, l), &[to_bits(xc, l), to_bits(r.wrapping_neg() & m, l)].concat(), seed);
        let relu = if (x >> (l - 1)) & 1 == 1 { 0 } else { x };
        prop_assert_eq!(from_bits(&out).wrapping_add(r) & m, relu);
    }

    #[test]
    fn garbled_circa_sign_is_the_truncated_sign_re_shared(li in 0usize..3, k in 0u32..12, x in any::<u64>(), xs in any::<u64>(), r in any::<u64>(), seed in any::<u128>()) {
        let l = [16u32, 32, 64][li];
        let m = mask(l);
        let (x, xs, r) = (x & m, xs & m, r & m);
        let xc = x.wrapping_sub(xs) & m;
        let c = library::circa_sign(l, k);
        let n = l - k;
        // Each party drops its share's k low bits.
        let out = garbled_eval(&c, &to_bits(xs >> k, n), &[to_bits(xc >> k, n), to_bits(r.wrapping_neg() & m, l)].concat(), seed);
        let top = ((xs >> k).wrapping_add(xc >> k)) & mask(n);
        let positive = u64::from((top >> (n - 1)) & 1 == 0);
        prop_assert_eq!(from_bits(&out).wrapping_add(r) & m, positive);
    }

    #[test]
    fn garbled_max_is_the_max_re_shared(li in 0usize..3, xs in prop::collection::vec((any::<u64>(), any::<u64>()), 4), r in any::<u64>(), seed in any::<u128>()) {
        let l = [16u32, 32, 64][li];
        let m = mask(l);
        let signed = |v: u64| ((v << (64 - l)) as i64) >> (64 - l);
        // The comparison is the sign of a difference: values within +-2^(l-2), as
        // fixed-point activations are.
        let quarter = 1i128 << (l - 2);
        let xs: Vec<(u64, u64)> = xs
            .iter()
            .map(|&(x, s)| ((i128::from(x).rem_euclid(2 * quarter) - quarter) as u64, s))
            .collect();
        let c = library::max(l, 4);
        let g: Vec<bool> = xs.iter().flat_map(|&(_, s)| to_bits(s & m, l)).collect();
        let mut e: Vec<bool> = xs.iter().flat_map(|&(x, s)| to_bits(x.wrapping_sub(s) & m, l)).collect();
        e.extend(to_bits(r.wrapping_neg() & m, l));
        let out = garbled_eval(&c, &g, &e, seed);
        let want = xs.iter().map(|&(x, _)| x & m).max_by_key(|&x| signed(x)).unwrap();
        prop_assert_eq!(from_bits(&out).wrapping_add(r) & m, want);
    }
}

#[test]
fn aes_passes_the_known_answer_vectors() {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let v = garble::aes_known_answers();
    assert!(v.len() >= 165);
    for kat in v {
        let aes = aes::Aes128::new(&kat.key.to_le_bytes().into());
        let mut b = kat.plaintext.to_le_bytes().into();
        aes.encrypt_block(&mut b);
        assert_eq!(
            u128::from_le_bytes(b.into()),
            kat.ciphertext,
            "{}",
            kat.suite
        );
    }
    // The hash's AES is the same cipher under the fixed key.
    let h = Hasher::default();
    let aes = aes::Aes128::new(&perf_model::circuit::garble::FIXED_KEY.into());
    let mut b = [7u8; 16].into();
    aes.encrypt_block(&mut b);
    assert_eq!(
        h.aes(u128::from_le_bytes([7; 16])),
        u128::from_le_bytes(b.into())
    );
}

#[test]
fn malformed_circuits_are_refused_before_garbling() {
    let h = Hasher::default();
    let delta = Delta::new(3);
    // A gate reading a wire driven only later: a cycle.
    let cyclic = Circuit {
        garbler_inputs: 1,
        evaluator_inputs: 1,
        wires: 4,
        gates: vec![
            Gate::And { a: 0, b: 3, out: 2 },
            Gate::Xor { a: 2, b: 1, out: 3 },
        ],
        outputs: vec![3],
    };
    let e = garble::garble(&cyclic, delta, &[0, 0], &h).unwrap_err();
    assert_eq!(e, CircuitError::Undriven { gate: 0, wire: 3 });
    assert!(e.to_string().contains("wire 3"), "{e}");
    // An output nothing drives.
    let dangling = Circuit {
        outputs: vec![3],
        gates: vec![Gate::And { a: 0, b: 1, out: 2 }],
        ..cyclic.clone()
    };
    let e = garble::garble(&dangling, delta, &[0, 0], &h).unwrap_err();
    assert!(
        matches!(e, CircuitError::DanglingOutput { wire: 3, .. }),
        "{e}"
    );
    // Labels for the wrong number of inputs.
    let ok = Circuit {
        outputs: vec![2],
        ..dangling
    };
    assert!(matches!(
        garble::garble(&ok, delta, &[0], &h),
        Err(CircuitError::InputLength { .. })
    ));
}
