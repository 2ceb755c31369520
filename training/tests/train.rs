//! The trainer: gradients reach gates and coefficients, lambda trades latency, budgets
//! hold, resuming gives the same weights as an uninterrupted run, and the ring
//! evaluation is what the protocol computes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use perf_model::{AcceleratorConfig, CheckedSpec, CostModel, Device, NetworkProfile};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};
use training::data::{Dataset, DatasetKind, FASHION_MNIST_DIR};
use training::latency::{LatencyModel, Objective};
use training::net::{Choice, SearchSpace};
use training::train::{run, Job, Method, TrainConfig};
use training::SpecNet;

/// libtorch's random generator is one per process: a test that seeds it and draws
/// from it (training, the ring evaluation's random shares) gets other draws than its
/// seed says when another test draws at the same time. The tests here take turns.
static TORCH_RNG: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TORCH_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn example(name: &str) -> CheckedSpec {
    let path = format!("{}/../examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    CheckedSpec::load(Path::new(&path)).unwrap()
}

fn data() -> Dataset {
    Dataset::load(DatasetKind::FashionMnist, Path::new(FASHION_MNIST_DIR)).unwrap()
}

fn cost(spec: &CheckedSpec) -> CostModel {
    let d = Device::find("zcu102").unwrap();
    let c = AcceleratorConfig::for_device(&d, spec.spec().fixed_point);
    CostModel::new(d, c, NetworkProfile::find("lan").unwrap()).unwrap()
}

fn out(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("polympc-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn small(method: Method) -> TrainConfig {
    TrainConfig {
        method,
        search_epochs: 1,
        finetune_epochs: 1,
        train_limit: Some(2000),
        test_limit: Some(500),
        ..TrainConfig::default()
    }
}

fn job<'a>(spec: &'a CheckedSpec, data: &'a Dataset, config: TrainConfig, dir: &Path) -> Job<'a> {
    Job {
        spec,
        data,
        cost: cost(spec),
        config,
        out: dir.to_path_buf(),
        resume: false,
        device: tch::Device::Cpu,
        progress: false,
        stop_after: None,
    }
}

#[test]
fn gates_and_coefficients_receive_gradients() {
    let _turn = turn();
    let spec = example("lenet5");
    let vs = nn::VarStore::new(tch::Device::Cpu);
    // The spec's ReLU starts below the polynomial, so the polynomials are in use.
    let space = SearchSpace {
        circa_k: Some(8),
        init_logit: -1.0,
        ..SearchSpace::default()
    };
    let net = SpecNet::search(&vs.root(), &spec, &space);
    assert!(net.choices().iter().all(|&c| c == Choice::Poly));
    let model = LatencyModel::new(&net, &cost(&spec), Objective::Latency);
    let x = Tensor::randn([16, 1, 28, 28], (Kind::Float, tch::Device::Cpu));
    let y = Tensor::randint(10, [16], (Kind::Int64, tch::Device::Cpu));
    let loss = net.forward_t(&x, true).cross_entropy_for_logits(&y) + model.term(&net) * 0.01;
    loss.backward();
    for (name, v) in vs.variables() {
        if name.ends_with(".logits") || name.ends_with(".w2") || name.ends_with(".w1") {
            let g = v.grad();
            assert!(g.defined(), "{name}: no gradient");
            let per: Vec<f64> = Vec::try_from(g.abs().to_kind(Kind::Double)).unwrap();
            assert!(
                per.iter().all(|&a| a > 0.0),
                "{name}: zero gradient {per:?}"
            );
        }
    }
}

/// Gates per channel: every channel's gate gets a gradient from the loss and the
/// latency term; fixed, the picks become the trained spec's `relu_channels`, which the
/// 2PC graph runs as that many channels of garbled ReLU, and the plan's modelled cost
/// lies between the all-ReLU and the all-polynomial site's.
#[test]
fn gates_per_channel_receive_gradients_and_fix_into_relu_channels() {
    let _turn = turn();
    let spec = example("lenet5");
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let space = SearchSpace {
        per_channel: true,
        ..SearchSpace::default()
    };
    let mut net = SpecNet::search(&vs.root(), &spec, &space);
    assert!(net.sites().iter().all(|s| s.per_channel()));
    let model = LatencyModel::new(&net, &cost(&spec), Objective::Latency);
    // The network's latency beside its sites', with every channel on ReLU (the spec).
    let ms = |n: &SpecNet| {
        training::latency::network_ms(&cost(&spec), &n.trained_spec(spec.spec())).unwrap()
    };
    let other = ms(&net) - model.sites_cost(&net.plans());
    let x = Tensor::randn([16, 1, 28, 28], (Kind::Float, tch::Device::Cpu));
    let y = Tensor::randint(10, [16], (Kind::Int64, tch::Device::Cpu));
    let loss = net.forward_t(&x, true).cross_entropy_for_logits(&y) + model.term(&net) * 0.01;
    loss.backward();
    let mut gated = 0;
    for (name, v) in vs.variables() {
        if name.ends_with(".logits") {
            let site = net
                .sites()
                .iter()
                .find(|s| name.starts_with(&format!("{}.", spec.spec().layer_name(s.layer))))
                .unwrap();
            assert_eq!(v.size(), [site.channels as i64, 2], "{name}");
            let g: Vec<f64> = Vec::try_from(
                v.grad()
                    .abs()
                    .sum_dim_intlist(1, false, Kind::Double)
                    .flatten(0, -1),
            )
            .unwrap();
            assert!(g.iter().all(|&a| a > 0.0), "{name}: {g:?}");
            gated += 1;
        }
    }
    assert_eq!(gated, net.sites().len());
    // The first site (6 channels): channels 1 and 4 on ReLU, the others polynomial.
    let first = &net.sites()[0];
    let name = format!("{}.logits", spec.spec().layer_name(first.layer));
    let (layer, channels, elements) = (first.layer, first.channels, first.elements);
    tch::no_grad(|| {
        let mut l = vs.variables()[&name].shallow_clone();
        let picks: Vec<f32> = (0..channels)
            .flat_map(|c| {
                if c == 1 || c == 4 {
                    [1.0, 0.0]
                } else {
                    [0.0, 1.0]
                }
            })
            .collect();
        l.copy_(&Tensor::from_slice(&picks).view([channels as i64, 2]));
    });
    net.fix_plans(None);
    let plan = net.plans()[0].clone();
    assert_eq!(
        (plan.choice, plan.name()),
        (Choice::Poly, "poly/relu=1,4".into())
    );
    assert_eq!(
        training::net::SitePlan::parse(&plan.name()),
        Some(plan.clone())
    );
    assert_eq!(plan.relu_elements(elements, channels), elements / 6 * 2);
    let (relu, poly) = (
        model.site_cost(0, Choice::Relu),
        model.site_cost(0, Choice::Poly),
    );
    let mixed = model.plan_cost(0, &plan);
    assert!(poly < mixed && mixed < relu, "{poly} < {mixed} < {relu}");
    // The plan's cost is the full estimate's, to within the rounding to lanes.
    let (predicted, estimated) = (other + model.sites_cost(&net.plans()), ms(&net));
    assert!(
        (predicted - estimated).abs() < 1e-3 * estimated,
        "{predicted} ms predicted, {estimated} ms estimated"
    );
    // Kept when fixed: it is faster than all-ReLU. One polynomial channel of the
    // dense site's 120 saves less than the polynomial's rounds cost: all ReLU instead.
    let mut plans = net.plans();
    assert!(!model.no_slower_than_relu(&mut plans));
    let dense = net.sites().len() - 2;
    let one_poly = training::net::SitePlan {
        choice: Choice::Poly,
        relu_channels: (1..net.sites()[dense].channels).collect(),
    };
    assert!(model.plan_cost(dense, &one_poly) > model.site_cost(dense, Choice::Relu));
    plans[dense] = one_poly;
    assert!(model.no_slower_than_relu(&mut plans));
    assert_eq!(plans[dense], Choice::Relu.into());
    assert_eq!(plans[0], plan);
    let trained = net.trained_spec(spec.spec());
    let perf_model::LayerOp::Poly(p) = &trained.layers[layer].op else {
        panic!("{:?}", trained.layers[layer].op)
    };
    assert_eq!(p.relu_channels, [1, 4]);
    let checked = CheckedSpec::new(trained, Path::new("t.yaml")).unwrap();
    let g = scheduler::TwoPcGraph::build(&checked);
    let relu_in_site: u64 = g
        .nodes()
        .filter(|(_, n)| n.layers == [layer] && n.op == scheduler::Operator::GcRelu)
        .map(|(_, n)| n.elements)
        .sum();
    assert_eq!(relu_in_site, elements / 6 * 2);
}

#[test]
fn per_channel_gates_refuse_circa() {
    let _turn = turn();
    let spec = example("mlp");
    let ds = data();
    let cfg = TrainConfig {
        per_channel_gates: true,
        circa_k: Some(8),
        ..small(Method::HardwareAware)
    };
    let e = run(&job(&spec, &ds, cfg, &out("pc-circa")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("gates") && e.contains("Circa"), "{e}");
}

#[test]
fn latency_falls_as_lambda_rises() {
    let _turn = turn();
    let spec = example("lenet5");
    let ds = data();
    let mut last = f64::INFINITY;
    let mut seen = Vec::new();
    for lambda in [0.0, 0.05, 1.0] {
        let dir = out(&format!("lambda{lambda}"));
        let cfg = TrainConfig {
            lambda,
            ..small(Method::HardwareAware)
        };
        let r = run(&job(&spec, &ds, cfg, &dir)).unwrap();
        seen.push((lambda, r.latency_ms, r.choices.clone()));
        assert!(r.latency_ms <= last + 1e-9, "{seen:?}");
        last = r.latency_ms;
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        seen[2].1 < seen[0].1,
        "the largest lambda gives a faster network: {seen:?}"
    );
}

#[test]
fn budget_is_met_and_an_impossible_one_refused() {
    let _turn = turn();
    let spec = example("lenet5");
    let ds = data();
    let lat = |plan: Choice| {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = SpecNet::search(&vs.root(), &spec, &SearchSpace::default());
        let n = net.sites().len();
        let sites: Vec<usize> = net.sites().iter().map(|s| s.layer).collect();
        training::latency::network_ms(
            &cost(&spec),
            &training::latency::with_plan(spec.spec(), &sites, &vec![plan; n]),
        )
        .unwrap()
    };
    let (relu, poly) = (lat(Choice::Relu), lat(Choice::Poly));
    let budget = poly + 0.3 * (relu - poly);
    let dir = out("budget");
    let cfg = TrainConfig {
        budget: Some(budget),
        ..small(Method::HardwareAware)
    };
    let r = run(&job(&spec, &ds, cfg, &dir)).unwrap();
    assert!(r.latency_ms <= budget, "{} > {budget}", r.latency_ms);
    let cfg = TrainConfig {
        budget: Some(poly * 0.5),
        ..small(Method::HardwareAware)
    };
    let e = run(&job(&spec, &ds, cfg, &out("budget2")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("budget") && e.contains("all-polynomial"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_gives_the_weights_of_an_uninterrupted_run() {
    let _turn = turn();
    let spec = example("lenet5");
    let ds = data();
    let cfg = TrainConfig {
        finetune_epochs: 2,
        ..small(Method::HardwareAware)
    };
    let a = out("whole");
    let whole = run(&job(&spec, &ds, cfg.clone(), &a)).unwrap();
    let b = out("parts");
    for stop in [1, 1] {
        let j = Job {
            stop_after: Some(stop),
            resume: true,
            ..job(&spec, &ds, cfg.clone(), &b)
        };
        let e = run(&j).unwrap_err().to_string();
        assert!(e.contains("--resume"), "{e}");
    }
    let parts = run(&Job {
        resume: true,
        ..job(&spec, &ds, cfg.clone(), &b)
    })
    .unwrap();
    assert_eq!(parts.history.len(), 3);
    assert_eq!(whole.choices, parts.choices);
    let wa = std::fs::read(&whole.weights).unwrap();
    let wb = std::fs::read(&parts.weights).unwrap();
    assert!(wa == wb, "weights differ after resuming");
    assert_eq!(whole.fixed_accuracy, parts.fixed_accuracy);
    // A checkpoint of another configuration is refused, not silently mixed in.
    let other = TrainConfig { lambda: 0.5, ..cfg };
    let e = run(&Job {
        resume: true,
        ..job(&spec, &ds, other, &b)
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("state.json") && e.contains("different"), "{e}");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn trained_spec_and_weights_reload_to_the_same_network() {
    let _turn = turn();
    let spec = example("mlp");
    let ds = data();
    let dir = out("reload");
    let r = run(&job(&spec, &ds, small(Method::AllPoly), &dir)).unwrap();
    let (vs, net) = training::train::load_trained(&r.spec, tch::Device::Cpu).unwrap();
    let trained = CheckedSpec::load(&r.spec).unwrap();
    assert!(trained.spec().normalize.is_some());
    assert!(vs.variables().keys().all(|k| !k.ends_with("logits")));
    let norm = ds.normalization();
    let test = norm.apply(&ds.test.images.narrow(0, 0, 500));
    let labels = ds.test.labels.narrow(0, 0, 500);
    let acc = tch::no_grad(|| {
        net.forward_t(&test, false)
            .argmax(-1, false)
            .eq_tensor(&labels)
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[])
    }) * 100.0;
    assert!(
        (acc - r.float_accuracy).abs() < 1e-9,
        "{acc} vs {}",
        r.float_accuracy
    );
    // And the log, plot and report are there.
    for f in ["log.jsonl", "curves.svg", "report.json"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn distribution_aware_fit_of_relu_under_a_gaussian() {
    let _turn = turn();
    // Least squares of ReLU on N(0, 1): w2 = b = 1 / (2 sqrt(2 pi)), w1 = 1/2.
    tch::manual_seed(5);
    let x = Tensor::randn([2, 400_000], (Kind::Double, tch::Device::Cpu));
    let x = Tensor::cat(
        &[x.get(0).unsqueeze(0), (x.get(1) * 2.0 + 1.0).unsqueeze(0)],
        0,
    );
    let fits = training::train::fit_relu(&x);
    let c = 1.0 / (2.0 * (2.0 * std::f64::consts::PI).sqrt());
    let [w2, w1, b] = fits[0];
    assert!(
        (w2 - c).abs() < 0.01 && (w1 - 0.5).abs() < 0.01 && (b - c).abs() < 0.01,
        "{:?}",
        fits[0]
    );
    // N(1, 4): the same as libtorch's least squares on the design matrix.
    let x1 = x.get(1);
    let design = Tensor::stack(&[x1.square(), x1.shallow_clone(), x1.ones_like()], 1);
    let (sol, _, _, _) = design.linalg_lstsq(&x1.relu().unsqueeze(1), None::<f64>, "gelsd");
    let want: Vec<f64> = Vec::try_from(sol.flatten(0, -1)).unwrap();
    for (got, want) in fits[1].iter().zip(&want) {
        assert!((got - want).abs() < 1e-6, "{:?} vs {want:?}", fits[1]);
    }
}

#[test]
fn distillation_from_a_relu_teacher_adds_its_term() {
    let _turn = turn();
    let spec = example("mlp");
    let ds = data();
    let tdir = out("teacher");
    let teacher = run(&job(&spec, &ds, small(Method::AllRelu), &tdir)).unwrap();
    let sdir = out("student");
    let cfg = TrainConfig {
        distill: Some(training::train::Distill {
            teacher: teacher.spec.clone(),
            weight: 0.5,
            temperature: 4.0,
        }),
        ..small(Method::HardwareAware)
    };
    let r = run(&job(&spec, &ds, cfg, &sdir)).unwrap();
    for h in &r.history {
        // loss = cross-entropy + distillation + penalty, the distillation positive.
        assert!(h.loss > h.cross_entropy + h.penalty + 1e-4, "{h:?}");
    }
    // A teacher without weights is refused by name.
    let bare = tdir.join("bare.yaml");
    std::fs::write(&bare, spec.spec().to_yaml()).unwrap();
    let cfg = TrainConfig {
        distill: Some(training::train::Distill {
            teacher: bare.clone(),
            weight: 0.5,
            temperature: 4.0,
        }),
        ..small(Method::HardwareAware)
    };
    let e = run(&job(&spec, &ds, cfg, &out("student2")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bare.yaml") && e.contains("weights"), "{e}");
    let _ = std::fs::remove_dir_all(&tdir);
    let _ = std::fs::remove_dir_all(&sdir);
}

/// A sweep with gates per channel gives them to the searching methods only; the
/// baselines' runs are the same as in a sweep with gates per site.
#[test]
fn a_sweep_gives_gates_per_channel_to_the_searching_methods_only() {
    let base = TrainConfig {
        per_channel_gates: true,
        ..TrainConfig::default()
    };
    let runs = training::sweep::plan(&base, &[0.01], 4);
    let site = training::sweep::plan(&TrainConfig::default(), &[0.01], 4);
    assert_eq!(runs.len(), site.len());
    for ((name, family, c), (_, _, s)) in runs.iter().zip(&site) {
        let searches = matches!(c.method, Method::HardwareAware | Method::AutoRep);
        assert_eq!(c.per_channel_gates, searches, "{name} ({family})");
        if !searches {
            assert_eq!(c, s, "{name}: the same run as with gates per site");
        }
    }
}
