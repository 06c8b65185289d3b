//! docs/physmap-inspect.1 stays in step with the command line: the commands, each command's
//! options and the values they take, as `--help` prints them (clap's definition), are the
//! man page's, and the man page names nothing the tool does not have.

use std::collections::BTreeSet;
use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_physmap-inspect"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run physmap-inspect");
    assert!(
        out.status.success(),
        "physmap-inspect {args:?} --help failed"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The man page as text: roff's `\-` is `-`, requests and fonts stripped.
fn man_page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/physmap-inspect.1");
    std::fs::read_to_string(path)
        .expect("read docs/physmap-inspect.1")
        .replace("\\-", "-")
}

/// Lines of a `--help` section (`Commands:`, `Options:`, `Arguments:`) up to the next one.
fn section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect()
}

/// The commands of `physmap-inspect --help`, without clap's `help`.
fn commands() -> Vec<String> {
    let top = help(&[]);
    let names: Vec<String> = section(&top, "Commands:")
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 4, "too few commands in --help: {names:?}");
    names
}

/// Words of the form `--name` in a text.
fn long_options(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .collect()
}

/// The values of every `[possible values: a, b]` in a text.
fn possible_values(text: &str) -> BTreeSet<String> {
    text.split("[possible values: ")
        .skip(1)
        .flat_map(|rest| rest.split(']').next().unwrap().split(", "))
        .map(str::to_string)
        .collect()
}

/// The man page's SYNOPSIS lines of one command: from `.B physmap-inspect CMD` to `.br`.
fn synopsis(man: &str, command: &str) -> String {
    let head = format!(".B physmap-inspect {command}");
    let lines: Vec<&str> = man
        .lines()
        .skip_while(|l| *l != head)
        .take_while(|l| *l != ".br")
        .collect();
    lines.join("\n")
}

/// The man page's COMMANDS entry of one command: from `.B CMD` after a `.TP` to the next
/// `.TP` or `.SH`.
fn entry(man: &str, command: &str) -> String {
    let lines: Vec<&str> = man.lines().collect();
    let start = lines
        .windows(2)
        .position(|w| w[0] == ".TP" && w[1] == format!(".B {command}"))
        .unwrap_or_else(|| panic!("the man page's COMMANDS has no entry for {command}"));
    lines[start + 2..]
        .iter()
        .take_while(|l| !l.starts_with(".TP") && !l.starts_with(".SH"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_command_of_the_help_is_in_the_man_page_and_no_other() {
    let man = man_page();
    let ours: BTreeSet<String> = commands().into_iter().collect();
    let synopsis_commands: BTreeSet<String> = man
        .lines()
        .filter_map(|l| l.strip_prefix(".B physmap-inspect "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|w| !w.starts_with('-'))
        .map(str::to_string)
        .collect();
    assert_eq!(synopsis_commands, ours, "SYNOPSIS commands vs --help's");
    for c in &ours {
        entry(&man, c);
    }
}

#[test]
fn each_commands_options_and_values_are_those_of_its_help() {
    let man = man_page();
    for c in commands() {
        let help = help(&[&c]);
        let mut options = long_options(&section(&help, "Options:").join("\n"));
        options.remove("--help");
        let syn = synopsis(&man, &c);
        assert_eq!(
            long_options(&syn),
            options,
            "options of `{c}`: the man page's SYNOPSIS vs `physmap-inspect {c} --help`"
        );
        let documented = format!("{syn}\n{}", entry(&man, &c));
        for value in possible_values(&help) {
            let found = documented
                .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-'))
                .any(|w| w == value);
            assert!(
                found,
                "`{c}` takes the value {value}, which its man page text does not name"
            );
        }
    }
}

#[test]
fn the_man_page_is_of_this_version() {
    let man = man_page();
    let th = man
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect(".TH line");
    assert!(
        th.contains(&format!("\"physmap-hooks {}\"", env!("CARGO_PKG_VERSION"))),
        "{th}"
    );
}
