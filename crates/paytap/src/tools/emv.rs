use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Cmd {}

pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {}
}
