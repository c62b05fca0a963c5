//! `pin-bench`: drives a separately started `pin-server` over real gRPC and reports each
//! scenario's throughput and latency against ceilings measured in the same run. See
//! `pin_tests::bench` for what a run does, `pin-bench --help` for the options, and
//! `tests/bench/run.sh` to build, start a server on a fresh database and run it.

use std::process::ExitCode;

use clap::Parser;
use pin_tests::bench::{self, Options};

fn main() -> ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pin-bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench::run(&options)) {
        Ok(report) => {
            print!("{}", report.table());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pin-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
