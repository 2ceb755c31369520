//! The trainer's latency term: what each activation choice costs at each site, from
//! perf_model's estimate for the chosen device, accelerator configuration and network.
//!
//! A network's modelled online latency is the sum of its operators' estimates, so it
//! is the latency of everything that is not an activation site plus, per site, the
//! cost of the choice made there. During the search the gates weight those costs:
//! `sum over sites of gate . cost`, differentiable through the gates' straight-through
//! estimator. [`Objective::ReluCount`] counts ReLUs instead (the AutoReP baseline).

use crate::net::{Choice, SitePlan, SpecNet};
use crate::TrainError;
use perf_model::{CheckedSpec, CostModel, ModelSpec};
use scheduler::TwoPcGraph;
use tch::{Kind, Tensor};

/// What the search trades accuracy against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Modelled online latency in milliseconds (polympc's method).
    Latency,
    /// The number of garbled (or Circa) ReLUs, with no hardware model (AutoReP style).
    ReluCount,
}

/// Costs per site and option, and the rest of the network.
#[derive(Debug, Clone)]
pub struct LatencyModel {
    /// Per site (in layer order), the cost of each option of the site, in the
    /// objective's unit.
    costs: Vec<Vec<(Choice, f64)>>,
    /// Per site, its channels.
    channels: Vec<usize>,
    /// Per site, ReLU's and the polynomial's cost as `(fixed, per channel)`: a part
    /// of a site gated per channel pays the fixed part (its rounds) once, whatever
    /// its channels.
    affine: Vec<[(f64, f64); 2]>,
    objective: Objective,
}

impl LatencyModel {
    /// The costs of every site of `net` under `model`.
    pub fn new(net: &SpecNet, model: &CostModel, objective: Objective) -> Self {
        let affine = net
            .sites()
            .iter()
            .map(|s| {
                let per = s.elements as f64 / s.channels.max(1) as f64;
                match objective {
                    Objective::Latency => {
                        let c = model.activation_site(s.elements, None);
                        let part = |x: &perf_model::estimate::SiteCost| {
                            (1e3 * x.fixed_online_s, 1e3 * x.per_element_online_s * per)
                        };
                        [part(&c.relu), part(&c.poly)]
                    }
                    Objective::ReluCount => [(0.0, per), (0.0, 0.0)],
                }
            })
            .collect();
        let costs = net
            .sites()
            .iter()
            .map(|s| {
                let circa = s.options.iter().find_map(|o| match o {
                    Choice::Circa(k) => Some(*k),
                    _ => None,
                });
                let c = model.activation_site(s.elements, circa);
                s.options
                    .iter()
                    .map(|&o| {
                        let v = match objective {
                            Objective::Latency => {
                                1e3 * match o {
                                    Choice::Relu => c.relu.online_s,
                                    Choice::Poly => c.poly.online_s,
                                    Choice::Circa(_) => {
                                        c.circa.map_or(c.relu.online_s, |x| x.online_s)
                                    }
                                }
                            }
                            Objective::ReluCount => match o {
                                Choice::Poly => 0.0,
                                _ => s.elements as f64,
                            },
                        };
                        (o, v)
                    })
                    .collect()
            })
            .collect();
        let channels = net.sites().iter().map(|s| s.channels).collect();
        LatencyModel {
            costs,
            channels,
            affine,
            objective,
        }
    }

    /// The objective.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Cost of option `c` at site `i`.
    pub fn site_cost(&self, i: usize, c: Choice) -> f64 {
        self.costs[i]
            .iter()
            .find(|(o, _)| *o == c)
            .map_or(0.0, |(_, v)| *v)
    }

    /// Cost of plan `p` at site `i`. A site gated per channel runs a garbled ReLU on
    /// its ReLU channels and a Beaver polynomial on the others: each part costs its
    /// fixed part plus its channels' slope.
    pub fn plan_cost(&self, i: usize, p: &SitePlan) -> f64 {
        let c = self.channels[i];
        let r = p.relu_channels.len().min(c);
        match p.choice {
            Choice::Poly if r > 0 && r < c => {
                let [(rf, rs), (pf, ps)] = self.affine[i];
                rf + rs * r as f64 + pf + ps * (c - r) as f64
            }
            Choice::Poly if r > 0 => self.site_cost(i, Choice::Relu),
            choice => self.site_cost(i, choice),
        }
    }

    /// The differentiable sum over sites of gates times costs. A site with a gate
    /// per channel (`[C, 2]`: ReLU, the polynomial) costs, per choice, its fixed part
    /// times the largest of its channels' gates (paid once if any channel picks it)
    /// plus its slope per channel times the sum of the gates.
    pub fn term(&self, net: &SpecNet) -> Tensor {
        let mut total: Option<Tensor> = None;
        for (i, (s, costs)) in net.sites().iter().zip(&self.costs).enumerate() {
            let dev = s.w1.device();
            let v: Vec<f32> = costs.iter().map(|(_, c)| *c as f32).collect();
            let c = Tensor::from_slice(&v).to_device(dev);
            let g = s.gates();
            let t = match g.dim() {
                2 => {
                    let [(rf, rs), (pf, ps)] = self.affine[i];
                    let fixed = Tensor::from_slice(&[rf as f32, pf as f32]).to_device(dev);
                    let slope = Tensor::from_slice(&[rs as f32, ps as f32]).to_device(dev);
                    (g.amax([0], false) * fixed + g.sum_dim_intlist(0, false, Kind::Float) * slope)
                        .sum(Kind::Float)
                }
                _ => (g * c).sum(Kind::Float),
            };
            total = Some(match total {
                Some(a) => a + t,
                None => t,
            });
        }
        total.unwrap_or_else(|| Tensor::from(0.0f32))
    }

    /// Sites gated per channel whose polynomial channels save less than the
    /// polynomial's fixed cost (its rounds) are slower than all-ReLU: makes them all
    /// ReLU. Whether any plan changed.
    pub fn no_slower_than_relu(&self, plan: &mut [SitePlan]) -> bool {
        let relu = SitePlan::from(Choice::Relu);
        let mut changed = false;
        for (i, p) in plan.iter_mut().enumerate() {
            if !p.relu_channels.is_empty() && self.plan_cost(i, p) > self.plan_cost(i, &relu) {
                *p = relu.clone();
                changed = true;
            }
        }
        changed
    }

    /// The sites' cost for a plan, in the objective's unit.
    pub fn sites_cost(&self, plan: &[SitePlan]) -> f64 {
        plan.iter()
            .enumerate()
            .map(|(i, p)| self.plan_cost(i, p))
            .sum()
    }
}

/// The modelled online latency in milliseconds of the network `spec` describes (with
/// its activation choices), from the full estimate under `model`.
pub fn network_ms(model: &CostModel, spec: &ModelSpec) -> Result<f64, TrainError> {
    let checked = CheckedSpec::new(spec.clone(), std::path::Path::new(&spec.name))?;
    let g = TwoPcGraph::build(&checked);
    let est = model.network_estimate(g.name(), spec.fixed_point, &g.workloads())?;
    Ok(est.online.total_s * 1e3)
}

/// A spec with the activation at every site replaced by `plan`'s choice (polynomials
/// with their default, identity coefficients).
pub fn with_plan(spec: &ModelSpec, sites: &[usize], plan: &[Choice]) -> ModelSpec {
    let mut out = spec.clone();
    for (&layer, &c) in sites.iter().zip(plan) {
        out.layers[layer].op = match c {
            Choice::Relu => perf_model::LayerOp::Relu,
            Choice::Poly => perf_model::LayerOp::Poly(Default::default()),
            Choice::Circa(k) => {
                perf_model::LayerOp::Circa(perf_model::spec::Circa { truncated_bits: k })
            }
        };
    }
    out
}

/// What each choice costs at every activation site of `spec`, as a table: online
/// milliseconds per inference under `model` (Circa ReLU with `circa_k` bits when given).
pub fn site_table(spec: &CheckedSpec, model: &CostModel, circa_k: Option<u32>) -> String {
    let mut s = format!(
        "{:<12} {:>9} {:>11} {:>11}{}\n",
        "site",
        "elements",
        "ReLU ms",
        "poly ms",
        if circa_k.is_some() {
            "    Circa ms"
        } else {
            ""
        }
    );
    for (i, (layer, info)) in spec.spec().layers.iter().zip(spec.layers()).enumerate() {
        if !layer.op.is_activation() {
            continue;
        }
        let n = info.out_shape.numel() as u64;
        let c = model.activation_site(n, circa_k);
        s.push_str(&format!(
            "{:<12} {:>9} {:>11.3} {:>11.3}",
            spec.spec().layer_name(i),
            n,
            c.relu.online_s * 1e3,
            c.poly.online_s * 1e3
        ));
        if let Some(x) = c.circa {
            s.push_str(&format!(" {:>11.3}", x.online_s * 1e3));
        }
        s.push('\n');
    }
    s
}
