//! Standard output for the commands. `println!` panics when the reader has gone
//! (`nzj jobs ls | head -1`); here a closed pipe ends the program quietly with success, as Unix
//! tools do, and any other write error ends it with a message.

use std::io::Write;

pub fn write(text: std::fmt::Arguments) {
    let result = std::io::stdout().lock().write_fmt(text);
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("nzj: cannot write to standard output: {e}");
            std::process::exit(1)
        }
    }
}

/// `print!` for command output (see the module).
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::write(format_args!($($arg)*)) };
}

/// `println!` for command output (see the module).
macro_rules! outln {
    () => { $crate::out::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::write(format_args!("{}\n", format_args!($($arg)*))) };
}
