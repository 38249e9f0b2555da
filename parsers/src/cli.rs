//! The command line: the subcommands and options are an interface contract (scripts and
//! images depend on them): extend, never rename.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::config::{Instance, Source};

/// Activates an AWS DataSync agent through a private VPC endpoint, then keeps watch over it.
///
/// The version and the one-line description are the binary's package's, given to
/// [`Cli::command_for`]: a bare `version`/`about` here would name this crate's.
#[derive(Debug, Parser)]
#[command(name = "datasync-warden", long_about = None)]
pub struct Cli {
    /// Main configuration file; `config.d/*.toml` beside it are applied after it, in order.
    /// [default: /etc/datasync-warden/config.toml, or /etc/datasync-warden/NAME/config.toml
    /// with --instance NAME]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Run as instance NAME of several on this host (the template unit
    /// datasync-warden@NAME.service): its configuration in /etc/datasync-warden/NAME/, its state
    /// in /var/lib/datasync-warden-NAME, agent name <hostname>-NAME; health.listen is required.
    #[arg(long, global = true, value_name = "NAME", value_parser = Instance::parse)]
    pub instance: Option<Instance>,
    /// More log output (-v debug, -vv trace). DATASYNC_WARDEN_LOG=level also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: activate once, then monitor the agent.
    Run,
    /// Check the prerequisites (network path, VPC endpoint, permissions) and report.
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Fetch an activation key from the agent and print it on stdout.
    FetchKey,
    /// Activate the agent (idempotent) and print its ARN.
    Activate {
        /// Use this key (e.g. from the agent's local console) instead of fetching one: the key
        /// itself, `-` to read it from standard input, or the path of a file holding it (stdin
        /// and a root-only file keep the key out of `ps` and shell history).
        #[arg(long, value_name = "KEY|-|FILE")]
        activation_key: Option<String>,
    },
    /// Show the agent's state.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Inspect the configuration (no network call).
    Config {
        /// What to do with it.
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the merged configuration the daemon would run with: every key, defaults filled
    /// in, secrets redacted.
    Show {
        /// Name the file and line (or "default") each value came from.
        #[arg(long)]
        show_origin: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Toml)]
        format: ShowFormat,
    },
    /// Validate the configuration and the secret files it names, without any network call:
    /// exit 0 when the daemon would accept it, 2 (with the file, key and reason) when not.
    Check,
}

/// `config show` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// TOML the daemon reads back (with --show-origin, origins as comments).
    Toml,
    /// For pipelines: {"files", "instance", "settings"[, "origins"]}.
    Json,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For pipelines (stable schema, see the README).
    Json,
}

impl Cli {
    /// The configuration these options name.
    pub fn source(&self) -> Source {
        Source::new(self.config.clone(), self.instance.clone())
    }

    /// The command definition with the binary's `version` and `about` (its package's
    /// `CARGO_PKG_VERSION` and `CARGO_PKG_DESCRIPTION`); the man page uses the same.
    pub fn command_for(version: &'static str, about: &'static str) -> clap::Command {
        Cli::command().version(version).about(about)
    }

    /// Parses this process's arguments against [`Cli::command_for`]; on bad usage, `--help`
    /// or `--version`, prints and exits as clap does.
    pub fn parse_for(version: &'static str, about: &'static str) -> Cli {
        let matches = Cli::command_for(version, about).get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}
