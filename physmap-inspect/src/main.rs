//! physmap-inspect: look at physmap sections, savefiles and live xenstore records.
//!
//! The command line is parsed by clap (derive), `--json` is written by serde_json; both stay
//! out of the library's dependency tree (this crate is its own package of the workspace).
//!
//! Exit codes: 0 success, 1 invalid input (or an unreachable xenstore), 2 usage error.

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use physmap_hooks::error::Reason;
use physmap_hooks::format::{self, Format};
use physmap_hooks::hooks::{self, Domain};
use physmap_hooks::savefile::{self, Layer};
use physmap_hooks::xenstore::Xenstore;
use physmap_hooks::Section;
use serde::Serialize;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write as _};
use std::process::ExitCode;

mod host;

const NAME: &str = "physmap-inspect";

/// Show, validate and convert QEMU's Xen physmap records: raw sections, `xl save` files and
/// a domain's live xenstore records.
#[derive(Parser)]
#[command(
    name = NAME,
    version,
    // A missing command is a one-line usage error like any other, not the whole help.
    arg_required_else_help = false,
    after_help = "`physmap-inspect <COMMAND> --help` describes one command.\n\
                  Exit status: 0 ok, 1 invalid input (or an unreachable xenstore), 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a raw physmap section (the bytes a save hook produces)
    #[command(
        long_about = "Decodes and validates FILE as a physmap section and prints its records.\n\
                      An empty FILE is a valid, empty section (0 records) and is reported as such."
    )]
    Section {
        /// The section file
        file: String,
        /// The section's format; auto detects it
        #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
        format: InputFormat,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Walk an `xl save` file and show the physmap records it carries
    #[command(
        long_about = "Checks the xl header of FILE, walks the libxl stream and the libxc stream inside it\n\
                      (seeking over page data, so any size works in constant memory), and prints the physmap\n\
                      records of each EMULATOR_XENSTORE_DATA record."
    )]
    Savefile {
        /// The savefile
        file: String,
        /// Also print one line per record of both streams
        #[arg(long)]
        records: bool,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Re-encode a section in another format (validating it)
    #[command(
        long_about = "Decodes IN (validating every record) and writes it to OUT in the other format.\n\
                      An empty IN is a valid, empty section (0 records); a note on stderr says so."
    )]
    Convert {
        /// The format of IN; auto detects it
        #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
        from: InputFormat,
        /// The format to write
        #[arg(long, value_enum)]
        to: OutputFormat,
        /// The section to read
        #[arg(value_name = "IN")]
        input: String,
        /// The file to write
        #[arg(value_name = "OUT")]
        output: String,
    },
    /// Show a domain's live records (honours XENSTORED_PATH)
    #[command(
        long_about = "Reads /local/domain/M/device-model/N/physmap (M defaults to 0) in one transaction and\n\
                      prints its records, validated like a save. Connects with xs_open(0): set XENSTORED_PATH\n\
                      to use another socket."
    )]
    Xenstore {
        /// The guest's domain id
        #[arg(long, value_name = "N")]
        domid: u32,
        /// The device model's domain id
        #[arg(long, value_name = "M", default_value_t = 0)]
        dm_domid: u32,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Tell whether this host's toolstack would run the library, and why
    #[command(
        long_about = "Answers, without a guest and without running xl, whether libxl on this host would load\n\
                      the library: which libxenlight xl loads (found as the dynamic linker finds it) and its\n\
                      version; whether it carries the physmap loader of xl-patches/ (v4, or v3 of the series)\n\
                      and its default plugin path; the plugin path libxl would use (LIBXL_PHYSMAP_PLUGIN, else\n\
                      that default) put through the checks of v4's loader, with its messages and return codes,\n\
                      and its version against this tool's; which xenstore daemon answers.\n\
                      Run it as the user that runs xl (root), in xl's environment.\n\
                      Exit status: 0 the library would run, 1 it would not, 2 usage or the tool's own error.",
        after_help = "Exit status: 0 the library would run, 1 it would not, 2 usage or the tool's own error."
    )]
    Host {
        /// Inspect this libxenlight instead of the one xl loads
        #[arg(long, value_name = "PATH")]
        libxenlight: Option<String>,
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print the shell completion script for SHELL, generated from this command line
    #[command(
        long_about = "Prints a completion script for SHELL (bash, zsh, fish, elvish or powershell) on standard\n\
                      output, generated from the same definition as the parser. Debian's package installs\n\
                      the bash, zsh and fish scripts where those shells look for them."
    )]
    Completions {
        /// The shell to complete for
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// A section format to read: `auto` detects it.
#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    Auto,
    Kv,
    Legacy,
    Legacy32,
}

/// A section format to write.
#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Kv,
    Legacy,
    Legacy32,
}

impl InputFormat {
    /// `None` for `auto`.
    fn format(self) -> Option<Format> {
        match self {
            InputFormat::Auto => None,
            InputFormat::Kv => Some(Format::XenstoreKv),
            InputFormat::Legacy => Some(Format::LegacyV1),
            InputFormat::Legacy32 => Some(Format::LegacyV1_32),
        }
    }
}

impl OutputFormat {
    fn format(self) -> Format {
        match self {
            OutputFormat::Kv => Format::XenstoreKv,
            OutputFormat::Legacy => Format::LegacyV1,
            OutputFormat::Legacy32 => Format::LegacyV1_32,
        }
    }
}

/// Invalid input (exit 1); the message follows `physmap-inspect: `.
struct Failure(String);

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let result = match cli.command {
        Command::Section { file, format, json } => section(&file, format, json),
        Command::Savefile {
            file,
            records,
            json,
        } => savefile_cmd(&file, records, json),
        Command::Convert {
            from,
            to,
            input,
            output,
        } => convert(&input, &output, from, to),
        Command::Xenstore {
            domid,
            dm_domid,
            json,
        } => xenstore(Domain { domid, dm_domid }, json),
        Command::Host { libxenlight, json } => return host::run(libxenlight.as_deref(), json),
        Command::Completions { shell } => completions(shell),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("{NAME}: {message}");
            ExitCode::from(1)
        }
    }
}

/// `--help` and `--version` print and exit 0; any other clap error is a usage error: one
/// line (clap's message without its usage and "For more information" paragraphs) and a hint
/// naming the right `--help`, exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let rendered = e.render().to_string();
    let message = one_line(&rendered);
    // The command the user meant, if any, for a hint at its own help.
    let commands = Cli::command();
    let command = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .filter(|a| commands.find_subcommand(a).is_some());
    let help = match command {
        Some(c) => format!("{NAME} {c} --help"),
        None => format!("{NAME} --help"),
    };
    eprintln!("{NAME}: {message}\nsee '{help}'");
    ExitCode::from(2)
}

/// Clap's rendered error as one line: its paragraphs but the usage and the pointer to
/// `--help`, joined with "; " (a list after a colon with ", "), without "error: ".
fn one_line(rendered: &str) -> String {
    let paragraphs: Vec<String> = rendered
        .split("\n\n")
        .map(str::trim)
        .filter(|p| {
            !p.is_empty() && !p.starts_with("Usage:") && !p.starts_with("For more information")
        })
        .map(|p| {
            let mut lines = p.lines().map(|l| {
                let l = l.trim();
                // `[possible values: a, b]` reads better without its brackets.
                l.strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .unwrap_or(l)
            });
            let first = lines.next().unwrap_or_default();
            let rest: Vec<&str> = lines.collect();
            match (rest.is_empty(), first.ends_with(':')) {
                (true, _) => first.to_string(),
                (false, true) => format!("{first} {}", rest.join(", ")),
                (false, false) => format!("{first}; {}", rest.join("; ")),
            }
        })
        .collect();
    let line = paragraphs.join("; ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// The completion script, written whole (clap_complete panics on a failed write, e.g. to a
/// closed pipe; an error here is the usual message).
fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), NAME, &mut script);
    let mut script = String::from_utf8(script).expect("clap_complete writes UTF-8");
    if shell == clap_complete::Shell::Bash {
        script = fix_bash_hyphenated_name(&script);
    }
    io::stdout()
        .write_all(script.as_bytes())
        .map_err(|e| Failure(format!("standard output: cannot write: {}", Reason(&e))))
}

/// clap_complete's bash script (4.5 and 4.6, clap-rs/clap#6421) spells the state of a
/// subcommand of a hyphenated program in two ways: its loop arrives at
/// `physmap__inspect__subcmd__convert`, its case arms read
/// `physmap__subcmd__inspect__subcmd__convert`, so nothing after a command completes. The
/// arms are renamed to the loop's spelling; once clap_complete is fixed this changes nothing.
fn fix_bash_hyphenated_name(script: &str) -> String {
    let loop_name = NAME.replace('-', "__");
    let arm_name = NAME.replace('-', "__subcmd__");
    script
        .lines()
        .map(
            |line| match line.trim_start().strip_prefix(&format!("{arm_name}__")) {
                Some(rest) if line.ends_with(')') => {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    format!("{indent}{loop_name}__{rest}\n")
                }
                _ => format!("{line}\n"),
            },
        )
        .collect()
}

fn cannot_read(path: &str, e: &io::Error) -> Failure {
    Failure(format!("{path}: cannot read: {}", Reason(e)))
}

/// Opens an input file. A directory is refused here (opening one succeeds, reading it
/// fails), so that every command says the same about it.
fn open_input(path: &str) -> Result<File, Failure> {
    let file = File::open(path).map_err(|e| cannot_read(path, &e))?;
    let metadata = file.metadata().map_err(|e| cannot_read(path, &e))?;
    if metadata.is_dir() {
        return Err(Failure(format!("{path}: cannot read: Is a directory")));
    }
    Ok(file)
}

fn read(path: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    open_input(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| cannot_read(path, &e))?;
    Ok(bytes)
}

/// One record in `--json` output: numbers as hex strings, `name` null when absent.
#[derive(Serialize)]
struct RecordJson<'a> {
    phys_offset: String,
    start_addr: String,
    size: String,
    name: Option<&'a str>,
}

fn records_json(section: &Section) -> Vec<RecordJson<'_>> {
    section
        .records()
        .iter()
        .map(|r| RecordJson {
            phys_offset: format!("{:#x}", r.phys_offset),
            start_addr: format!("{:#x}", r.start_addr),
            size: format!("{:#x}", r.size),
            name: r.name.as_ref().map(|n| n.as_str()),
        })
        .collect()
}

/// Prints `value` as compact one-line JSON.
fn print_json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string(value).expect("serialising plain structs cannot fail")
    );
}

#[derive(Serialize)]
struct SectionJson<'a> {
    format: String,
    bytes: usize,
    records: Vec<RecordJson<'a>>,
}

fn section(path: &str, format: InputFormat, json: bool) -> Outcome {
    let bytes = read(path)?;
    let (format, section) =
        format::decode(&bytes, format.format()).map_err(|e| Failure(format!("{path}: {e}")))?;
    if json {
        print_json(&SectionJson {
            format: format.to_string(),
            bytes: bytes.len(),
            records: records_json(&section),
        });
    } else if bytes.is_empty() {
        // Valid, but more likely the wrong file than a guest without records: say so.
        println!("{path}: empty section (0 bytes, 0 records)");
    } else {
        println!(
            "{path}: {format} section, {} bytes, {} records",
            bytes.len(),
            section.len()
        );
        print!("{}", records_table(&section));
    }
    Ok(())
}

fn convert(input: &str, output: &str, from: InputFormat, to: OutputFormat) -> Outcome {
    let to = to.format();
    let bytes = read(input)?;
    let converted =
        format::convert(&bytes, from.format(), to).map_err(|e| Failure(format!("{input}: {e}")))?;
    if bytes.is_empty() {
        eprintln!("{NAME}: {input} is empty: an empty section (0 records)");
    }
    std::fs::write(output, &converted)
        .map_err(|e| Failure(format!("{output}: cannot write: {}", Reason(&e))))?;
    eprintln!(
        "{NAME}: wrote {} bytes of {to} to {output}",
        converted.len()
    );
    Ok(())
}

#[derive(Serialize)]
struct XenstoreJson<'a> {
    path: String,
    records: Vec<RecordJson<'a>>,
}

fn xenstore(domain: Domain, json: bool) -> Outcome {
    // The library's message says where libxenstore looked and what to do.
    let xs = Xenstore::open().map_err(|e| Failure(e.to_string()))?;
    let section = xs
        .transaction(|tx| hooks::read_section(tx, domain))
        .map_err(|e| Failure(e.to_string()))?
        .value;
    if json {
        print_json(&XenstoreJson {
            path: domain.physmap_dir(),
            records: records_json(&section),
        });
    } else {
        println!("{}: {} records", domain.physmap_dir(), section.len());
        print!("{}", records_table(&section));
    }
    Ok(())
}

/// One record of either stream, for `savefile --records --json`.
#[derive(Serialize)]
struct StreamRecordJson {
    offset: u64,
    stream: &'static str,
    #[serde(rename = "type")]
    rec_type: u32,
    name: &'static str,
    length: u32,
}

#[derive(Serialize)]
struct EmulatorJson<'a> {
    offset: u64,
    emulator_id: u32,
    index: u32,
    records: Vec<RecordJson<'a>>,
}

#[derive(Serialize)]
struct SavefileJson<'a> {
    mandatory_flags: u32,
    optional_flags: u32,
    optional_data_bytes: u32,
    libxl_version: u32,
    /// Only with `--records`.
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<Vec<StreamRecordJson>>,
    emulator_xenstore_data: Vec<EmulatorJson<'a>>,
}

fn savefile_cmd(path: &str, list_records: bool, json: bool) -> Outcome {
    let file = open_input(path)?;
    let mut stream_records = Vec::new();
    let mut on_record = |info: &savefile::RecordInfo| {
        if !list_records {
            return;
        }
        let layer = match info.layer {
            Layer::Libxl => "libxl",
            Layer::Libxc => "libxc",
        };
        if json {
            stream_records.push(StreamRecordJson {
                offset: info.offset,
                stream: layer,
                rec_type: info.rec_type,
                name: info.type_name(),
                length: info.length,
            });
        } else {
            // Printed as met, so a long walk shows progress and memory stays flat.
            println!(
                "{:>12}  {layer}  {:<26} {:#010x}  length {}",
                info.offset,
                info.type_name(),
                info.rec_type,
                info.length
            );
        }
    };
    let walked =
        savefile::walk(file, &mut on_record).map_err(|e| Failure(format!("{path}: {e}")))?;
    let mut sections = Vec::new();
    for emu in &walked.emulator_xenstore {
        let (_, section) = format::decode(&emu.data, Some(Format::XenstoreKv)).map_err(|e| {
            Failure(format!(
                "{path}: EMULATOR_XENSTORE_DATA at byte offset {} (data at {}): {e}",
                emu.offset, emu.data_offset
            ))
        })?;
        sections.push((emu, section));
    }
    if json {
        print_json(&SavefileJson {
            mandatory_flags: walked.header.mandatory_flags,
            optional_flags: walked.header.optional_flags,
            optional_data_bytes: walked.header.optional_data_len,
            libxl_version: walked.libxl_version,
            records: list_records.then_some(stream_records),
            emulator_xenstore_data: sections
                .iter()
                .map(|(emu, section)| EmulatorJson {
                    offset: emu.offset,
                    emulator_id: emu.emulator_id,
                    index: emu.index,
                    records: records_json(section),
                })
                .collect(),
        });
        return Ok(());
    }
    println!(
        "{path}: xl savefile, libxl stream v{}, mandatory flags {:#x}, {} bytes of optional data (domain config)",
        walked.libxl_version, walked.header.mandatory_flags, walked.header.optional_data_len
    );
    if sections.is_empty() {
        println!("no EMULATOR_XENSTORE_DATA record: the guest carried no physmap records");
    }
    for (emu, section) in &sections {
        let emulator = match emu.emulator_id {
            0 => "unknown (converted legacy stream)",
            1 => "qemu-traditional",
            2 => "qemu-upstream",
            _ => "unrecognised",
        };
        println!(
            "EMULATOR_XENSTORE_DATA at byte offset {}: emulator {} ({emulator}), index {}, {} records",
            emu.offset,
            emu.emulator_id,
            emu.index,
            section.len()
        );
        print!("{}", records_table(section));
    }
    Ok(())
}

fn records_table(section: &Section) -> String {
    let mut out = String::new();
    if section.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:<20} {:<20} {:<20} NAME",
        "PHYS_OFFSET", "START_ADDR", "SIZE"
    );
    for r in section.records() {
        let name = r.name.as_ref().map_or("-", |n| n.as_str());
        let _ = writeln!(
            out,
            "{:<20} {:<20} {:<20} {name}",
            format!("{:#x}", r.phys_offset),
            format!("{:#x}", r.start_addr),
            format!("{:#x}", r.size)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn clap_errors_become_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  <IN>\n  \
                        <OUT>\n\nUsage: physmap-inspect convert --to <TO> <IN> <OUT>\n\nFor \
                        more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "the following required arguments were not provided: <IN>, <OUT>"
        );
        let err = Cli::try_parse_from(["physmap-inspect", "section", "f", "--format", "x"])
            .err()
            .unwrap();
        assert_eq!(
            one_line(&err.render().to_string()),
            "invalid value 'x' for '--format <FORMAT>'; possible values: auto, kv, legacy, \
             legacy32"
        );
    }
}
