//! Adam, with its state in plain tensors so a checkpoint holds all of it and a resumed
//! run continues exactly where the interrupted one was. The update is PyTorch's
//! single-tensor Adam (L2 weight decay added to the gradient, bias-corrected moments),
//! with a step count per variable: a variable that got no gradient is left alone.

use tch::Tensor;

/// One variable's state.
#[derive(Debug)]
pub struct Slot {
    /// Variable name in the store.
    pub name: String,
    /// First moment.
    pub m: Tensor,
    /// Second moment.
    pub v: Tensor,
    /// Updates applied so far.
    pub steps: i64,
    /// Learning rate of this variable.
    pub lr: f64,
    /// L2 weight decay of this variable.
    pub weight_decay: f64,
}

/// Adam over named variables.
#[derive(Debug)]
pub struct Adam {
    vars: Vec<(Tensor, Slot)>,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl Adam {
    /// Adam over `vars` (name, variable, learning rate, weight decay).
    pub fn new(vars: Vec<(String, Tensor, f64, f64)>) -> Adam {
        let vars = vars
            .into_iter()
            .map(|(name, t, lr, weight_decay)| {
                let slot = Slot {
                    name,
                    m: t.zeros_like(),
                    v: t.zeros_like(),
                    steps: 0,
                    lr,
                    weight_decay,
                };
                (t, slot)
            })
            .collect();
        Adam {
            vars,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// Clears every gradient.
    pub fn zero_grad(&mut self) {
        for (t, _) in &mut self.vars {
            t.zero_grad();
        }
    }

    /// One update of every variable that has a gradient.
    pub fn step(&mut self) {
        let _guard = tch::no_grad_guard();
        for (t, s) in &mut self.vars {
            let g = t.grad();
            if !g.defined() {
                continue;
            }
            let g = if s.weight_decay != 0.0 {
                g + &*t * s.weight_decay
            } else {
                g
            };
            s.steps += 1;
            let _ = s.m.lerp_(&g, 1.0 - self.beta1);
            let _ = s.v.g_mul_scalar_(self.beta2);
            let _ = s.v.addcmul_(&g, &g.g_mul_scalar(1.0 - self.beta2));
            let bc1 = 1.0 - self.beta1.powi(s.steps as i32);
            let bc2 = 1.0 - self.beta2.powi(s.steps as i32);
            let denom = (s.v.sqrt() / bc2.sqrt()) + self.eps;
            let update = (&s.m / denom) * (-s.lr / bc1);
            let _ = t.g_add_(&update);
        }
    }

    /// The state of every variable.
    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.vars.iter().map(|(_, s)| s)
    }

    /// The state, to restore it.
    pub fn slots_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.vars.iter_mut().map(|(_, s)| s)
    }
}
