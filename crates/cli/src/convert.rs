//! `icebreak convert SRC -o DST.apr`: a trained model in, a verified `.apr` file out.

use icebreak_convert::detect::{self, ImportError, SourceFormat};
use icebreak_format::trees::TreeLayout;
use icebreak_format::{Apr, FormatError};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `icebreak convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source model: ONNX, XGBoost JSON or UBJSON, or LightGBM text (`-`: standard input).
    #[arg(value_name = "SRC")]
    source: PathBuf,
    /// Where to write the `.apr` file (replaced if it exists).
    #[arg(short, long, value_name = "DST.apr")]
    output: PathBuf,
    /// Import as this format instead of detecting it from the content.
    #[arg(long, value_enum, value_name = "FORMAT")]
    from: Option<FromFormat>,
    /// The model version every prediction reports (default: the format and the start of the
    /// source's SHA-256, e.g. `xgboost-0123456789ab`).
    #[arg(long, value_name = "VERSION")]
    model_version: Option<String>,
    /// A human name for the model (default: the source's objective, e.g. `lightgbm binary`).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Node layout of tree ensembles: `auto` writes the compact 16-byte layout for ensembles
    /// of 131 072 nodes or more that compare in f32 (fewer page faults on a cold start, a
    /// slower warm walk, no node covers, so no explanations), the classic layout otherwise.
    #[arg(long, value_enum, value_name = "LAYOUT", default_value = "auto")]
    tree_layout: Layout,
    /// Leave out the node covers of tree ensembles (XGBoost `sum_hessian`, LightGBM counts):
    /// a smaller file that predicts the same and cannot explain its answers.
    #[arg(long)]
    no_covers: bool,
}

/// `--tree-layout`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Layout {
    Auto,
    Classic,
    Compact,
}

/// `--from`: the formats [`SourceFormat`] knows, as clap lists them.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FromFormat {
    Onnx,
    Xgboost,
    Lightgbm,
    Catboost,
}

impl FromFormat {
    fn format(self) -> SourceFormat {
        match self {
            FromFormat::Onnx => SourceFormat::Onnx,
            FromFormat::Xgboost => SourceFormat::Xgboost,
            FromFormat::Lightgbm => SourceFormat::Lightgbm,
            FromFormat::Catboost => SourceFormat::Catboost,
        }
    }
}

/// Why `icebreak convert` wrote nothing.
#[derive(Debug)]
pub enum ConvertCmdError {
    /// The source could not be read.
    Read(PathBuf, std::io::Error),
    /// The source is not a model that can be imported.
    Import(ImportError),
    /// The imported model could not be encoded.
    Encode(FormatError),
    /// The output could not be written.
    Write(PathBuf, std::io::Error),
    /// The file read back from disk is not the file that was written, or does not parse.
    Verify(PathBuf, String),
}

impl fmt::Display for ConvertCmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertCmdError::Read(p, _) => write!(f, "cannot read {}", p.display()),
            ConvertCmdError::Import(e @ ImportError::Unrecognized { .. }) => {
                write!(f, "{e}; name the format with --from if it is one of them")
            }
            ConvertCmdError::Import(e) => write!(f, "{e}"),
            ConvertCmdError::Encode(_) => {
                f.write_str("the imported model cannot be written as .apr")
            }
            ConvertCmdError::Write(p, _) => write!(f, "cannot write {}", p.display()),
            ConvertCmdError::Verify(p, why) => {
                write!(f, "{} does not read back as written: {why}", p.display())
            }
        }
    }
}

impl std::error::Error for ConvertCmdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConvertCmdError::Read(_, e) | ConvertCmdError::Write(_, e) => Some(e),
            ConvertCmdError::Encode(e) => Some(e),
            // The import error's message is already the whole story.
            ConvertCmdError::Import(_) | ConvertCmdError::Verify(..) => None,
        }
    }
}

/// Converts, writes the file atomically (a temporary file renamed into place), reads it back
/// and verifies it, and prints a one-line summary on standard output.
pub fn run(args: Args) -> Result<(), ConvertCmdError> {
    let bytes = if args.source.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)
            .map_err(|e| ConvertCmdError::Read(args.source.clone(), e))?;
        buf
    } else {
        std::fs::read(&args.source).map_err(|e| ConvertCmdError::Read(args.source.clone(), e))?
    };
    // ONNX external data is read from beside the source file (never for standard input).
    let external_data_dir = (args.source.as_os_str() != "-").then(|| {
        args.source
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf()
    });
    let options = detect::Options {
        model_version: args.model_version,
        model_name: args.name,
        external_data_dir,
        tree_layout: match args.tree_layout {
            Layout::Auto => TreeLayout::Auto,
            Layout::Classic => TreeLayout::Classic,
            Layout::Compact => TreeLayout::Compact,
        },
    };
    let (format, mut spec) =
        detect::convert_any(&bytes, args.from.map(FromFormat::format), &options)
            .map_err(ConvertCmdError::Import)?;
    if args.no_covers {
        for stage in &mut spec.stages {
            if let icebreak_format::StageSpec::Trees(t) = stage {
                t.covers.clear();
            }
        }
    }
    let file = icebreak_format::write(&spec).map_err(ConvertCmdError::Encode)?;
    write_atomically(&args.output, &file)
        .map_err(|e| ConvertCmdError::Write(args.output.clone(), e))?;

    // Read back what is on disk, not what is in memory.
    let verify = |why: String| ConvertCmdError::Verify(args.output.clone(), why);
    let back = crate::inspect::read_model(&args.output)
        .map_err(|e| ConvertCmdError::Write(args.output.clone(), e))?;
    if back.as_slice() != file.as_slice() {
        return Err(verify("the bytes differ".into()));
    }
    let apr = Apr::parse_verified(&back).map_err(|e| verify(e.to_string()))?;
    let summary = crate::inspect::Summary::of(&apr, &back);
    let mut out = std::io::stdout().lock();
    // A closed standard output does not undo a conversion that succeeded.
    let _ = writeln!(
        out,
        "{}: {format} ({} bytes) -> {}",
        args.output.display(),
        bytes.len(),
        summary.one_line()
    );
    Ok(())
}

/// Where `-o PATH` really writes: `PATH` itself, or the file a symbolic link at `PATH`
/// points to (followed to the end, dangling or not), so the link is kept and its target is
/// replaced. Anything there that is not a regular file (a FIFO, a device, a socket, a
/// directory) is refused with an error that names it: the atomic write replaces a file, and
/// replacing a device node or a pipe would be wrong.
fn output_target(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut target = path.to_path_buf();
    // A bounded number of links, as the kernel does.
    for _ in 0..40 {
        let meta = match std::fs::symlink_metadata(&target) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(target),
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link = std::fs::read_link(&target)?;
            target = match target.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
            continue;
        }
        if kind.is_file() {
            return Ok(target);
        }
        let what = special_kind(&kind);
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is {what}, not a regular file; -o writes a new .apr file (write it \
                 elsewhere and copy it if you mean to)",
                target.display()
            ),
        ));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{}: too many levels of symbolic links", path.display()),
    ))
}

/// What a file that is not regular is, in messages.
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Writes `bytes` to a new temporary file beside the target of `path` (see
/// [`output_target`]), syncs it and renames it over the target, so the target is either the
/// old file or the complete new one, and a symbolic link at `path` still points to it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = &output_target(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
