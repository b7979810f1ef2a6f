//! logmon: follow the systemd journal and mail an alert when an entry looks
//! like trouble. This file wires the command line to the monitor and maps
//! errors to exit codes (0 ok, 1 runtime failure, 2 usage or config error).

#![deny(unsafe_code)]

mod batch;
mod cli;
mod compat;
mod config;
mod daemon;
mod delivery;
mod engine;
mod error;
mod expect;
mod files;
#[cfg(test)]
mod fuzzing;
mod identity;
mod jfiles;
#[allow(unsafe_code)]
mod journal;
mod keeper;
mod log;
mod mail;
// The unwinder of a binary that never unwinds (see the file and build.rs).
#[cfg(panic = "abort")]
#[allow(unsafe_code)]
mod nounwind;
mod outbox;
mod plan;
mod position;
mod prescreen;
mod reader;
mod rules;
#[allow(unsafe_code)]
mod sigbus;
mod state;
mod stats;
#[allow(unsafe_code)]
mod sys;
#[cfg(test)]
mod testing;

use crate::cli::Command;
use crate::config::{Config, Source};
use crate::delivery::{Job, Outcome};
use crate::error::{Context, Error};
use crate::log::{log, ERR, WARNING};
use std::path::PathBuf;

const DEFAULT_CONFIG: &str = "/etc/logmon.conf";

fn main() {
    let code = match run() {
        Ok(code) => code,
        Err(e) => {
            log!(ERR, "{e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run() -> Result<i32, Error> {
    let opts = match cli::parse(std::env::args().skip(1)).map_err(Error::Usage)? {
        Command::Help => {
            print!("{}", cli::USAGE);
            return Ok(0);
        }
        Command::Version => {
            println!("logmon {}", env!("CARGO_PKG_VERSION"));
            return Ok(0);
        }
        Command::Run(o) => o,
    };
    let config_path = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let mut config = match Config::load(&config_path) {
        // --check prints the bare `FILE:LINE: message` lines, for people.
        Err(Error::Config(lines)) if opts.check => {
            for line in lines {
                eprintln!("{line}");
            }
            return Ok(2);
        }
        other => other?,
    };
    if let Some(dir) = &opts.directory {
        config.source = Source::Directory(dir.clone());
    }
    if let Some(ns) = &opts.namespace {
        config.source = Source::Namespace(ns.clone());
    }
    if opts.check {
        if let (Some(why), Source::Namespace(ns)) =
            (compat::unsupported_source(&config.source), &config.source)
        {
            match opts.namespace {
                Some(_) => eprintln!("--namespace {ns}: {why}"),
                None => eprintln!("{}: namespace = {ns}: {why}", config_path.display()),
            }
            return Ok(2);
        }
        // Like compiler warnings: on stderr, in the errors' form, exit 0.
        for warning in &config.warnings {
            eprintln!("{warning}");
        }
        print!("{}", config.summary());
        if config.source == Source::Local && !sys::can_read_system_journal() {
            println!("  warning:  this user cannot read the system journal; add it to group systemd-journal");
        }
        // Files from elsewhere may be newer than this libsystemd; the local
        // journal is this system's own (and --check stays out of it).
        if config.source != Source::Local {
            let mut journal = reader::open_journal(&config.source);
            let journal = journal
                .as_mut()
                .map_err(|e| std::io::Error::other(e.to_string()));
            if let Some(text) = compat::nothing_read(&config.source, journal) {
                println!("  warning:  {text}");
            }
        }
        return Ok(0);
    }
    if opts.test_mail {
        test_mail(&config, opts.dry_run)?;
        return Ok(0);
    }
    // Before the journal is opened: survive a journal file truncated under
    // us, and let libsystemd open every file (issue 8).
    if let Err(e) = sigbus::install() {
        log!(
            WARNING,
            "cannot catch SIGBUS ({e}): a journal file truncated while read will kill logmon"
        );
    }
    if let Err(e) = sys::raise_nofile_limit() {
        log!(
            WARNING,
            "cannot raise the open-file limit to its hard limit: {e}"
        );
    }
    // Block the signals before anything else can be interrupted by them.
    let stats = opts.stats;
    let signals = if opts.once || stats {
        None
    } else {
        Some(sys::SignalFd::new().context(|| "setting up signal handling".into())?)
    };
    let run_opts = daemon::RunOptions {
        once: opts.once || stats,
        dry_run: opts.dry_run || stats,
        since: match (&opts.since, stats) {
            (None, true) => Some(cli::Since::Boot),
            (since, _) => since.clone(),
        },
        stats,
    };
    let mut monitor = daemon::Daemon::new(config, run_opts, identity::own_identity())?;
    monitor.position()?;
    if stats {
        print!("{}", monitor.run_stats()?);
        return Ok(0);
    }
    match signals {
        None => Ok(if monitor.run_once()? { 0 } else { 1 }),
        Some(signals) => {
            monitor.follow(&config_path, &signals)?;
            Ok(0)
        }
    }
}

/// `--test-mail`: one test alert through the configured mail path.
fn test_mail(config: &Config, dry_run: bool) -> Result<(), Error> {
    let mut pending = crate::batch::Pending::default();
    let now = sys::realtime_secs();
    pending.add(crate::batch::Alert {
        time_usec: now.max(0) as u64 * 1_000_000,
        host: sys::hostname(),
        unit: "logmon".into(),
        pid: sys::getpid().to_string(),
        message: "test alert from logmon --test-mail: if you read this, alerts reach you".into(),
        rule: 0,
        message_id: None,
        context: Vec::new(),
    });
    let local = sys::localtime(now);
    let rules = [mail::RuleInfo {
        label: "logmon --test-mail".into(),
        origin: "logmon --test-mail".into(),
        tag: None,
    }];
    let config_path = config.path.display().to_string();
    let context = mail::Context {
        rules: &rules,
        config: &config_path,
    };
    // Every route: each recipient set of the config gets its own mail.
    let mut failed = None;
    for to in &config.routes {
        let message = mail::compose(
            &pending,
            &config.mail.from,
            to,
            &mail::rfc5322_date(&local),
            &daemon::format_time,
            &context,
        );
        if dry_run {
            print!("{}", mail::mbox_entry(&message, &local));
            continue;
        }
        let job = Job::start(
            &config.mail.sendmail,
            to,
            message.into_bytes(),
            config.mail.timeout_ms,
            sys::monotonic_ms(),
        )
        .map_err(Error::Runtime)?;
        let (outcome, said) = job.run_to_end();
        for line in said.lines().filter(|l| !l.trim().is_empty()) {
            eprintln!("{}: {line}", config.mail.sendmail.display());
        }
        match outcome {
            Outcome::Accepted => println!(
                "test mail to {} accepted by {}",
                to.join(", "),
                config.mail.sendmail.display()
            ),
            Outcome::Failed(why) => {
                eprintln!("test mail to {} failed: {why}", to.join(", "));
                failed = Some(why);
            }
        }
    }
    match failed {
        Some(why) => Err(Error::Runtime(why)),
        None => Ok(()),
    }
}
