//! physmap-inspect: look at physmap sections, savefiles and live xenstore records.
//!
//! Exit codes: 0 success, 1 invalid input (or an unreachable xenstore), 2 usage error.

use physmap_hooks::format::{self, Format};
use physmap_hooks::hooks::{self, Domain};
use physmap_hooks::savefile::{self, Layer};
use physmap_hooks::xenstore::Xenstore;
use physmap_hooks::Section;
use std::fmt::Write as _;
use std::fs::File;
use std::process::ExitCode;

const USAGE: &str = "\
usage: physmap-inspect <command> [options]

commands:
  section FILE [--format auto|kv|legacy|legacy32] [--json]
        decode a raw physmap section (the bytes a save hook produces)
  savefile FILE [--records] [--json]
        walk an `xl save` file and show the physmap records it carries
  convert --from auto|kv|legacy|legacy32 --to kv|legacy|legacy32 IN OUT
        re-encode a section in another format (validating it)
  xenstore --domid N [--dm-domid M] [--json]
        show a domain's live records (honours XENSTORED_PATH)

`physmap-inspect <command> --help` describes one command.
exit status: 0 ok, 1 invalid input, 2 usage error";

const SECTION_HELP: &str = "\
usage: physmap-inspect section FILE [--format auto|kv|legacy|legacy32] [--json]
Decodes and validates FILE as a physmap section and prints its records.
--format  the section's format; auto (default) detects it
--json    print JSON instead of a table";

const SAVEFILE_HELP: &str = "\
usage: physmap-inspect savefile FILE [--records] [--json]
Checks the xl header of FILE, walks the libxl stream and the libxc stream inside it
(seeking over page data, so any size works in constant memory), and prints the physmap
records of each EMULATOR_XENSTORE_DATA record.
--records  also print one line per record of both streams
--json     print JSON instead of text";

const CONVERT_HELP: &str = "\
usage: physmap-inspect convert --from auto|kv|legacy|legacy32 --to kv|legacy|legacy32 IN OUT
Decodes IN (validating every record) and writes it to OUT in the other format.";

const XENSTORE_HELP: &str = "\
usage: physmap-inspect xenstore --domid N [--dm-domid M] [--json]
Reads /local/domain/M/device-model/N/physmap (M defaults to 0) in one transaction and
prints its records, validated like a save. Connects with xs_open(0): set XENSTORED_PATH
to use another socket.";

/// What went wrong: bad input (exit 1) or a bad command line (exit 2).
enum Failure {
    Input(String),
    Usage(String),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Input(e.to_string())
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("section") => section(&args[1..]),
        Some("savefile") => savefile_cmd(&args[1..]),
        Some("convert") => convert(&args[1..]),
        Some("xenstore") => xenstore(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(Failure::Usage(format!("unknown command `{other}`"))),
        None => Err(Failure::Usage("no command given".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("physmap-inspect: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("physmap-inspect: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// A command line split into positional arguments, flags and `--name value` options.
struct Args {
    positional: Vec<String>,
    flags: Vec<&'static str>,
    values: Vec<(&'static str, String)>,
}

/// Parses `args` against the flags and value options a command accepts. `None` means the
/// user asked for `--help`.
fn parse(
    args: &[String],
    flags: &[&'static str],
    options: &[&'static str],
) -> Result<Option<Args>, Failure> {
    let mut parsed = Args {
        positional: Vec::new(),
        flags: Vec::new(),
        values: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        if let Some(flag) = flags.iter().find(|f| *f == arg) {
            parsed.flags.push(flag);
        } else if let Some(option) = options.iter().find(|o| *o == arg) {
            let value = it
                .next()
                .ok_or_else(|| Failure::Usage(format!("{option} needs a value")))?;
            parsed.values.push((option, value.clone()));
        } else if arg.starts_with("--") {
            return Err(Failure::Usage(format!("unknown option `{arg}`")));
        } else {
            parsed.positional.push(arg.clone());
        }
    }
    Ok(Some(parsed))
}

impl Args {
    fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn positional<const N: usize>(&self, what: &str) -> Result<[&str; N], Failure> {
        let given: Vec<&str> = self.positional.iter().map(String::as_str).collect();
        given
            .try_into()
            .map_err(|_| Failure::Usage(format!("expected {what}")))
    }
}

/// `auto` is `None`; the others name a format.
fn parse_format(text: &str, allow_auto: bool) -> Result<Option<Format>, Failure> {
    if allow_auto && text == "auto" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(Failure::Usage)
}

fn read(path: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Input(format!("{path}: {e}")))
}

fn section(args: &[String]) -> Outcome {
    let Some(args) = parse(args, &["--json"], &["--format"])? else {
        println!("{SECTION_HELP}");
        return Ok(());
    };
    let [path] = args.positional("one FILE")?;
    let format = parse_format(args.value("--format").unwrap_or("auto"), true)?;
    let bytes = read(path)?;
    let (format, section) =
        format::decode(&bytes, format).map_err(|e| Failure::Input(format!("{path}: {e}")))?;
    if args.flag("--json") {
        println!(
            "{{\"format\":\"{format}\",\"bytes\":{},\"records\":{}}}",
            bytes.len(),
            records_json(&section)
        );
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

fn convert(args: &[String]) -> Outcome {
    let Some(args) = parse(args, &[], &["--from", "--to"])? else {
        println!("{CONVERT_HELP}");
        return Ok(());
    };
    let [input, output] = args.positional("IN and OUT")?;
    let from = parse_format(args.value("--from").unwrap_or("auto"), true)?;
    let to = args
        .value("--to")
        .ok_or_else(|| Failure::Usage("convert needs --to".into()))?;
    let to = parse_format(to, false)?.expect("auto refused");
    let bytes = read(input)?;
    let converted =
        format::convert(&bytes, from, to).map_err(|e| Failure::Input(format!("{input}: {e}")))?;
    std::fs::write(output, &converted).map_err(|e| Failure::Input(format!("{output}: {e}")))?;
    eprintln!(
        "physmap-inspect: wrote {} bytes of {to} to {output}",
        converted.len()
    );
    Ok(())
}

fn xenstore(args: &[String]) -> Outcome {
    let Some(args) = parse(args, &["--json"], &["--domid", "--dm-domid"])? else {
        println!("{XENSTORE_HELP}");
        return Ok(());
    };
    args.positional::<0>("no positional arguments")?;
    let domid_arg = |name: &str| -> Result<Option<u32>, Failure> {
        args.value(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| Failure::Usage(format!("{name} takes a domain id, not `{v}`")))
            })
            .transpose()
    };
    let domain = Domain {
        domid: domid_arg("--domid")?.ok_or_else(|| Failure::Usage("--domid is required".into()))?,
        dm_domid: domid_arg("--dm-domid")?.unwrap_or(0),
    };
    let xs = Xenstore::open().map_err(|e| Failure::Input(e.to_string()))?;
    let section = xs
        .transaction(|tx| hooks::read_section(tx, domain))
        .map_err(|e| Failure::Input(e.to_string()))?
        .value;
    if args.flag("--json") {
        println!(
            "{{\"path\":\"{}\",\"records\":{}}}",
            domain.physmap_dir(),
            records_json(&section)
        );
    } else {
        println!("{}: {} records", domain.physmap_dir(), section.len());
        print!("{}", records_table(&section));
    }
    Ok(())
}

fn savefile_cmd(args: &[String]) -> Outcome {
    let Some(args) = parse(args, &["--records", "--json"], &[])? else {
        println!("{SAVEFILE_HELP}");
        return Ok(());
    };
    let [path] = args.positional("one FILE")?;
    let (json, list_records) = (args.flag("--json"), args.flag("--records"));
    let file = File::open(path).map_err(|e| Failure::Input(format!("{path}: {e}")))?;
    let mut record_lines = Vec::new();
    let mut on_record = |info: &savefile::RecordInfo| {
        if !list_records {
            return;
        }
        let layer = match info.layer {
            Layer::Libxl => "libxl",
            Layer::Libxc => "libxc",
        };
        if json {
            record_lines.push(format!(
                "{{\"offset\":{},\"stream\":\"{layer}\",\"type\":{},\"name\":\"{}\",\"length\":{}}}",
                info.offset,
                info.rec_type,
                info.type_name(),
                info.length
            ));
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
        savefile::walk(file, &mut on_record).map_err(|e| Failure::Input(format!("{path}: {e}")))?;
    let mut sections = Vec::new();
    for emu in &walked.emulator_xenstore {
        let (_, section) = format::decode(&emu.data, Some(Format::XenstoreKv)).map_err(|e| {
            Failure::Input(format!(
                "{path}: EMULATOR_XENSTORE_DATA at byte offset {} (data at {}): {e}",
                emu.offset, emu.data_offset
            ))
        })?;
        sections.push((emu, section));
    }
    if json {
        let emulators: Vec<String> = sections
            .iter()
            .map(|(emu, section)| {
                format!(
                    "{{\"offset\":{},\"emulator_id\":{},\"index\":{},\"records\":{}}}",
                    emu.offset,
                    emu.emulator_id,
                    emu.index,
                    records_json(section)
                )
            })
            .collect();
        let records = if list_records {
            format!(",\"records\":[{}]", record_lines.join(","))
        } else {
            String::new()
        };
        println!(
            "{{\"mandatory_flags\":{},\"optional_flags\":{},\"optional_data_bytes\":{},\"libxl_version\":{}{records},\"emulator_xenstore_data\":[{}]}}",
            walked.header.mandatory_flags,
            walked.header.optional_flags,
            walked.header.optional_data_len,
            walked.libxl_version,
            emulators.join(",")
        );
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

fn records_json(section: &Section) -> String {
    let records: Vec<String> = section
        .records()
        .iter()
        .map(|r| {
            let name = match &r.name {
                // Names are printable ASCII: only `"` and `\` need escaping.
                Some(n) => format!(
                    "\"{}\"",
                    n.as_str().replace('\\', "\\\\").replace('"', "\\\"")
                ),
                None => "null".into(),
            };
            format!(
                "{{\"phys_offset\":\"{:#x}\",\"start_addr\":\"{:#x}\",\"size\":\"{:#x}\",\"name\":{name}}}",
                r.phys_offset, r.start_addr, r.size
            )
        })
        .collect();
    format!("[{}]", records.join(","))
}
