//! guestbench command line (see the library docs and `guestbench help`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match guestbench::parse_args(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("guestbench: {e}");
            eprint!("{}", guestbench::USAGE);
            return ExitCode::from(2);
        }
    };
    match guestbench::run(&cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // on stdout too: on the Linux guest's console the two streams interleave anyway,
            // and a dom0 hook's expect_output sees both
            println!("GUESTBENCH error message={}", e.replace(' ', "_"));
            eprintln!("guestbench: {e}");
            ExitCode::FAILURE
        }
    }
}
