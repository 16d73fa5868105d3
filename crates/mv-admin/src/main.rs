use std::process::ExitCode;

fn main() -> ExitCode {
    mv_admin::main()
}
