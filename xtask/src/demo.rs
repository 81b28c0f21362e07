//! (being written)

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("not written yet")
}

