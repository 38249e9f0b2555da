//! Build-time tasks: `cargo run -p xtask -- dist [--out DIR]` writes the man page and the shell
//! completions, generated from the CLI definition the binary itself parses (the parsers
//! crate's `cli`, `parsers/src/cli.rs`), to `target/dist/` (or DIR):
//!
//! - `datasync-warden.8`: clap_mangen's NAME, SYNOPSIS, DESCRIPTION, OPTIONS and VERSION, a
//!   COMMANDS section built from the subcommands and their options, and the hand-written
//!   sections below (EXIT STATUS, SIGNALS, FILES, ENVIRONMENT, SEE ALSO);
//! - `completions/datasync-warden.bash`, `completions/_datasync-warden` (zsh),
//!   `completions/datasync-warden.fish`.
//!
//! The man page's date comes from `SOURCE_DATE_EPOCH` when set (reproducible packages), else
//! from the clock.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;

// The binary's own CLI definition, from the parsers crate: xtask depends on it and clap, not on
// the daemon's dependency tree (the AWS SDK), so it builds in seconds.
use datasync_warden_parsers::cli::Cli;

const BIN: &str = "datasync-warden";

/// Longer text for subcommands whose one-line help is not enough, shown under their entry in
/// COMMANDS. An entry naming no subcommand fails `dist`, so a renamed command cannot leave stale
/// text behind.
const DETAILS: &[(&str, &str)] = &[
    (
        "run",
        "The daemon. Activates once (or goes straight to monitoring when the state file or \
         \\fBagent.arn\\fR names the agent), then calls DescribeAgent every \
         \\fBmonitor.interval\\fR, raises \\fIoffline\\fR, \\fIstill_offline\\fR, \\fIrecovered\\fR, \
         \\fIapi_errors\\fR, \\fIapi_recovered\\fR and \\fIagent_missing\\fR alerts to journald and \
         to every alert destination (\\fB[[alerts.destinations]]\\fR: json, slack, pagerduty, teams, \
         alertmanager; \\fBalerts.webhook\\fR), and serves \\fB/healthz\\fR, \\fB/readyz\\fR, \\fB/status\\fR and \
         \\fB/metrics\\fR on \\fBhealth.listen\\fR. Speaks sd_notify (READY, STATUS, WATCHDOG at half \
         of WatchdogSec, RELOADING, STOPPING). Normally started by \\fBdatasync\\-warden.service\\fR.",
    ),
    (
        "check",
        "Probe the agent's activation port and, with \\fBchecks.control_ports\\fR, the endpoint IP \
         on TCP 443 and 1024\\(en1064 (22 with \\fBchecks.support_port\\fR), then the AWS side \
         (endpoint, subnet, security group, permissions) unless \\fBchecks.aws\\fR is false. \
         Probes run concurrently. Each result comes with a hint.",
    ),
    (
        "activate",
        "Run the checks, fetch a key, call CreateAgent, persist the state and print the agent ARN. \
         With an activated state, call DescribeAgent once and print the same ARN. Safe to run \
         again.",
    ),
    (
        "status",
        "Print the running daemon's view (its /status), or the state file plus one DescribeAgent \
         when no daemon answers on \\fBhealth.listen\\fR.",
    ),
    (
        "config show",
        "Print the merged configuration (the main file, then \\fIconfig.d/*.toml\\fR in lexical \
         order, a later file winning) with every default filled in, as TOML that reads back to \
         the same settings, or as JSON (\\fBfiles\\fR, \\fBinstance\\fR, \\fBsettings\\fR and, with \
         \\fB\\-\\-show\\-origin\\fR, \\fBorigins\\fR). Inline secrets print as \\fI(redacted)\\fR, \
         \\fB*_file\\fR keys as the file's name; no secret file is read, no network call made.",
    ),
    (
        "config check",
        "Validate the configuration as \\fBrun\\fR does at start, including the content of every \
         secret file it names (a bare credential name only when \\fB$CREDENTIALS_DIRECTORY\\fR is \
         set), without any network call; print \\fIconfiguration OK: FILES\\fR (\\fIconfiguration OK (instance NAME): FILES\\fR for an instance) and exit 0, or \
         exit 2 naming the file, line and key. For image pipelines, before a reload, and as \\fBExecStartPre=\\fR in a unit \
         of your own (the shipped units need none: \\fBrun\\fR validates first).",
    ),
];

/// DESCRIPTION, longer than the command's one-line `about` (which is NAME).
const DESCRIPTION: &str = r#".SH DESCRIPTION
.B datasync-warden
checks the network path to a DataSync agent, fetches its activation key, activates it with
CreateAgent through an interface VPC endpoint, and records the result in
\fI/var/lib/datasync-warden/state.json\fR so that it never activates twice, even across crashes
and golden-image clones. As a service (\fBrun\fR, started by \fBdatasync\-warden.service\fR) it
then monitors the agent and alerts while it is OFFLINE.
Every failure is printed with its whole cause chain and a hint saying what to change.
"#;

/// Hand-written sections appended after the generated ones (roff).
const EXTRA: &str = r#".SH "EXIT STATUS"
0 success; 1 a check or an operation failed, or the daemon cannot start (e.g. \fBhealth.listen\fR
is taken); 2 bad usage or invalid configuration (the unit does not restart on it).
.SH SIGNALS
.TP
.BR SIGTERM ", " SIGINT
Stop within a second (in-flight calls are cancelled; state writes are atomic).
.TP
.B SIGHUP
Reload the configuration (\fBsystemctl reload datasync\-warden\fR): [monitor], [alerts] and [checks]
apply at once; until the agent is activated, [agent], [endpoint] and [activation] apply from the
next attempt (afterwards the state file names the agent); [aws], [health] and [state] at the next
restart. A warning names what does not apply at once. An invalid configuration is refused and the
running one kept.
.SH FILES
.TP
.I /etc/datasync-warden/config.toml
Main configuration; every key is documented in the shipped, commented example.
.TP
.I /etc/datasync-warden/config.d/*.toml
Fragments applied after it in lexical order, e.g. \fI50-instance.toml\fR written by cloud-init.
The service starts only once at least one fragment exists. Files must be readable by the
service's dynamic user (mode 0644).
.TP
.I /etc/datasync-warden/environment
Optional, read by systemd as root (may be mode 0600): environment for the service, such as AWS
credentials where no instance role exists, or proxies.
.TP
.I /etc/datasync-warden/credentials/
A conventional root-only place for alert secrets (webhook URLs, PagerDuty routing keys, header
values), handed to the service with \fBLoadCredential=\fR\fIname\fR:\fIpath\fR in a drop-in and named
by a bare \fIname\fR in a \fB*_file\fR key. Read at start and on every reload (systemd copies
them at start: restart after rotating one); never logged.
.TP
.I /var/lib/datasync-warden/state.json
Activation state (mode 0600): agent ARN, name, endpoint, Region, time, token and the machine id.
A state written on another machine (a cloned image) is not trusted. Under the service,
\fI/var/lib/datasync-warden\fR is a symlink to \fI/var/lib/private/datasync-warden\fR.
.TP
.I /usr/lib/systemd/system/datasync-warden.service
The unit: Type=notify, WatchdogSec=60s, DynamicUser=yes, sandboxed. Override with
\fBsystemctl edit datasync\-warden\fR.
.TP
.IR /etc/datasync-warden/ NAME /config.toml ", " /etc/datasync-warden/ NAME /config.d/*.toml
The configuration of instance \fINAME\fR (\fB\-\-instance\fR \fINAME\fR, the template unit
\fBdatasync\-warden@\fR\fINAME\fR\fB.service\fR), one per agent when a host watches several.
Under an instance \fBhealth.listen\fR is required, \fBstate.dir\fR defaults to
\fI/var/lib/datasync-warden-NAME\fR (the main unit's or another instance's is refused) and
\fBagent.name\fR to \fIhostname\fR\-\fINAME\fR. \fINAME\fR is not \fIcredentials\fR or
\fIenvironment\fR.
.TP
.I /usr/lib/systemd/system/datasync-warden@.service
The template unit, one instance per agent, hardened as the main unit; not enabled by the package:
\fBsystemctl enable \-\-now datasync\-warden@\fR\fINAME\fR.
.TP
.I /usr/share/datasync-warden/monitoring/
Prometheus alerting rules (\fIalerts.yml\fR), their promtool unit tests (\fIalerts_test.yml\fR)
and a Grafana dashboard (\fIgrafana-dashboard.json\fR).
.TP
.I /usr/share/doc/datasync-warden/
README, changelog, golden-image guide (README.packaging.md), example fragment, and the
least-privilege IAM policy (iam-policy.json, explained in iam-policy.md).
.SH ENVIRONMENT
.TP
.B DATASYNC_WARDEN_LOG
Log level: error, warn, info (the unit's default), debug or trace. \fB\-v\fR and \fB\-vv\fR
take precedence.
.TP
.BR AWS_PROFILE ", " AWS_REGION ", " AWS_ENDPOINT_URL ", " AWS_MAX_ATTEMPTS ", " AWS_ACCESS_KEY_ID ", ..."
The AWS SDK's standard variables, as the SDK defines them.
.TP
.B CREDENTIALS_DIRECTORY
Set by systemd for \fBLoadCredential=\fR: where a bare name in \fBurl_file\fR,
\fBrouting_key_file\fR or \fBheader_files\fR is read from.
.TP
.BR HTTPS_PROXY ", " HTTP_PROXY ", " ALL_PROXY ", " NO_PROXY
Proxies for alert deliveries and AWS calls; set each in one case only (the alert client prefers
lowercase, the AWS SDK uppercase). The activation-key request and the port probes never use a
proxy. Put \fI169.254.169.254\fR (instance metadata) in \fBNO_PROXY\fR.
.SH "SEE ALSO"
.BR systemctl (1),
.BR journalctl (1),
.BR systemd.exec (5),
.BR machine-id (5)
"#;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["dist"] => dist(&default_out()),
        ["dist", "--out", dir] => dist(Path::new(dir)),
        ["man"] => man_source(),
        _ => Err("usage: cargo run -p xtask -- dist [--out DIR] | man".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn default_out() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("dist")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// A `[package]` field of the root Cargo.toml (the daemon's `version` and `description`): the
/// CLI compiled here would otherwise report xtask's own.
fn package_field(key: &str) -> Result<&'static str, String> {
    let path = root().join("Cargo.toml");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some((k, v)) = line.split_once(" = ")
            && k == key
        {
            // clap takes &'static str without its "string" feature; xtask runs once and exits.
            return Ok(Box::leak(v.trim_matches('"').to_string().into_boxed_str()));
        }
    }
    Err(format!("no [package] {key} in {}", path.display()))
}

/// The CLI definition, with the daemon's version and description.
fn command() -> Result<clap::Command, String> {
    Ok(Cli::command_for(
        package_field("version")?,
        package_field("description")?,
    ))
}

fn dist(out: &Path) -> Result<(), String> {
    let completions = out.join("completions");
    fs::create_dir_all(&completions).map_err(|e| format!("{}: {e}", completions.display()))?;

    let page = out.join(format!("{BIN}.8"));
    fs::write(&page, man_page()?).map_err(|e| format!("{}: {e}", page.display()))?;
    println!("{}", page.display());

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = command()?;
        let path = clap_complete::generate_to(shell, &mut cmd, BIN, &completions)
            .map_err(|e| format!("{shell} completions: {e}"))?;
        println!("{}", path.display());
    }
    Ok(())
}

/// The man page's source copy in the repository, for readers and reviews without a build.
/// `cargo test -p xtask` fails when it differs from what `dist` generates.
const MAN_SOURCE: &str = "docs/datasync-warden.8";

/// Regenerates [`MAN_SOURCE`].
fn man_source() -> Result<(), String> {
    let path = root().join(MAN_SOURCE);
    fs::write(&path, man_page()?).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

fn man_page() -> Result<Vec<u8>, String> {
    let mut cmd = command()?.disable_help_subcommand(true);
    cmd.build();
    let mut man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .source(format!("{BIN} {}", package_field("version")?));
    // Always a date: an empty .TH field would shift the source and manual fields left.
    man = man.date(date());
    let mut w = Vec::new();
    let io = |e: std::io::Error| e.to_string();
    man.render_title(&mut w).map_err(io)?;
    man.render_name_section(&mut w).map_err(io)?;
    man.render_synopsis_section(&mut w).map_err(io)?;
    w.write_all(DESCRIPTION.as_bytes()).map_err(io)?;
    man.render_options_section(&mut w).map_err(io)?;
    commands_section(&cmd, &mut w)?;
    w.write_all(EXTRA.as_bytes()).map_err(io)?;
    man.render_version_section(&mut w).map_err(io)?;
    Ok(w)
}

/// The subcommands by their full name (`status`, `config show`): one level of nesting.
fn subcommands(cmd: &clap::Command) -> Vec<(String, &clap::Command)> {
    let visible = |c: &&clap::Command| !c.is_hide_set();
    cmd.get_subcommands()
        .filter(visible)
        .flat_map(|s| {
            if s.has_subcommands() {
                s.get_subcommands()
                    .filter(visible)
                    .map(|c| (format!("{} {}", s.get_name(), c.get_name()), c))
                    .collect()
            } else {
                vec![(s.get_name().to_string(), s)]
            }
        })
        .collect()
}

/// COMMANDS: each subcommand with its synopsis, its help, the detail text and its own options.
fn commands_section(cmd: &clap::Command, w: &mut Vec<u8>) -> Result<(), String> {
    let subs = subcommands(cmd);
    for (name, _) in DETAILS {
        if !subs.iter().any(|(s, _)| s == name) {
            return Err(format!(
                "xtask DETAILS names `{name}`, which is no subcommand"
            ));
        }
    }
    let mut out = String::from(".SH COMMANDS\n");
    for (name, sub) in subs {
        let name = name.as_str();
        let detail = DETAILS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d);
        let args: Vec<&clap::Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_long() != Some("help"))
            .filter(|a| a.get_long().is_some() || a.get_short().is_some())
            .collect();
        out.push_str(".TP\n");
        out.push_str(&format!("\\fB{}\\fR", esc(name)));
        for a in &args {
            out.push_str(&format!(" [{}]", flag(a)));
        }
        out.push('\n');
        if let Some(about) = sub.get_about() {
            out.push_str(&format!("{}\n", esc(&sentence(&about.to_string()))));
        }
        if let Some(detail) = detail {
            out.push_str(".sp\n");
            out.push_str(detail);
            out.push('\n');
        }
        for a in args {
            out.push_str(".RS\n.TP\n");
            out.push_str(&flag(a));
            out.push('\n');
            let mut help = sentence(&a.get_help().map(|h| h.to_string()).unwrap_or_default());
            let values: Vec<String> = a
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if !values.is_empty() {
                help.push_str(&format!(" One of: {}.", values.join(", ")));
            }
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() {
                help.push_str(&format!(" Default: {}.", defaults.join(", ")));
            }
            out.push_str(&esc(help.trim()));
            out.push_str("\n.RE\n");
        }
    }
    w.extend_from_slice(out.as_bytes());
    Ok(())
}

/// `text` as a sentence: ends with a period.
fn sentence(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() || t.ends_with(['.', '!', '?']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

/// `\fB--format\fR \fIFORMAT\fR`.
fn flag(a: &clap::Arg) -> String {
    let mut s = match (a.get_short(), a.get_long()) {
        (Some(c), Some(l)) => format!("\\fB\\-{c}\\fR, \\fB\\-\\-{}\\fR", esc(l)),
        (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", esc(l)),
        (Some(c), None) => format!("\\fB\\-{c}\\fR"),
        (None, None) => String::new(),
    };
    if a.get_action().takes_values() {
        let value = a
            .get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.to_string())
            .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
        s.push_str(&format!(" \\fI{}\\fR", esc(&value)));
    }
    s
}

/// Escapes text for roff: backslashes, hyphens (so they render as ASCII), and leading dots or
/// apostrophes that would read as requests.
fn esc(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible builds), else now, as YYYY-MM-DD (UTC).
fn date() -> String {
    let secs: i64 = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    let days = secs.div_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page without its `.TH` line, which carries the date.
    fn undated(page: &str) -> String {
        page.lines()
            .filter(|l| !l.starts_with(".TH "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_committed_man_page_is_the_generated_one() {
        let generated = String::from_utf8(man_page().unwrap()).unwrap();
        let committed = fs::read_to_string(root().join(MAN_SOURCE)).unwrap();
        assert!(
            undated(&generated) == undated(&committed),
            "{MAN_SOURCE} is stale (the CLI or xtask changed): run `cargo run -p xtask -- man`"
        );
    }

    #[test]
    fn the_man_page_documents_every_subcommand_and_the_contract_files() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        for needle in [
            "\\fBrun\\fR",
            "\\fBcheck\\fR",
            "\\fBfetch\\-key\\fR",
            "\\fBactivate\\fR",
            "\\fBstatus\\fR",
            "/etc/datasync-warden/config.d/*.toml",
            "/var/lib/datasync-warden/state.json",
            ".SH \"EXIT STATUS\"",
            ".SH SIGNALS",
        ] {
            assert!(page.contains(needle), "man page lacks {needle:?}");
        }
    }
}
