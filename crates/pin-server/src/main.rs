//! `pin-server`: the INPS PIN identity service's single binary.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use pin_server::{
    cli::{self, AuditCommand, Cli, Command, RegistryCommand},
    telemetry,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("pin-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = cli.load_config()?;
    if let Command::Serve {
        listen: Some(listen),
    } = &cli.command
    {
        config.listen = *listen;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Only the server exports traces and metrics; the other commands just log, and
        // `check-config` checks the OpenTelemetry variables too.
        let exports = match cli.command {
            Command::Serve { .. } | Command::CheckConfig => {
                telemetry::Exports::from_env(|name| std::env::var(name).ok())?
            }
            _ => telemetry::Exports::default(),
        };
        let serving = matches!(cli.command, Command::Serve { .. });
        let telemetry = telemetry::init(
            &config.log,
            if serving {
                exports
            } else {
                telemetry::Exports::default()
            },
        )?;
        match cli.command {
            Command::Serve { .. } => {
                let served = cli::serve(config).await;
                telemetry.shutdown(telemetry::FLUSH_BOUND).await;
                served.map(|()| ExitCode::SUCCESS)
            }
            Command::Migrate => cli::migrate(&config).await.map(|()| ExitCode::SUCCESS),
            Command::CheckConfig => {
                cli::check_config(&config);
                Ok(ExitCode::SUCCESS)
            }
            Command::Audit {
                command: AuditCommand::Verify,
            } => cli::verify_audit(&config).await.map(|intact| {
                if intact {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }),
            Command::Registry {
                command: RegistryCommand::Import { file },
            } => cli::import(&config, &file).await.map(|all_accepted| {
                if all_accepted {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }),
        }
    })
}
