//! The command line: a hand-written parser with one usage string.

use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: logmon [-c FILE] [--check] [--once] [--dry-run] [--stats] [--since WHEN]
              [--directory DIR | --namespace NS] [--test-mail] [-V] [-h]

Follow the systemd journal and mail an alert when an entry looks like trouble.

  -c, --config FILE   config file (default /etc/logmon.conf)
      --check         validate the config, print a summary, exit
      --once          read to the current end of the journal, send, exit
      --dry-run       print mails to stdout (mbox) instead of sending them;
                      the saved position is left untouched
      --stats         read like --once --dry-run (no mail, state untouched) and
                      print what each rule did and the most frequent alerts,
                      each with an [ignore] block; from the current boot
                      unless --since says otherwise
      --since WHEN    start at: tail, cursor, boot, -1h/-30m/-2d,
                      or 'YYYY-MM-DD[ HH:MM[:SS]]' (local time)
      --directory DIR read journal files in DIR instead
      --namespace NS  read the journal namespace NS instead
      --test-mail     send one test alert through the mail path, exit
  -V, --version       print the version
  -h, --help          print this help

Exit status: 0 success, 1 runtime failure, 2 usage or config error.
";

/// Where to start reading, from `--since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// The end of the journal: only new entries.
    Tail,
    /// The saved cursor (the default when one exists).
    Cursor,
    /// The start of the current boot.
    Boot,
    /// This many seconds ago.
    Ago(u64),
    /// A local date and time: year, month, day, hour, minute, second.
    At(i32, u32, u32, u32, u32, u32),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub check: bool,
    pub once: bool,
    pub dry_run: bool,
    pub since: Option<Since>,
    pub directory: Option<PathBuf>,
    pub namespace: Option<String>,
    pub test_mail: bool,
    pub stats: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Help,
    Version,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--opt VALUE` and `--opt=VALUE`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-c" | "--config" => o.config = Some(PathBuf::from(value("a file")?)),
            "--check" => o.check = true,
            "--once" => o.once = true,
            "--dry-run" => o.dry_run = true,
            "--test-mail" => o.test_mail = true,
            "--stats" => o.stats = true,
            "--since" => o.since = Some(parse_since(&value("a time")?)?),
            "--directory" | "-D" => o.directory = Some(PathBuf::from(value("a directory")?)),
            "--namespace" => o.namespace = Some(value("a namespace")?),
            _ => return Err(format!("unknown argument '{arg}'")),
        }
        if inline.is_some()
            && matches!(
                name.as_str(),
                "--check" | "--once" | "--dry-run" | "--test-mail" | "--stats"
            )
        {
            return Err(format!("{name} takes no value"));
        }
    }
    if o.directory.is_some() && o.namespace.is_some() {
        return Err("give only one of --directory and --namespace".into());
    }
    Ok(Command::Run(o))
}

/// `tail`, `cursor`, `boot`, `-1h`/`-30m`/`-2d`/`-90s`, or
/// `YYYY-MM-DD[ HH:MM[:SS]]`.
pub fn parse_since(s: &str) -> Result<Since, String> {
    let bad = || {
        format!("bad --since '{s}': use tail, cursor, boot, -1h, -30m, -2d or 'YYYY-MM-DD[ HH:MM[:SS]]'")
    };
    match s {
        "tail" | "now" => return Ok(Since::Tail),
        "cursor" => return Ok(Since::Cursor),
        "boot" => return Ok(Since::Boot),
        _ => {}
    }
    if let Some(rel) = s.strip_prefix('-') {
        let split = rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len());
        let (num, unit) = rel.split_at(split);
        let factor = match unit {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        return num
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .map(Since::Ago)
            .ok_or_else(bad);
    }
    let (date, time) = s.split_once(' ').unwrap_or((s, "00:00:00"));
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.trim().split(':').collect();
    if d.len() != 3 || !(2..=3).contains(&t.len()) {
        return Err(bad());
    }
    let num = |x: &str, lo: u32, hi: u32| {
        x.parse::<u32>()
            .ok()
            .filter(|n| {
                (lo..=hi).contains(n) && !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit())
            })
            .ok_or_else(bad)
    };
    let (year, month, day) = (num(d[0], 1970, 9999)?, num(d[1], 1, 12)?, num(d[2], 1, 31)?);
    // mktime(3) would roll 2026-02-31 over into March without a word.
    if day > days_in_month(year, month) {
        return Err(format!("bad --since '{s}': {date} is not a date"));
    }
    Ok(Since::At(
        year as i32,
        month,
        day,
        num(t[0], 0, 23)?,
        num(t[1], 0, 59)?,
        // No :60: a leap second has no POSIX time of its own.
        t.get(2).map_or(Ok(0), |x| num(x, 0, 59))?,
    ))
}

/// Days in `month` (1-12) of `year`, Gregorian leap years.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("tail"), Ok(Since::Tail));
        assert_eq!(parse_since("cursor"), Ok(Since::Cursor));
        assert_eq!(parse_since("boot"), Ok(Since::Boot));
        assert_eq!(parse_since("-1h"), Ok(Since::Ago(3600)));
        assert_eq!(parse_since("-30m"), Ok(Since::Ago(1800)));
        assert_eq!(parse_since("-2d"), Ok(Since::Ago(172_800)));
        assert_eq!(parse_since("-90s"), Ok(Since::Ago(90)));
        assert_eq!(
            parse_since("2026-11-26"),
            Ok(Since::At(2026, 11, 26, 0, 0, 0))
        );
        assert_eq!(
            parse_since("2026-11-26 08:05"),
            Ok(Since::At(2026, 11, 26, 8, 5, 0))
        );
        assert_eq!(
            parse_since("2026-11-26 08:05:09"),
            Ok(Since::At(2026, 11, 26, 8, 5, 9))
        );
        for bad in [
            "",
            "-",
            "-1",
            "-1y",
            "-h",
            "yesterday",
            "2026-13-01",
            "2026-11-26 25:00",
            "2026-11",
            "2026-1-+1",
            "2026-11-26 08",
            "2026-11-26 08:05:60",
            "2026-02-31",
            "2026-02-29",
            "2100-02-29",
            "2026-04-31",
            "2026-06-31 12:00",
            "2026-09-31",
            "2026-11-31",
            "2026-01-32",
        ] {
            assert!(parse_since(bad).is_err(), "{bad:?} should be rejected");
        }
        for (good, day) in [
            ("2024-02-29", 29),
            ("2000-02-29", 29),
            ("2026-02-28", 28),
            ("2026-01-31", 31),
            ("2026-04-30", 30),
            ("2026-12-31", 31),
        ] {
            assert!(
                matches!(parse_since(good), Ok(Since::At(_, _, d, 0, 0, 0)) if d == day),
                "{good:?} should be accepted"
            );
        }
        assert!(parse_since("2026-02-31")
            .unwrap_err()
            .contains("not a date"));
    }

    #[test]
    fn options() {
        let Ok(Command::Run(o)) = run(&[
            "-c",
            "x.conf",
            "--once",
            "--dry-run",
            "--since=-1h",
            "--directory",
            "/d",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(o.config, Some(PathBuf::from("x.conf")));
        assert!(o.once && o.dry_run && !o.check);
        assert_eq!(o.since, Some(Since::Ago(3600)));
        assert_eq!(o.directory, Some(PathBuf::from("/d")));
        assert_eq!(run(&["--help"]), Ok(Command::Help));
        assert_eq!(run(&["-V"]), Ok(Command::Version));
        assert!(run(&["--bogus"]).is_err());
        assert!(run(&["-c"]).is_err());
        assert!(run(&["--once=yes"]).is_err());
        assert!(run(&["--directory", "a", "--namespace", "b"]).is_err());
    }
}
