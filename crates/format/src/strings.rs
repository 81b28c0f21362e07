//! The string table: `count: u32`, `count + 1` end offsets, then UTF-8 bytes.

use crate::error::FormatError;
use crate::le_u32;

/// A validated string table, viewed in place.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringTable<'a> {
    /// `count + 1` little-endian u32 offsets into `data`.
    offsets: &'a [u8],
    data: &'a str,
}

impl<'a> StringTable<'a> {
    /// Validates a string-table section (rule R15).
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let bad = |reason| FormatError::BadStringTable { reason };
        let count = le_u32(bytes, 0).ok_or(bad("shorter than its count field"))? as usize;
        let offsets_len = count
            .checked_add(1)
            .and_then(|n| n.checked_mul(4))
            .ok_or(bad("count overflows"))?;
        let offsets = bytes
            .get(4..)
            .and_then(|rest| rest.get(..offsets_len))
            .ok_or(bad("offsets run past the section"))?;
        let data = &bytes[4 + offsets_len..];
        let data = std::str::from_utf8(data).map_err(|_| bad("string data is not UTF-8"))?;
        let mut prev = 0u32;
        for i in 0..=count {
            let off = le_u32(offsets, i * 4).ok_or(bad("offsets run past the section"))?;
            if i == 0 && off != 0 {
                return Err(bad("first offset is not 0"));
            }
            if off < prev {
                return Err(bad("offsets decrease"));
            }
            if !data.is_char_boundary(off as usize) {
                return Err(bad("offset is not on a character boundary"));
            }
            prev = off;
        }
        if prev as usize != data.len() {
            return Err(bad("last offset is not the end of the data"));
        }
        Ok(StringTable { offsets, data })
    }

    /// Number of strings.
    pub fn len(&self) -> u32 {
        (self.offsets.len() / 4).saturating_sub(1) as u32
    }

    /// Whether the table holds no string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string at `index`, if any.
    pub fn get(&self, index: u32) -> Option<&'a str> {
        let i = index as usize;
        let start = le_u32(self.offsets, i.checked_mul(4)?)? as usize;
        let end = le_u32(self.offsets, i.checked_add(1)?.checked_mul(4)?)? as usize;
        self.data.get(start..end)
    }

    /// Checks that `first..first + count` names strings of this table (rule R16).
    pub(crate) fn check_range(&self, first: u32, count: u32) -> Result<(), FormatError> {
        let end = first.checked_add(count);
        match end {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(FormatError::StringOutOfRange { index: first }),
        }
    }
}

/// A run of consecutive strings of the table: feature names, output names, class labels.
#[derive(Debug, Clone, Copy)]
pub struct StrList<'a> {
    pub(crate) table: StringTable<'a>,
    pub(crate) first: u32,
    pub(crate) count: u32,
}

impl<'a> StrList<'a> {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`-th string of the list.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        if i >= self.count as usize {
            return None;
        }
        self.table
            .get(self.first.checked_add(u32::try_from(i).ok()?)?)
    }

    /// Iterates over the strings.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }

    /// Copies the strings out.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}
