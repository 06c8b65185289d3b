//! The bash completion script that `physmap-inspect completions bash` prints completes what
//! the command line has: the commands, each command's options, and the values of an
//! option, run in a real bash (the completion function called as bash calls it on TAB).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn script(shell: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_physmap-inspect"))
        .args(["completions", shell])
        .output()
        .expect("run physmap-inspect");
    assert!(out.status.success(), "completions {shell} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// What bash offers for the last of `words` (the one being completed).
fn complete(words: &[&str]) -> Vec<String> {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("physmap-completions-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("physmap-inspect.bash");
    std::fs::write(&file, script("bash")).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            r#". "$0"
            fn=$(complete -p physmap-inspect | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
            COMP_WORDS=(physmap-inspect "$@"); COMP_CWORD=$#
            COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
            "$fn" physmap-inspect "${!#}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg(&file)
        .args(words)
        .output()
        .expect("run bash");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    got.sort();
    got
}

/// The tool's commands, as every shell's completions must offer them.
const COMMANDS: [&str; 6] = [
    "section",
    "savefile",
    "convert",
    "xenstore",
    "host",
    "completions",
];

#[test]
fn bash_completes_the_commands() {
    let got = complete(&[""]);
    for c in COMMANDS.iter().chain(&["--help"]) {
        assert!(got.iter().any(|g| g == c), "{c} not in {got:?}");
    }
    assert_eq!(complete(&["ho"]), ["host"]);
}

#[test]
fn bash_completes_a_commands_options_and_their_values() {
    assert_eq!(
        complete(&["convert", "--to", ""]),
        ["kv", "legacy", "legacy32"]
    );
    let got = complete(&["section", "--"]);
    for o in ["--format", "--json", "--help"] {
        assert!(got.iter().any(|g| g == o), "{o} not in {got:?}");
    }
    let got = complete(&["host", "--"]);
    for o in ["--libxenlight", "--json", "--help"] {
        assert!(got.iter().any(|g| g == o), "{o} not in {got:?}");
    }
    assert_eq!(
        complete(&["completions", "f"]),
        ["fish"],
        "the shells of `completions`"
    );
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    for shell in ["zsh", "fish"] {
        let s = script(shell);
        for c in COMMANDS {
            assert!(s.contains(c), "the {shell} script lacks {c}");
        }
    }
}
