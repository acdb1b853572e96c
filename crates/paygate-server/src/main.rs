//! `paygate`: the operator's binary. Everything lives in the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    paygate_server::cli::main()
}
