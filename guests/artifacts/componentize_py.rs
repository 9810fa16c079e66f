//! componentize-py, shared as a source file by the guest build step and
//! `berth plugin build`: the command that turns a Python plugin (`app.py`)
//! into a component. Uses `std` only.

use std::path::Path;
use std::process::Command;

/// The componentize-py release berth's Python plugins are built with
/// (`scripts/setup.sh` installs it from PyPI).
pub const VERSION: &str = "0.25.1";

/// `componentize-py -d WIT -w plugin componentize app -o OUT`, run with
/// `python3` (so no console-script shim need be on `PATH`) inside `project`,
/// the folder holding `app.py`. `WIT` holds the world `plugin` in its
/// top-level files and every package it uses directly under `deps/`
/// (componentize-py reads no nested `deps/`). Its interpreter writes
/// `__pycache__/` beside the modules it compiles.
pub fn componentize(project: &Path, wit: &Path, out: &Path) -> Command {
    let mut command = Command::new("python3");
    command
        .args([
            "-c",
            "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())",
            "-d",
        ])
        .arg(wit)
        .args(["-w", "plugin", "componentize", "app", "-o"])
        .arg(out)
        .current_dir(project);
    command
}
