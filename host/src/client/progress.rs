//! Progress of a long call, on a terminal only: a bar while a package
//! uploads, then a spinner while the server validates and compiles it (a
//! JavaScript or Python component takes seconds). Nothing is drawn when
//! stderr is not a terminal, so scripts and `--json` output stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// An upload's progress display.
pub struct Upload {
    bar: ProgressBar,
    length: u64,
}

impl Upload {
    /// Starts showing the upload of `file`, `length` bytes.
    pub fn start(file: &Path, length: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} {wide_bar} {bytes}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        bar.set_message(format!("uploading {name}"));
        Self { bar, length }
    }

    /// `reader`, counting its bytes into the display; when all are read,
    /// the display turns into a spinner until [`Upload::finish`].
    pub fn wrap<R: Read>(&self, reader: R) -> Counted<R> {
        Counted {
            reader,
            bar: self.bar.clone(),
            read: 0,
            length: self.length,
        }
    }

    /// Clears the display.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// A reader that moves an [`Upload`]'s display.
pub struct Counted<R> {
    reader: R,
    bar: ProgressBar,
    read: u64,
    length: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.read += n as u64;
        self.bar.set_position(self.read);
        if self.read >= self.length && n > 0 {
            self.bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            self.bar
                .set_message("uploaded; the server is checking and compiling the package");
            self.bar.enable_steady_tick(Duration::from_millis(120));
        }
        Ok(n)
    }
}
