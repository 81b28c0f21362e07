//! Property tests: (a) writer -> reader round trip over arbitrary valid specs; (b) arbitrary
//! bytes and mutations of valid files never make the reader panic.

#![allow(missing_docs)]
// Helpers outside #[test] functions unwrap too: a panic is a test failure here.
#![allow(clippy::unwrap_used)]

use icebreak_format::testing::strategy::{
    self, labels, names, provenance, weight, weight64, weights, Head, HeadParts,
};
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Regressions of 1 to 4 targets, classifiers of 2 to 5 classes.
fn head() -> impl Strategy<Value = Head> {
    strategy::head(1u32..5, 2u32..6)
}

/// An arbitrary valid spec: a linear pipeline, or one of the other families.
fn spec() -> impl Strategy<Value = ModelSpec> {
    prop_oneof![linear_spec(), family_spec()]
}

/// Draws values from a pool, cycling (keeps the strategies shallow: a deep tree of
/// `prop_flat_map`s overflows the test thread's stack).
struct Pool<T> {
    values: Vec<T>,
    next: usize,
}

impl<T: Copy> Pool<T> {
    fn take(&mut self, n: usize) -> Vec<T> {
        (0..n)
            .map(|_| {
                let v = self.values[self.next % self.values.len()];
                self.next += 1;
                v
            })
            .collect()
    }
}

/// The shape of a family spec, drawn from plain numbers.
#[derive(Debug, Clone)]
struct Shape {
    n_features: u32,
    nan: bool,
    pre: Vec<(u8, u8)>,
    head: u8,
    k: u32,
    per_class: usize,
    probs: bool,
    kernel: Kernel,
    act: u8,
    hidden: u32,
    n_out: u32,
}

fn kernel() -> impl Strategy<Value = Kernel> {
    let p = -1e3f64..1e3;
    prop_oneof![
        Just(Kernel::Linear),
        (p.clone(), p.clone(), 0u32..5).prop_map(|(gamma, coef0, degree)| Kernel::Poly {
            gamma,
            coef0,
            degree
        }),
        p.clone().prop_map(|gamma| Kernel::Rbf { gamma }),
        (p.clone(), p).prop_map(|(gamma, coef0)| Kernel::Sigmoid { gamma, coef0 }),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        (1u32..6, any::<bool>(), vec((0u8..8, 0u8..6), 0..3), 0u8..7),
        (1u32..5, 1usize..4, any::<bool>(), kernel()),
        (0u8..4, 1u32..4, 1u32..4),
    )
        .prop_map(
            |(
                (n_features, nan, pre, head),
                (k, per_class, probs, kernel),
                (act, hidden, n_out),
            )| {
                Shape {
                    n_features,
                    nan,
                    pre,
                    head,
                    k,
                    per_class,
                    probs,
                    kernel,
                    act,
                    hidden,
                    n_out,
                }
            },
        )
}

/// Builds the stages of a family spec: preprocessors, then a transformer (no estimator), an
/// MLP, an SVM, k-means, naive Bayes, an f64 linear model or an f64 MLP. Returns the stages, the task and `n_outputs`.
fn build_family(
    sh: &Shape,
    f: &mut Pool<f32>,
    d: &mut Pool<f64>,
    pos: &mut Pool<f32>,
    pos64: &mut Pool<f64>,
) -> (Vec<StageSpec>, Task, u32) {
    let mut stages = Vec::new();
    let mut width = sh.n_features;
    for &(kind, arg) in &sh.pre {
        let w = width as usize;
        stages.push(match kind {
            0 => StageSpec::StandardScaler {
                mean: f.take(w),
                scale: f.take(w),
            },
            1 => StageSpec::MinMaxScaler {
                scale: f.take(w),
                min: f.take(w),
            },
            2 => StageSpec::Normalizer {
                width,
                norm: [Norm::L1, Norm::L2, Norm::Max][usize::from(arg % 3)],
            },
            7 => pca(
                &mut width,
                arg,
                d,
                pos64,
                |n_in, n_out, mean, components, whiten| StageSpec::PcaF64 {
                    n_in,
                    n_out,
                    mean,
                    components,
                    whiten,
                },
            ),
            6 => StageSpec::MinMaxScalerF64 {
                scale: d.take(w),
                min: d.take(w),
            },
            5 => StageSpec::StandardScalerF64 {
                mean: d.take(w),
                scale: d.take(w),
            },
            3 if arg % 4 >= 2 => StageSpec::ImputerF64 {
                missing: if arg % 2 == 0 { f64::NAN } else { d.take(1)[0] },
                fill: d.take(w),
            },
            3 => StageSpec::Imputer {
                missing: if arg % 2 == 0 { f32::NAN } else { f.take(1)[0] },
                fill: f
                    .take(w)
                    .into_iter()
                    .map(|v| v.clamp(-1e30, 1e30))
                    .collect(),
            },
            _ => pca(
                &mut width,
                arg,
                f,
                pos,
                |n_in, n_out, mean, components, whiten| StageSpec::Pca {
                    n_in,
                    n_out,
                    mean,
                    components,
                    whiten,
                },
            ),
        });
    }
    let w = width as usize;
    let k = sh.k;
    match sh.head {
        0 => {
            // A file has at least one stage: a transformer with no preprocessor gets one.
            if stages.is_empty() {
                stages.push(StageSpec::MinMaxScaler {
                    scale: f.take(w),
                    min: f.take(w),
                });
            }
            (stages, Task::Transform, width)
        }
        1 => {
            stages.extend(mlp(
                sh,
                width,
                f,
                |n_in, n_out, activation, weights, bias| StageSpec::Dense {
                    n_in,
                    n_out,
                    activation,
                    weights,
                    bias,
                },
            ));
            scores(stages, sh.probs, sh.n_out)
        }
        2 => {
            let n_sv = if k >= 2 { k as usize } else { 1 } * sh.per_class;
            stages.push(if sh.per_class % 2 == 1 {
                // svm_f64: f64 support vectors, break_ties on some of the multi-class ones.
                let sv = d.take(n_sv * w);
                StageSpec::SvmF64(svm(sh, width, sv, d, k >= 3 && sh.act % 2 == 0))
            } else {
                StageSpec::Svm(svm(sh, width, f.take(n_sv * w), d, false))
            });
            let task = if k >= 2 {
                Task::Classification
            } else {
                Task::Regression
            };
            (stages, task, k)
        }
        3 => {
            let k = k.max(2);
            stages.push(if sh.per_class % 2 == 0 {
                StageSpec::KMeansF64 {
                    n_in: width,
                    k,
                    centers: d.take(k as usize * w),
                }
            } else {
                StageSpec::KMeans {
                    n_in: width,
                    k,
                    centers: f.take(k as usize * w),
                }
            });
            (stages, Task::Classification, k)
        }
        6 => {
            stages.extend(mlp(
                sh,
                width,
                d,
                |n_in, n_out, activation, weights, bias| StageSpec::DenseF64 {
                    n_in,
                    n_out,
                    activation,
                    weights,
                    bias,
                },
            ));
            (stages, Task::Regression, sh.n_out)
        }
        5 => {
            let o = sh.n_out;
            stages.push(StageSpec::LinearF64 {
                n_in: width,
                n_out: o,
                coef: d.take(w * o as usize),
                intercept: d.take(o as usize),
            });
            scores(stages, sh.probs, o)
        }
        _ => {
            let k = k.max(2);
            let c = k as usize * w;
            stages.push(StageSpec::GaussianNb {
                n_in: width,
                n_classes: k,
                theta: d.take(c),
                var: pos64.take(c),
                log_prior: d.take(k as usize),
                log_norm: d.take(k as usize),
            });
            if sh.probs {
                stages.push(StageSpec::Post(PostTransform::Softmax));
            }
            (stages, Task::Classification, k)
        }
    }
}

/// A PCA of `width` inputs (then `width` becomes its output width) from `data`, whitening
/// by values from `pos` on even `arg`s; `make` picks the stage kind (f32 or f64).
fn pca<T: Copy>(
    width: &mut u32,
    arg: u8,
    data: &mut Pool<T>,
    pos: &mut Pool<T>,
    make: impl FnOnce(u32, u32, Vec<T>, Vec<T>, Option<Vec<T>>) -> StageSpec,
) -> StageSpec {
    let (n_in, w) = (*width, *width as usize);
    let n_out = 1 + u32::from(arg) % n_in;
    let whiten = (arg % 2 == 0).then(|| pos.take(n_out as usize));
    *width = n_out;
    make(
        n_in,
        n_out,
        data.take(w),
        data.take(w * n_out as usize),
        whiten,
    )
}

/// An MLP's two layers, `width → hidden → n_out`, the first with the shape's activation, the
/// second the identity; `make` picks the stage kind (f32 or f64).
fn mlp<T: Copy>(
    sh: &Shape,
    width: u32,
    pool: &mut Pool<T>,
    make: impl Fn(u32, u32, Activation, Vec<T>, Vec<T>) -> StageSpec,
) -> [StageSpec; 2] {
    let (h, o) = (sh.hidden, sh.n_out);
    let activation = [
        Activation::Identity,
        Activation::Relu,
        Activation::Tanh,
        Activation::Logistic,
    ][usize::from(sh.act)];
    let first = make(
        width,
        h,
        activation,
        pool.take(width as usize * h as usize),
        pool.take(h as usize),
    );
    let second = make(
        h,
        o,
        Activation::Identity,
        pool.take((h * o) as usize),
        pool.take(o as usize),
    );
    [first, second]
}

/// An SVM of `sh.k` classes (a regressor for 1) over `width` inputs with these support
/// vectors (f32 or f64), its f64 fields from `d`.
fn svm<V>(
    sh: &Shape,
    width: u32,
    support_vectors: Vec<V>,
    d: &mut Pool<f64>,
    break_ties: bool,
) -> SvmSpec<V> {
    let k = sh.k;
    let classifier = k >= 2;
    let n_sv = if classifier { k as usize } else { 1 } * sh.per_class;
    let pairs = if classifier {
        (k * (k - 1) / 2) as usize
    } else {
        1
    };
    let rows = if classifier { k as usize - 1 } else { 1 };
    let probs = sh.probs && classifier;
    SvmSpec {
        n_in: width,
        n_classes: k,
        kernel: sh.kernel,
        n_support: if classifier {
            vec![sh.per_class as u32; k as usize]
        } else {
            Vec::new()
        },
        support_vectors,
        coef: d.take(rows * n_sv),
        intercept: d.take(pairs),
        prob_a: if probs { d.take(pairs) } else { Vec::new() },
        break_ties,
        prob_b: if probs { d.take(pairs) } else { Vec::new() },
    }
}

/// An estimator of `n` scores: a regression, or with `probs` a classification through a
/// binary logistic (one score) or a softmax.
fn scores(mut stages: Vec<StageSpec>, probs: bool, n: u32) -> (Vec<StageSpec>, Task, u32) {
    match (probs, n) {
        (true, 1) => {
            stages.push(StageSpec::Post(PostTransform::BinaryLogistic));
            (stages, Task::Classification, 2)
        }
        (true, n) => {
            stages.push(StageSpec::Post(PostTransform::Softmax));
            (stages, Task::Classification, n)
        }
        (false, n) => (stages, Task::Regression, n),
    }
}

/// A spec of one of the families beyond the linear models.
fn family_spec() -> impl Strategy<Value = ModelSpec> {
    (
        shape(),
        vec(weight(), 64),
        vec(weight64(), 32),
        vec(1e-30f32..1e30, 8),
        vec(1e-300f64..1e300, 8),
    )
        .prop_map(|(sh, f, d, pos, pos64)| {
            let mut f = Pool { values: f, next: 0 };
            let mut d = Pool { values: d, next: 0 };
            let mut pos = Pool {
                values: pos,
                next: 0,
            };
            let mut pos64 = Pool {
                values: pos64,
                next: 0,
            };
            let (stages, task, n_outputs) = build_family(&sh, &mut f, &mut d, &mut pos, &mut pos64);
            (sh.n_features, sh.nan, stages, task, n_outputs)
        })
        .prop_flat_map(|(n_features, nan, stages, task, n_outputs)| {
            around(n_features, nan, task, n_outputs)
                .prop_map(move |builder| builder.stages(stages.clone()).build())
        })
}

/// What surrounds a spec's stages, drawn: feature and output names, labels for a
/// classification, the provenance. A builder waiting for its stages.
fn around(
    n_features: u32,
    nan: bool,
    task: Task,
    n_outputs: u32,
) -> impl Strategy<Value = ModelSpecBuilder> {
    let no = n_outputs as usize;
    let labels = match task {
        Task::Classification => labels(no).boxed(),
        _ => Just(LabelsSpec::None).boxed(),
    };
    (names(n_features as usize), names(no), labels, provenance()).prop_map(
        move |(feature_names, output_names, labels, provenance)| {
            ModelSpecBuilder::new(n_features)
                .missing(if nan {
                    MissingValues::Nan
                } else {
                    MissingValues::Reject
                })
                .feature_names(feature_names)
                .task(task, n_outputs)
                .labels(labels)
                .output_names(output_names)
                .provenance(provenance)
        },
    )
}

/// Tensor sections a stage writes.
fn tensors_of(s: &StageSpec) -> usize {
    match s {
        StageSpec::Post(_) | StageSpec::Normalizer { .. } => 0,
        StageSpec::Imputer { .. }
        | StageSpec::ImputerF64 { .. }
        | StageSpec::KMeans { .. }
        | StageSpec::KMeansF64 { .. } => 1,
        StageSpec::StandardScaler { .. }
        | StageSpec::StandardScalerF64 { .. }
        | StageSpec::MinMaxScalerF64 { .. }
        | StageSpec::MinMaxScaler { .. }
        | StageSpec::Linear { .. }
        | StageSpec::LinearF64 { .. }
        | StageSpec::Dense { .. }
        | StageSpec::DenseF64 { .. } => 2,
        StageSpec::Pca { whiten, .. } => 2 + usize::from(whiten.is_some()),
        StageSpec::PcaF64 { whiten, .. } => 2 + usize::from(whiten.is_some()),
        StageSpec::GaussianNb { .. } => 4,
        StageSpec::Svm(m) => {
            3 + usize::from(!m.n_support.is_empty()) + 2 * usize::from(!m.prob_a.is_empty())
        }
        StageSpec::Oblivious(o) => {
            3 + usize::from(!o.splits.is_empty())
                + usize::from(o.trees.iter().any(|t| !t.is_empty()))
        }
        StageSpec::SvmF64(m) => {
            3 + usize::from(!m.n_support.is_empty()) + 2 * usize::from(!m.prob_a.is_empty())
        }
        StageSpec::Trees(t) => {
            3 + usize::from(!t.nodes.is_empty())
                + usize::from(!t.targets.is_empty())
                + usize::from(!t.categories.is_empty())
        }
    }
}

/// An arbitrary valid linear spec.
fn linear_spec() -> impl Strategy<Value = ModelSpec> {
    (1u32..8, head(), any::<bool>(), any::<bool>()).prop_flat_map(
        |(n_features, head, scaler, nan)| {
            let HeadParts {
                n_out,
                post,
                task,
                n_outputs,
            } = head.parts();
            let nf = n_features as usize;
            let scaler = if scaler {
                (weights(nf), weights(nf))
                    .prop_map(|(mean, scale)| Some(StageSpec::StandardScaler { mean, scale }))
                    .boxed()
            } else {
                Just(None).boxed()
            };
            let linear = (weights(nf * n_out as usize), weights(n_out as usize)).prop_map(
                move |(coef, intercept)| StageSpec::Linear {
                    n_in: n_features,
                    n_out,
                    coef,
                    intercept,
                },
            );
            (around(n_features, nan, task, n_outputs), scaler, linear).prop_map(
                move |(builder, scaler, linear)| {
                    let mut stages: Vec<StageSpec> = scaler.into_iter().collect();
                    stages.push(linear);
                    stages.extend(post.map(StageSpec::Post));
                    builder.stages(stages).build()
                },
            )
        },
    )
}

/// Parses `bytes` both ways; they may succeed or fail, never panic. A file `parse_verified`
/// accepts is one `parse` accepts, and it describes itself consistently.
fn parse_both(bytes: &[u8]) {
    let buf = AlignedBuf::copy_from(bytes);
    let plain = Apr::parse(&buf);
    let verified = Apr::parse_verified(&buf);
    match (&plain, &verified) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(_), Err(FormatError::ChecksumMismatch { .. })) | (Ok(_), Ok(_)) => {}
        (a, b) => panic!(
            "parse and parse_verified disagree: {:?} vs {:?}",
            a.is_ok(),
            b
        ),
    }
    if let Ok(apr) = verified {
        touch(&apr);
        // Whatever the reader accepts, the writer can write, and writing is a fixed point
        // (compared as bytes: the weights may hold NaNs, which are not equal to themselves).
        let once = write_to_vec(&apr.to_spec()).expect("the writer takes what the reader accepts");
        let buf = AlignedBuf::copy_from(&once);
        let twice = write_to_vec(&Apr::parse_verified(&buf).expect("written").to_spec());
        assert_eq!(twice.as_deref(), Ok(&once[..]));
    } else if let Ok(apr) = plain {
        touch(&apr);
    }
}

/// Reads every accessor of a parsed file.
fn touch(apr: &Apr<'_>) {
    let _ = apr.output_width();
    for i in 0..apr.strings().len() + 1 {
        let _ = apr.strings().get(i);
    }
    if let Some(names) = apr.input().feature_names {
        assert_eq!(names.iter().count(), apr.input().n_features as usize);
    }
    match &apr.output().labels {
        Labels::Str(l) => assert_eq!(l.to_vec().len(), apr.output().n_outputs as usize),
        Labels::Int(v) => assert_eq!(v.len(), apr.output().n_outputs as usize),
        Labels::None => {}
    }
    for s in apr.stages() {
        let _ = (s.name(), s.role());
        if let Stage::Linear {
            coef,
            intercept,
            n_in,
            n_out,
        } = s
        {
            assert_eq!(coef.len(), *n_in as usize * *n_out as usize);
            assert_eq!(intercept.len(), *n_out as usize);
        }
    }
}

/// A mutation of a valid file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set one byte.
    Byte { at: prop::sample::Index, value: u8 },
    /// Xor one u32 word (at a multiple of 4, so it hits whole fields) with a value.
    Word { at: prop::sample::Index, xor: u32 },
    /// Keep only a prefix.
    Truncate { at: prop::sample::Index },
    /// Insert bytes.
    Insert {
        at: prop::sample::Index,
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, value)| Mutation::Byte { at, value }),
        4 => (any::<prop::sample::Index>(), prop_oneof![any::<u32>(), 0u32..16, Just(u32::MAX)])
            .prop_map(|(at, xor)| Mutation::Word { at, xor }),
        1 => any::<prop::sample::Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<prop::sample::Index>(), vec(any::<u8>(), 1..70))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn apply(v: &mut Vec<u8>, m: &Mutation) {
    if v.len() < 4 && !matches!(m, Mutation::Insert { .. }) {
        return;
    }
    match m {
        Mutation::Byte { at, value } => {
            let i = at.index(v.len());
            v[i] = *value;
        }
        Mutation::Word { at, xor } => {
            let i = at.index(v.len() / 4) * 4;
            let w = u32::from_le_bytes(v[i..i + 4].try_into().unwrap()) ^ xor;
            v[i..i + 4].copy_from_slice(&w.to_le_bytes());
        }
        Mutation::Truncate { at } => v.truncate(at.index(v.len())),
        Mutation::Insert { at, bytes } => {
            let i = at.index(v.len() + 1);
            v.splice(i..i, bytes.iter().copied());
        }
    }
}

/// Re-patches the length and the checksum, so a mutation reaches past R5 and R6.
fn repatch(v: &mut [u8]) {
    if v.len() >= HEADER_LEN {
        let len = v.len() as u64;
        v[16..24].copy_from_slice(&len.to_le_bytes());
        let crc = checksum(v);
        v[CHECKSUM_FIELD].copy_from_slice(&crc.to_le_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(spec in spec()) {
        let buf = write(&spec).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let apr = Apr::parse_verified(&buf).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        // Compared through Debug: an imputer's NaN marker is not equal to itself.
        prop_assert_eq!(format!("{:?}", apr.to_spec()), format!("{spec:?}"));
        // The pipeline's width is n_outputs, but for a binary decision function (one score).
        let binary_decision = spec.output.task == Task::Classification && apr.output_width() == 1;
        for (a, b) in apr.stages().iter().zip(&spec.stages) {
            prop_assert_eq!(a.role() == Role::Postprocessor, matches!(b, StageSpec::Post(_)));
            prop_assert!(!a.name().is_empty());
        }
        prop_assert!(apr.output_width() == spec.output.n_outputs || binary_decision);
        // A manifest, a string table, and the tensors of each stage.
        let tensors: usize = spec.stages.iter().map(tensors_of).sum();
        prop_assert_eq!(apr.sections().len(), 2 + tensors);
        // Writing is deterministic.
        prop_assert_eq!(write_to_vec(&spec).ok(), Some(buf.to_vec()));
        touch(&apr);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        parse_both(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(
        count in prop_oneof![1u32..8, any::<u32>()],
        manifest in prop_oneof![0u32..8, any::<u32>()],
        strings in prop_oneof![0u32..8, Just(NONE), any::<u32>()],
        body in vec(any::<u8>(), 0..600),
    ) {
        let mut v = vec![0u8; HEADER_LEN];
        v[0..4].copy_from_slice(&MAGIC);
        v[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
        v[24..28].copy_from_slice(&count.to_le_bytes());
        v[28..32].copy_from_slice(&manifest.to_le_bytes());
        v[32..36].copy_from_slice(&strings.to_le_bytes());
        v.extend_from_slice(&body);
        repatch(&mut v);
        parse_both(&v);
    }

    #[test]
    fn mutated_files_never_panic(
        spec in spec(),
        mutations in vec(mutation(), 1..4),
        fix in any::<bool>(),
    ) {
        let mut v = write_to_vec(&spec).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        for m in &mutations {
            apply(&mut v, m);
        }
        if fix {
            repatch(&mut v);
        }
        parse_both(&v);
    }

    #[test]
    fn every_single_byte_change_is_caught_by_the_checksum(
        spec in spec(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        // CRC-32 detects every error burst of 32 bits or fewer: parse_verified refuses every
        // single-byte change (a checksum-field change included).
        let mut v = write_to_vec(&spec).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let i = at.index(v.len());
        v[i] ^= flip;
        let buf = AlignedBuf::copy_from(&v);
        prop_assert!(Apr::parse_verified(&buf).is_err());
    }

    #[test]
    fn truncations_are_refused(spec in spec(), at in any::<prop::sample::Index>()) {
        let v = write_to_vec(&spec).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let cut = at.index(v.len());
        let buf = AlignedBuf::copy_from(&v[..cut]);
        let e = Apr::parse(&buf).unwrap_err();
        let expected = if cut < HEADER_LEN {
            FormatError::TooShort { len: cut }
        } else {
            FormatError::LengthMismatch { declared: v.len() as u64, actual: cut as u64 }
        };
        prop_assert_eq!(e, expected);
    }
}
