//! `empi-infra`: the command line; everything it does is the library's (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    empi_infra::main()
}
