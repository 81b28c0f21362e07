//! `icebreak predict MODEL.apr --input FILE|- [--output FILE|-]`: rows in (CSV or JSON Lines),
//! one JSON answer per row out, in order.
//!
//! The input is streamed: rows are read, checked and gathered into chunks of [`CHUNK`] rows,
//! the valid ones go through the engine's batch path together, and the answers (or a row's
//! error) are written in input order before the next chunk is read. Memory stays bounded
//! whatever the input's size.

use crate::input::{parse_cell, strip_bom, CsvLine, Lines};
use icebreak_engine::{BatchOutput, EngineError, Model};
use icebreak_format::{Apr, FormatError, Labels, Precision, Role, Stage, Task};
use icebreak_protocol::{
    feature_order, label, value, Cell, Error, ErrorKind, Explain, FeatureContributions, Numbers,
    Prediction, Predictor, Reasons, Slots,
};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, BufRead, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Most rows per batch.
pub const CHUNK: usize = 1024;

/// Inputs at least this large (bytes) get a progress bar when standard error is a terminal.
const PROGRESS_MIN_BYTES: u64 = 1 << 20;

/// Exit code of `--strict` when some rows had errors (every row was still answered).
const EXIT_ROW_ERRORS: u8 = 3;

/// Arguments of `icebreak predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.apr` model.
    #[arg(value_name = "MODEL.apr")]
    model: PathBuf,
    /// Rows to predict: CSV or JSON Lines (`{"features": [...]}` per line); `-` for standard
    /// input.
    #[arg(short, long, value_name = "FILE|-")]
    input: PathBuf,
    /// Where to write the answers, one JSON object per line; `-` (the default) for standard
    /// output.
    #[arg(short, long, value_name = "FILE|-", default_value = "-")]
    output: PathBuf,
    /// The input's format (default: JSON Lines when the first non-blank character is `{`,
    /// otherwise CSV).
    #[arg(long, value_enum, value_name = "FORMAT")]
    input_format: Option<InputFormat>,
    /// Exit with status 3 when any row had an error (every row is still answered).
    #[arg(long)]
    strict: bool,
    /// No progress bar and no summary of row errors on standard error.
    #[arg(short, long)]
    quiet: bool,
    /// Threads each batch of rows is predicted on (1 to 256). Answers are the same bits
    /// whatever the count; a batch below 64 rows a thread uses fewer threads.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: u32,
    /// Explain each prediction: every feature's contribution to the raw score
    /// (`contributions`, with the bias) and the largest ones (`reasons`). Tree ensembles
    /// converted from XGBoost or LightGBM, and linear models.
    #[arg(long)]
    explain: bool,
    /// Reasons per answer with `--explain` (1 to 1000).
    #[arg(long, value_name = "K", requires = "explain", default_value_t = Explain::DEFAULT_TOP,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
              .range(1..=icebreak_format::limits::MAX_EXPLAIN_TOP as u64))]
    top: usize,
}

/// The format of `--input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Comma-separated numbers, one row per record; an optional header row of names.
    Csv,
    /// One JSON object `{"features": [...]}` per line.
    Jsonl,
}

/// Why `icebreak predict` stopped (a bad *row* never stops it).
#[derive(Debug)]
pub enum PredictError {
    /// The model file could not be read.
    ReadModel(PathBuf, io::Error),
    /// The model file is not a valid `.apr` model.
    InvalidModel(PathBuf, FormatError),
    /// The input could not be opened or read.
    Input(PathBuf, io::Error),
    /// The output could not be created or written.
    Output(PathBuf, io::Error),
    /// `--explain` was given for a model that cannot explain.
    CannotExplain(PathBuf, Error),
}

impl fmt::Display for PredictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PredictError::ReadModel(p, _) => write!(f, "cannot read {}", p.display()),
            PredictError::InvalidModel(p, _) => {
                write!(f, "{} is not a valid .apr model", p.display())
            }
            PredictError::Input(p, _) => write!(f, "cannot read input {}", p.display()),
            PredictError::Output(p, _) => write!(f, "cannot write output {}", p.display()),
            PredictError::CannotExplain(p, e) => {
                write!(f, "cannot explain {}: {}", p.display(), e.message())
            }
        }
    }
}

impl std::error::Error for PredictError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PredictError::ReadModel(_, e) | PredictError::Input(_, e) => Some(e),
            PredictError::Output(_, e) => Some(e),
            PredictError::InvalidModel(_, e) => Some(e),
            PredictError::CannotExplain(..) => None,
        }
    }
}

/// Whether a path argument means standard input or output.
fn is_std(p: &std::path::Path) -> bool {
    p.as_os_str() == "-"
}

/// Runs the predictions. Exit status 0 even when rows had errors, unless `--strict`.
pub fn run(args: Args) -> Result<ExitCode, PredictError> {
    let bytes = crate::inspect::read_model(&args.model)
        .map_err(|e| PredictError::ReadModel(args.model.clone(), e))?;
    // The model lives as long as the command: its explanations borrow it for `'static`.
    let bytes: &'static [u8] = bytes.leak();
    let apr = Apr::parse_verified(bytes)
        .map_err(|e| PredictError::InvalidModel(args.model.clone(), e))?;
    let model = Model::new(&apr);
    // Made before any row is read, so a model that cannot explain fails at once.
    let explainer = if args.explain {
        let p = Predictor::new(apr.clone());
        p.can_explain()
            .map_err(|e| PredictError::CannotExplain(args.model.clone(), e))?;
        Some((
            p,
            Explain {
                top: args.top.clamp(1, icebreak_format::limits::MAX_EXPLAIN_TOP),
            },
        ))
    } else {
        None
    };

    let in_err = |e| PredictError::Input(args.input.clone(), e);
    let progress = indicatif::ProgressBar::hidden();
    let mut input: Box<dyn BufRead> = if is_std(&args.input) {
        Box::new(io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.input).map_err(in_err)?;
        let len = file.metadata().map_err(in_err)?.len();
        if !args.quiet && len >= PROGRESS_MIN_BYTES && io::stderr().is_terminal() {
            progress.set_length(len);
            progress.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            progress.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        Box::new(io::BufReader::with_capacity(
            1 << 16,
            progress.wrap_read(file),
        ))
    };
    // A UTF-8 byte-order mark is skipped whatever the format.
    strip_bom(&mut input).map_err(in_err)?;
    let format = match args.input_format {
        Some(f) => f,
        None => sniff(&mut input).map_err(in_err)?,
    };

    let out_err = |e| PredictError::Output(args.output.clone(), e);
    let sink: Box<dyn Write> = if is_std(&args.output) {
        Box::new(io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&args.output).map_err(out_err)?)
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);

    let renderer = Renderer::new(&apr);
    let mut rows: Box<dyn RowSource> = match format {
        InputFormat::Csv => Box::new(CsvRows::new(input, &apr, args.quiet).map_err(in_err)?),
        InputFormat::Jsonl => Box::new(JsonRows::new(input, categorical(&apr))),
    };
    let result = predict_stream(
        &model,
        &renderer,
        explainer.as_ref(),
        rows.as_mut(),
        &mut out,
        args.threads as usize,
    );
    progress.finish_and_clear();
    let stats = match result {
        Ok(stats) => stats,
        // The reader of our output went away (`| head`): nothing is left to do.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            return Ok(ExitCode::SUCCESS)
        }
        Err(Failure::Output(e)) => return Err(out_err(e)),
        Err(Failure::Input(e)) => {
            // The rows answered before the input failed are kept.
            let _ = out.flush();
            return Err(in_err(e));
        }
    };
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        r => r.map_err(out_err)?,
    }
    if stats.errors > 0 && !args.quiet {
        eprintln!(
            "icebreak: {} of {} rows had errors (see the \"error\" lines)",
            stats.errors, stats.rows
        );
    }
    Ok(if args.strict && stats.errors > 0 {
        ExitCode::from(EXIT_ROW_ERRORS)
    } else {
        ExitCode::SUCCESS
    })
}

/// Which features take categories (CatBoost's categorical features): `flags[i]` for feature
/// `i`; empty for a model without any.
fn categorical(apr: &Apr<'_>) -> Vec<bool> {
    match apr.stages().first() {
        Some(icebreak_format::Stage::Oblivious(o)) if !o.categorical.is_empty() => {
            let mut flags = vec![false; apr.input().n_features as usize];
            for &f in o.categorical {
                if let Some(x) = flags.get_mut(f as usize) {
                    *x = true;
                }
            }
            flags
        }
        _ => Vec::new(),
    }
}

/// At most 80 characters of `s`, for messages.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// Looks at the first non-blank byte (skipping a UTF-8 byte-order mark): `{` is JSON Lines,
/// anything else CSV. Consumes only the mark and the blanks.
fn sniff(input: &mut dyn BufRead) -> io::Result<InputFormat> {
    let mut first = true;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(InputFormat::Csv);
        }
        if first && buf.starts_with(b"\xEF\xBB\xBF") {
            input.consume(3);
            first = false;
            continue;
        }
        first = false;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let format = if buf[i] == b'{' {
                    InputFormat::Jsonl
                } else {
                    InputFormat::Csv
                };
                input.consume(i);
                return Ok(format);
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

/// What reading one row gave.
enum Row {
    /// The row's values are in the buffer.
    Values,
    /// The row could not be read as numbers.
    Bad(String),
    /// No more rows.
    End,
}

/// A stream of rows. `next` clears `row` and fills it with the row's features (NaN for a
/// missing value).
trait RowSource {
    fn next(&mut self, row: &mut Vec<f64>) -> io::Result<Row>;
}

struct CsvRows<R> {
    lines: Lines<R>,
    csv: CsvLine,
    /// The first line, when it was data rather than a header.
    pending: bool,
    /// The first line could not be split: the error of its row.
    pending_error: Option<String>,
    /// `order[i]` is the feature that column `i` holds, when the header names the model's
    /// features in another order.
    order: Option<Vec<usize>>,
    n_features: usize,
    /// Categorical features (empty when the model has none): their cells are categories,
    /// taken as text.
    categorical: Vec<bool>,
}

impl<R: BufRead> CsvRows<R> {
    fn new(input: R, apr: &Apr<'_>, quiet: bool) -> io::Result<Self> {
        let mut lines = Lines::new(input);
        let mut csv = CsvLine::new();
        let n_features = apr.input().n_features as usize;
        let mut order = None;
        let (header, pending_error) = match lines.next()? {
            None => (false, None),
            Some(line) => match csv.split(line) {
                Err(e) => (false, Some(e)),
                // A header is names (not empty, not numbers; NaN and inf are numbers), one
                // per feature. A first line of names of another count is a bad row, reported.
                Ok(()) => (
                    csv.n_fields == n_features
                        && csv
                            .fields()
                            .all(|c| !c.is_empty() && parse_cell(c).is_none()),
                    None,
                ),
            },
        };
        if header {
            let names: Vec<String> = csv
                .fields()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            order = feature_order(&names, apr.input().feature_names);
            let named = apr
                .input()
                .feature_names
                .is_some_and(|m| order.is_some() || names.iter().map(String::as_str).eq(m.iter()));
            if !named && !quiet {
                if apr.input().feature_names.is_some() {
                    eprintln!(
                        "icebreak: the CSV header does not name the model's features; \
                         columns are taken in order"
                    );
                } else {
                    // Nothing is dropped silently: say which line was taken as names.
                    eprintln!(
                        "icebreak: the first line was read as a header ({}); the model has \
                         no feature names, so columns are taken in order",
                        excerpt(&names.join(","))
                    );
                }
            }
        }
        let pending = lines.number > 0 && !header;
        Ok(CsvRows {
            lines,
            csv,
            pending,
            pending_error,
            order,
            n_features,
            categorical: categorical(apr),
        })
    }
}

impl<R: BufRead> RowSource for CsvRows<R> {
    fn next(&mut self, row: &mut Vec<f64>) -> io::Result<Row> {
        row.clear();
        if let Some(e) = self.pending_error.take() {
            self.pending = false;
            return Ok(Row::Bad(e));
        }
        if !std::mem::take(&mut self.pending) {
            let Some(line) = self.lines.next()? else {
                return Ok(Row::End);
            };
            if let Err(e) = self.csv.split(line) {
                return Ok(Row::Bad(e));
            }
        }
        let n = self.csv.n_fields;
        if self.order.is_some() && n != self.n_features {
            return Ok(Row::Bad(
                EngineError::FeatureCount {
                    expected: self.n_features,
                    found: n,
                }
                .to_string(),
            ));
        }
        row.resize(n, f64::NAN);
        for (i, cell) in self.csv.fields().enumerate() {
            let j = self.order.as_ref().map_or(i, |o| o[i]);
            if self.categorical.get(j) == Some(&true) {
                // A category is its text, as CatBoost reads it (an empty cell is the empty
                // category).
                row[j] = icebreak_engine::cat_hash::category_value(cell);
                continue;
            }
            let Some(v) = parse_cell(cell) else {
                return Ok(Row::Bad(format!(
                    "feature {i} is not a number: {:?}",
                    String::from_utf8_lossy(cell)
                )));
            };
            row[j] = v;
        }
        Ok(Row::Values)
    }
}

struct JsonRows<R> {
    lines: Lines<R>,
    /// Categorical features (empty when the model has none): a string there is a category.
    categorical: Vec<bool>,
}

impl<R: BufRead> JsonRows<R> {
    fn new(input: R, categorical: Vec<bool>) -> Self {
        JsonRows {
            lines: Lines::new(input),
            categorical,
        }
    }
}

/// One JSON Lines record of a model with categorical features: any values, read as they
/// are, so that strings can be categories.
#[derive(Deserialize)]
struct AnyRecord {
    features: Vec<serde_json::Value>,
}

/// One JSON Lines record. Other keys are ignored.
#[derive(Deserialize)]
struct Record {
    features: Features,
}

/// The `features` array of a record: numbers, `null` (missing), or something else (refused
/// with its kind, see [`Cell`]).
struct Features(Vec<Cell>);

impl<'de> Deserialize<'de> for Features {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Features;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Features, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(c) = seq.next_element()? {
                    v.push(c);
                }
                Ok(Features(v))
            }
        }
        d.deserialize_seq(V)
    }
}

/// serde_json's message without its " at line 1 column N" (every record is one line).
fn json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rsplit_once(" at line ") {
        Some((head, _)) if e.line() > 0 => format!("invalid JSON at column {}: {head}", e.column()),
        _ => format!("invalid JSON: {msg}"),
    }
}

impl<R: BufRead> RowSource for JsonRows<R> {
    fn next(&mut self, row: &mut Vec<f64>) -> io::Result<Row> {
        row.clear();
        let Some(line) = self.lines.next()? else {
            return Ok(Row::End);
        };
        if !self.categorical.is_empty() {
            let record: AnyRecord = match serde_json::from_slice(line) {
                Ok(r) => r,
                Err(e) => return Ok(Row::Bad(json_message(&e))),
            };
            for (i, v) in record.features.iter().enumerate() {
                let categorical = self.categorical.get(i) == Some(&true);
                row.push(match v {
                    serde_json::Value::String(s) if categorical => {
                        icebreak_engine::cat_hash::category_value(s.as_bytes())
                    }
                    // Integers are categories too (the engine hashes their decimal text).
                    serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                    serde_json::Value::Null => f64::NAN,
                    other => {
                        let kind = match other {
                            serde_json::Value::String(_) => "a string",
                            serde_json::Value::Bool(_) => "a boolean",
                            serde_json::Value::Array(_) => "an array",
                            _ => "an object",
                        };
                        let want = if categorical {
                            "a category (a string or an integer)"
                        } else {
                            "a number or null"
                        };
                        return Ok(Row::Bad(format!("feature {i} is {kind}, not {want}")));
                    }
                });
            }
            return Ok(Row::Values);
        }
        let record: Record = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return Ok(Row::Bad(json_message(&e))),
        };
        for (i, cell) in record.features.0.into_iter().enumerate() {
            match cell.number(i) {
                Ok(v) => row.push(v),
                Err(msg) => return Ok(Row::Bad(msg)),
            }
        }
        Ok(Row::Values)
    }
}

/// How each answer is written.
struct Renderer<'a> {
    task: Task,
    labels: Labels<'a>,
    /// The model has post-processing, so its raw scores differ from its final values.
    has_post: bool,
    /// The estimator is k-means: its raw outputs are distances, reported as `outputs`.
    distances: bool,
    /// The precision numbers are written at.
    precision: Precision,
}

/// One output line. Numbers are written in the shortest text that reads back to the same
/// value of the model's precision.
#[derive(Serialize)]
struct Answer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    prediction: Option<Prediction<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Numbers<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scores: Option<Numbers<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<Numbers<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contributions: Option<FeatureContributions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons: Option<Reasons>,
}

/// The line of a row that got no prediction.
#[derive(Serialize)]
struct RowError<'a> {
    /// 1-based: the row's line in the output.
    row: u64,
    error: &'a str,
}

impl<'a> Renderer<'a> {
    fn new(apr: &Apr<'a>) -> Self {
        Renderer {
            task: apr.output().task,
            labels: apr.output().labels.clone(),
            has_post: apr.stages().iter().any(|s| s.role() == Role::Postprocessor),
            distances: apr
                .stages()
                .iter()
                .any(|s| matches!(s, Stage::KMeans { .. })),
            precision: apr.output().precision,
        }
    }

    fn answer<'b>(
        &'b self,
        scores: &'b [f64],
        values: &'b [f64],
        probabilities: Option<&'b [f64]>,
        class: Option<usize>,
    ) -> Answer<'b> {
        let p = self.precision;
        let nums = |v: &'b [f64]| Numbers::borrowed(v, p);
        match (self.task, class) {
            (Task::Classification, Some(c)) => Answer {
                prediction: Some(label(&self.labels, c)),
                probabilities: probabilities.map(nums),
                scores: (!self.distances).then(|| nums(scores)),
                outputs: self.distances.then(|| nums(scores)),
                contributions: None,
                reasons: None,
            },
            (Task::Transform, _) => Answer {
                prediction: None,
                probabilities: None,
                scores: None,
                outputs: Some(nums(values)),
                contributions: None,
                reasons: None,
            },
            (Task::Regression | Task::Classification, _) => Answer {
                prediction: Some(value(values, p)),
                probabilities: None,
                scores: (self.has_post && !self.distances).then(|| nums(scores)),
                outputs: self.distances.then(|| nums(scores)),
                contributions: None,
                reasons: None,
            },
        }
    }
}

/// Counts of a run.
#[derive(Debug, Default)]
struct Stats {
    rows: u64,
    errors: u64,
}

/// What stopped a run: reading or writing.
enum Failure {
    Input(io::Error),
    Output(io::Error),
}

fn predict_stream(
    model: &Model<'_>,
    renderer: &Renderer<'_>,
    explainer: Option<&(Predictor, Explain)>,
    rows: &mut dyn RowSource,
    out: &mut dyn Write,
    threads: usize,
) -> Result<Stats, Failure> {
    let nf = model.n_features();
    // Rows per batch: fewer for wide models, so a batch holds about a million features
    // whatever the model declares (nothing is reserved from the declared width alone).
    let chunk = ((1usize << 20) / nf.max(1)).clamp(1, CHUNK);
    let mut stats = Stats::default();
    let mut row = Vec::new();
    // Rows are answered one by one: a bad row gets its error line and does not fail the others.
    let mut slots: Slots<Error> = Slots::with_capacity(chunk, nf);
    let mut batch = BatchOutput::default();
    let mut line = Vec::with_capacity(256);
    // With --explain, the chunk's rows (the good ones, in order) are kept to explain them.
    let mut kept: Vec<Vec<f64>> = Vec::new();
    loop {
        // A read error ends the run after the rows before it are answered.
        let mut failed = None;
        let done = match rows.next(&mut row) {
            Err(e) => {
                failed = Some(e);
                true
            }
            Ok(Row::End) => true,
            Ok(Row::Bad(msg)) => {
                slots.push(model, Err(Error::new(ErrorKind::InvalidInput, msg)));
                false
            }
            Ok(Row::Values) => {
                slots.push(model, Ok(&row));
                if explainer.is_some() {
                    kept.push(row.clone());
                }
                false
            }
        };
        if slots.len() == chunk || (done && !slots.is_empty()) {
            // Every row passed `check_row`, so the batch cannot refuse one.
            if let Err(e) = slots.predict_threads(model, &mut batch, threads) {
                let e = Error::from(e);
                slots.fail_good(|| e.clone());
            }
            let mut kept_rows = kept.drain(..);
            for answer in slots.drain(&batch) {
                stats.rows += 1;
                line.clear();
                // Rows that passed the checks come out as answers, in the order kept.
                let explained = match (&answer, explainer) {
                    (Ok(_), Some((p, e))) => kept_rows
                        .next()
                        .map(|x| p.explain(&x, *e).map_err(|e| (x, e))),
                    _ => None,
                };
                let answer = match (answer, explained) {
                    (Ok(_), Some(Err((_, e)))) => Err(e),
                    (Ok(r), ex) => Ok((r, ex.and_then(Result::ok))),
                    (Err(e), _) => Err(e),
                };
                let written = match answer {
                    Ok((r, ex)) => {
                        let mut a = renderer.answer(r.scores, r.values, r.probabilities, r.class);
                        if let Some((c, reasons)) = ex {
                            a.contributions = Some(c);
                            a.reasons = Some(reasons);
                        }
                        serde_json::to_writer(&mut line, &a)
                    }
                    Err(e) => {
                        stats.errors += 1;
                        serde_json::to_writer(
                            &mut line,
                            &RowError {
                                row: stats.rows,
                                error: e.message(),
                            },
                        )
                    }
                };
                written.map_err(|e| Failure::Output(e.into()))?;
                line.push(b'\n');
                out.write_all(&line).map_err(Failure::Output)?;
            }
        }
        if let Some(e) = failed {
            return Err(Failure::Input(e));
        }
        if done {
            return Ok(stats);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert!(parse_cell(b"").is_some_and(f64::is_nan));
        assert!(parse_cell(b"NaN").is_some_and(f64::is_nan));
        assert!(parse_cell(b"nan").is_some_and(f64::is_nan));
        assert_eq!(parse_cell(b"-1.5e3"), Some(-1500.0));
        assert_eq!(parse_cell(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_cell(b"abc"), None);
        assert_eq!(parse_cell(b"1,5"), None);
    }

    #[test]
    fn sniffing_skips_marks_and_blanks() {
        let mut r: &[u8] = b"\xEF\xBB\xBF \n {\"features\": []}";
        assert_eq!(sniff(&mut r).unwrap(), InputFormat::Jsonl);
        assert_eq!(r, b"{\"features\": []}");
        let mut r: &[u8] = b"a,b\n";
        assert_eq!(sniff(&mut r).unwrap(), InputFormat::Csv);
        let mut r: &[u8] = b"";
        assert_eq!(sniff(&mut r).unwrap(), InputFormat::Csv);
    }

    #[test]
    fn json_messages_drop_the_line() {
        let e = serde_json::from_slice::<Record>(b"{\"features\": [1,}")
            .err()
            .unwrap();
        assert_eq!(
            json_message(&e),
            "invalid JSON at column 17: expected value"
        );
    }
}
