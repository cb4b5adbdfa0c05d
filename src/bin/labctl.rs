//! labctl: run the remote-write lab natively and prove it end to end.

fn main() -> std::process::ExitCode {
    remote_write_lab::lab::cli::main()
}
