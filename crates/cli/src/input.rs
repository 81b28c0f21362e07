//! Reading `icebreak predict`'s input: bounded lines, CSV fields of one line, cells, the
//! byte-order mark. Self-contained (std, `csv-core` and the limits) so the fuzz target
//! `predict_input` builds it as it is.

use icebreak_format::limits;
use std::io::{self, BufRead, Read};

/// Skips a UTF-8 byte-order mark at the start of the input.
pub(crate) fn strip_bom(input: &mut dyn BufRead) -> io::Result<()> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut seen = 0;
    while seen < BOM.len() {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = (BOM.len() - seen).min(buf.len());
        if buf[..n] != BOM[seen..seen + n] {
            break;
        }
        if seen + n < BOM.len() && n == buf.len() {
            // A mark split across reads: consume what matched and look at the rest.
            input.consume(n);
            seen += n;
            continue;
        }
        input.consume(n);
        seen += n;
    }
    Ok(())
}

/// Parses one CSV cell or JSON-free text value: empty means missing (NaN).
pub(crate) fn parse_cell(cell: &[u8]) -> Option<f64> {
    if cell.is_empty() {
        return Some(f64::NAN);
    }
    std::str::from_utf8(cell).ok()?.parse::<f64>().ok()
}

/// Reads the input line by line, each line bounded by the record length limit
/// ([`limits::MAX_LINE_BYTES`], or `ICEBREAK_MAX_LINE_BYTES`): memory never grows with the
/// longest line, and a longer one stops the run with an error naming its line. Lines of
/// blanks only are skipped.
pub(crate) struct Lines<R> {
    input: R,
    line: Vec<u8>,
    max: usize,
    /// 1-based number of the last line read.
    pub(crate) number: u64,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(input: R) -> Self {
        Lines {
            input,
            line: Vec::new(),
            max: max_line_bytes(),
            number: 0,
        }
    }

    /// The next line that is not blank, without its line ending; `None` at the end.
    pub(crate) fn next(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            self.line.clear();
            let n = self
                .input
                .by_ref()
                .take(self.max as u64 + 2)
                .read_until(b'\n', &mut self.line)?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            let mut end = self.line.len();
            if self.line[..end].ends_with(b"\n") {
                end -= 1;
            }
            if self.line[..end].ends_with(b"\r") {
                end -= 1;
            }
            let complete = self.line.ends_with(b"\n") || n < self.max + 2;
            if end > self.max || !complete {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {} bytes, the limit of a record (raise it with \
                         the environment variable {MAX_LINE_ENV})",
                        self.number, self.max
                    ),
                ));
            }
            if !self.line[..end].iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(&self.line[..end]));
            }
        }
    }
}

/// The environment variable that raises [`limits::MAX_LINE_BYTES`].
const MAX_LINE_ENV: &str = "ICEBREAK_MAX_LINE_BYTES";

fn max_line_bytes() -> usize {
    limits::from_env(MAX_LINE_ENV, limits::MAX_LINE_BYTES)
}

/// Splits one CSV line into fields (quotes removed, blanks around fields trimmed), with
/// `csv-core`. A record is one line: a quote left open at the end of the line is an error
/// of that row, and the rows after it are read as usual.
pub(crate) struct CsvLine {
    reader: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    pub(crate) n_fields: usize,
}

impl CsvLine {
    pub(crate) fn new() -> Self {
        CsvLine {
            reader: csv_core::Reader::new(),
            out: Vec::new(),
            ends: Vec::new(),
            n_fields: 0,
        }
    }

    /// Parses `line`; `Err` names the column of a quote that is never closed.
    pub(crate) fn split(&mut self, line: &[u8]) -> Result<(), String> {
        if let Some(col) = unterminated_quote(line) {
            return Err(format!(
                "unterminated quote: the field at column {col} has no closing '\"' on its line"
            ));
        }
        self.reader.reset();
        // Unquoting only shrinks a field, and a line has at most one field more than commas:
        // the buffers are grown (never shrunk) to those sizes, so a warm line allocates
        // nothing.
        let max_fields = line.iter().filter(|&&b| b == b',').count() + 1;
        if self.out.len() < line.len() {
            self.out.resize(line.len(), 0);
        }
        if self.ends.len() < max_fields {
            self.ends.resize(max_fields, 0);
        }
        let (mut input, mut nout, mut nend) = (line, 0usize, 0usize);
        loop {
            // `InputEmpty` means every byte of `input` was read.
            let (res, _, o, e) =
                self.reader
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            // Field ends count from the start of the record, across calls.
            nout += o;
            nend += e;
            match res {
                csv_core::ReadRecordResult::InputEmpty => input = &[],
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
                csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => {
                    return Err("a CSV record the reader cannot split".into())
                }
            }
        }
        self.n_fields = nend;
        Ok(())
    }

    /// The fields of the last line split.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.n_fields).map(move |i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            self.out[start..self.ends[i]].trim_ascii()
        })
    }
}

/// The 1-based column of a quote that opens a field and is not closed on the line, as
/// `csv-core` reads quotes (only at the start of a field; `""` inside is one quote).
pub(crate) fn unterminated_quote(line: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            let open = i;
            i += 1;
            loop {
                match line.get(i) {
                    None => return Some(open + 1),
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
        }
        match line[i.min(line.len())..].iter().position(|&b| b == b',') {
            Some(p) => i += p + 1,
            None => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<String>, String> {
        let mut c = CsvLine::new();
        c.split(line)?;
        Ok(c.fields()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect())
    }

    #[test]
    fn csv_lines_split_like_csv() {
        assert_eq!(split(b"1, 2 ,3").unwrap(), ["1", "2", "3"]);
        assert_eq!(
            split(b"\"1\",\"a,b\",\"x\"\"y\"").unwrap(),
            ["1", "a,b", "x\"y"]
        );
        assert!(split(b"").unwrap().is_empty());
        assert_eq!(split(b",,").unwrap(), ["", "", ""]);
        assert_eq!(split(b"a\"b,c").unwrap(), ["a\"b", "c"]);
    }

    #[test]
    fn unterminated_quotes_name_their_column() {
        assert_eq!(unterminated_quote(b"1,\"2,3"), Some(3));
        assert_eq!(unterminated_quote(b"\"a\"\"b"), Some(1));
        assert_eq!(unterminated_quote(b"\"a\"\"b\",1"), None);
        assert_eq!(unterminated_quote(b"a\"b,c"), None);
        assert!(split(b"1,\"2,3").unwrap_err().contains("column 3"));
    }

    #[test]
    fn lines_skip_blanks_and_stop_at_the_limit() {
        let mut l = Lines::new(&b"a\r\n \t\n\nb\nc"[..]);
        assert_eq!(l.next().unwrap(), Some(&b"a"[..]));
        assert_eq!(l.next().unwrap(), Some(&b"b"[..]));
        assert_eq!(l.number, 4);
        assert_eq!(l.next().unwrap(), Some(&b"c"[..]));
        assert_eq!(l.next().unwrap(), None);

        let mut l = Lines::new(&b"1234\n12345\n"[..]);
        l.max = 4;
        assert_eq!(l.next().unwrap(), Some(&b"1234"[..]));
        let e = l.next().unwrap_err();
        assert!(
            e.to_string().contains("line 2 is longer than 4 bytes"),
            "{e}"
        );
        // Exactly at the limit with CRLF, and without a final newline.
        let mut l = Lines::new(&b"1234\r\n1234"[..]);
        l.max = 4;
        assert_eq!(l.next().unwrap(), Some(&b"1234"[..]));
        assert_eq!(l.next().unwrap(), Some(&b"1234"[..]));
    }

    #[test]
    fn a_byte_order_mark_is_skipped_once() {
        let mut r: &[u8] = b"\xEF\xBB\xBF\xEF\xBB\xBFx";
        strip_bom(&mut r).unwrap();
        assert_eq!(r, b"\xEF\xBB\xBFx");
        let mut r: &[u8] = b"\xEF\xBBx";
        strip_bom(&mut r).unwrap();
        assert_eq!(r, b"\xEF\xBBx");
    }
}
