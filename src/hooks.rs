//! Save and restore of one domain's physmap records: the record model and a wire format on
//! one side, xenstore on the other.
//!
//! * Save reads every record in one transaction, so it sees one consistent state even while
//!   QEMU rewrites an entry, validates it with the decoding rules, and encodes it. It runs on
//!   a connection of the library's own, never on a borrowed handle: it lists a directory the
//!   device model controls (see `crate::xenstore` on why listings never use the caller's
//!   handle).
//! * Restore decodes and validates the whole section before touching xenstore, then replaces
//!   the domain's `physmap` directory in one transaction: all of it lands, or nothing does.
//!   It lists nothing on the way to success.

use crate::error::{Error, Location, SectionError};
use crate::format::{self, Format};
use crate::logging::CallLog;
use crate::record::{parse_hex, PhysmapRecord, RecordName, Section, MAX_RECORDS};
use crate::xenstore::{xs_permissions, Committed, Tx, Xenstore, XS_PERM_NONE, XS_PERM_READ};
use std::borrow::Borrow;

/// The guest domain and the domain whose device model (QEMU) serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    pub domid: u32,
    /// 0 when QEMU runs in dom0; the stub domain's id otherwise (`libxl_get_stubdom_id`).
    pub dm_domid: u32,
}

impl Domain {
    /// `/local/domain/<dm_domid>/device-model/<domid>`, where libxl and QEMU keep the
    /// device model's state for this guest.
    pub fn device_model_dir(&self) -> String {
        format!(
            "/local/domain/{}/device-model/{}",
            self.dm_domid, self.domid
        )
    }

    /// The directory holding one subdirectory per physmap record.
    pub fn physmap_dir(&self) -> String {
        format!("{}/physmap", self.device_model_dir())
    }
}

/// Reads the domain's records in one transaction and encodes them in `format`.
/// No `physmap` directory, or an empty one, gives an empty section (no bytes).
pub fn save(
    xs: &Xenstore,
    domain: Domain,
    format: Format,
    log: &CallLog,
) -> Result<Vec<u8>, Error> {
    let committed = save_section(xs, domain)?;
    let section = committed.value;
    let bytes = if section.is_empty() {
        Vec::new()
    } else {
        format::encode(&section, format)
    };
    log.debug(format_args!(
        "saved {} physmap records as {} ({} bytes, {} transaction conflicts)",
        section.len(),
        format,
        bytes.len(),
        committed.conflicts
    ));
    Ok(bytes)
}

/// The domain's records, read in one transaction on a connection of the library's own
/// ([`Xenstore::own_connection`]): the listing of `physmap`, whose size the device model
/// decides, never travels on a borrowed handle. On the C daemon any listing works (it is
/// paged); oxenstored 4.17 cannot send one over 4096 bytes, which then costs only that
/// connection and fails the save with [`SectionError::ListingTooLarge`].
pub fn save_section(xs: &Xenstore, domain: Domain) -> Result<Committed<Section>, Error> {
    xs.own_connection(|own| own.transaction(|tx| read_section(tx, domain)))
}

/// Reads and validates every record under the domain's `physmap` directory.
pub fn read_section(tx: &Tx<'_>, domain: Domain) -> Result<Section, Error> {
    let dir = domain.physmap_dir();
    let Some(entries) = tx.directory(&dir)? else {
        return Ok(Section::default());
    };
    if entries.len() > MAX_RECORDS {
        return Err(SectionError::TooManyRecords {
            at: Location::Path(dir),
            max: MAX_RECORDS,
        }
        .into());
    }
    let mut located = Vec::with_capacity(entries.len());
    for entry in entries {
        let base = format!("{dir}/{entry}");
        let node = |field: &str| format!("{base}/{field}");
        let phys_offset = parse_hex(entry.as_bytes(), "phys_offset", || {
            Location::Path(base.clone())
        })?;
        let number = |field: &'static str| -> Result<u64, Error> {
            match tx.read(&node(field))? {
                Some(text) => Ok(parse_hex(&text, field, || Location::Path(node(field)))?),
                None => Err(SectionError::MissingField {
                    at: Location::Path(base.clone()),
                    field,
                }
                .into()),
            }
        };
        let start_addr = number("start_addr")?;
        let size = number("size")?;
        let name = match tx.read(&node("name"))? {
            Some(text) => Some(RecordName::check(&text, || Location::Path(node("name")))?),
            None => None,
        };
        located.push((
            PhysmapRecord {
                phys_offset,
                start_addr,
                size,
                name,
            },
            base,
        ));
    }
    Ok(Section::from_located(located, |_, base| {
        Location::Path(base.clone())
    })?)
}

/// Decodes `bytes` (detecting the format when `format` is `None`), then replaces the
/// domain's `physmap` directory with its records in one transaction. Returns the number of
/// records written. An empty section writes nothing.
pub fn restore(
    xs: &Xenstore,
    domain: Domain,
    bytes: &[u8],
    format: Option<Format>,
    log: &CallLog,
) -> Result<usize, Error> {
    restore_connecting(|| Ok(xs), domain, bytes, format, log)
}

/// [`restore`], connecting to xenstore only once the whole section is valid (and, in a
/// `domain-checks` build, the target domain checked): invalid input never reaches xenstore,
/// not even to open a connection. `connect` gives a connection or a borrowed one.
pub fn restore_connecting<X: Borrow<Xenstore>>(
    connect: impl FnOnce() -> Result<X, Error>,
    domain: Domain,
    bytes: &[u8],
    format: Option<Format>,
    log: &CallLog,
) -> Result<usize, Error> {
    let (format, section) = format::decode(bytes, format)?;
    if section.is_empty() {
        log.debug(format_args!("restore: empty section, nothing to write"));
        return Ok(0);
    }
    #[cfg(feature = "domain-checks")]
    crate::domain_checks::check(domain.domid, &section, log)?;
    let xs = connect()?;
    restore_section(xs.borrow(), domain, &section, format, bytes.len(), log)?;
    Ok(section.len())
}

/// Writes an already decoded, non-empty section (`format` and `len` are for the log line);
/// returns how many transaction conflicts it took.
///
/// The records are written in one transaction that touches only the domain's own
/// device-model directory. When that directory does not exist (the usual case in
/// `xl restore`: libxl creates it only when it starts QEMU), it is created first with one
/// `mkdir`, outside any transaction: creating it adds a child to the shared `device-model`
/// directory, which every first restore of a domain does too, so inside a transaction it
/// would make concurrent restores of different domains conflict with each other (on the C
/// daemon) and fail after 16 attempts under load; `mkdir` is atomic and idempotent on its
/// own. If the records then cannot be written, what the restore created is removed again,
/// parents included ([`CreatedDir::remove`]): a failed restore leaves xenstore as it was.
pub fn restore_section(
    xs: &Xenstore,
    domain: Domain,
    section: &Section,
    format: Format,
    len: usize,
    log: &CallLog,
) -> Result<u32, Error> {
    let created = CreatedDir::probe(xs, domain)?;
    if let Some(dir) = &created {
        if let Err(e) = xs.direct().mkdir(&domain.device_model_dir()) {
            // mkdir is atomic, so nothing should be left; make sure of it anyway.
            dir.remove(xs, log);
            return Err(e);
        }
    }
    let result = xs.transaction(|tx| {
        match &created {
            // A directory created a moment ago has no physmap to replace. Its permissions,
            // when the ones it inherited are not the device model's, are set here inside
            // the transaction, so that a failure undoes them with the records.
            Some(dir) => {
                if let Some(perms) = &dir.set_perms {
                    tx.set_permissions(&domain.device_model_dir(), perms)?;
                }
            }
            None => tx.rm(&domain.physmap_dir())?,
        }
        write_records(tx, domain, section)
    });
    if let (Err(_), Some(dir)) = (&result, &created) {
        dir.remove(xs, log);
    }
    let committed = result?;
    log.debug(format_args!(
        "restored {} physmap records from {} ({} bytes, {} transaction conflicts)",
        section.len(),
        format,
        len,
        committed.conflicts
    ));
    Ok(committed.conflicts)
}

/// A device-model directory that a restore is about to create, with every missing ancestor
/// (an `mkdir` creates them all).
#[derive(Debug)]
pub struct CreatedDir {
    /// The directory and each missing ancestor, deepest first.
    nodes: Vec<String>,
    /// The permissions to give the directory, when the ones it inherits from the nearest
    /// existing ancestor are not those (`None`: inherited ones are right).
    set_perms: Option<Vec<xs_permissions>>,
}

impl CreatedDir {
    /// `None` when the domain's device-model directory exists. Otherwise walks up to the
    /// nearest existing ancestor, one `XS_GET_PERMS` per level (usually two: the directory
    /// and `device-model`), which also gives the permissions the new nodes will inherit.
    /// Only reads.
    pub fn probe(xs: &Xenstore, domain: Domain) -> Result<Option<CreatedDir>, Error> {
        let tx = xs.direct();
        let dm_dir = domain.device_model_dir();
        if tx.permissions(&dm_dir)?.is_some() {
            return Ok(None);
        }
        let mut nodes = vec![dm_dir];
        let inherited = loop {
            let last = nodes.last().expect("at least the directory");
            let parent = match last.rfind('/') {
                Some(0) | None => "/",
                Some(i) => &last[..i],
            };
            match tx.permissions(parent)? {
                Some(perms) => break perms,
                None if parent == "/" => break Vec::new(),
                None => nodes.push(parent.to_owned()),
            }
        };
        let wanted = device_model_perms(domain);
        Ok(Some(CreatedDir {
            nodes,
            set_perms: (inherited != wanted).then_some(wanted),
        }))
    }

    /// Removes what the restore created, bottom up, each node only while it has no
    /// children: another restore may have created its own domain's directory under the
    /// same `device-model` meanwhile, and its nodes are not this restore's to remove. One
    /// transaction, so a child created concurrently makes it conflict and look again. The
    /// emptiness checks list directories, so this runs on a connection of the library's
    /// own. Failures are logged: the restore's own error is what the caller gets.
    pub fn remove(&self, xs: &Xenstore, log: &CallLog) {
        let result = xs.own_connection(|own| {
            own.transaction(|tx| {
                for node in &self.nodes {
                    match tx.directory(node)? {
                        None => {}
                        Some(children) if children.is_empty() => tx.rm(node)?,
                        Some(_) => break,
                    }
                }
                Ok(())
            })
        });
        if let Err(e) = result {
            log.error(format_args!(
                "could not remove {}, created for the failed restore: {e}",
                self.nodes.last().expect("at least the directory")
            ));
        }
    }
}

/// The permissions of a domain's device-model directory: owned by the device-model domain,
/// readable by the guest when the device model runs in a stub domain, as
/// `libxl__spawn_stub_dm` sets them.
pub fn device_model_perms(domain: Domain) -> Vec<xs_permissions> {
    let owner = xs_permissions {
        id: domain.dm_domid,
        perms: XS_PERM_NONE,
    };
    if domain.dm_domid == 0 {
        vec![owner]
    } else {
        let guest_reads = xs_permissions {
            id: domain.domid,
            perms: XS_PERM_READ,
        };
        vec![owner, guest_reads]
    }
}

/// Replaces the domain's `physmap` directory with `section`'s records.
///
/// New nodes inherit the permissions of their parent, so the records get those of the
/// device-model directory, as QEMU's own writes do (see [`restore_section`] for creating it).
pub fn write_section(tx: &Tx<'_>, domain: Domain, section: &Section) -> Result<(), Error> {
    tx.rm(&domain.physmap_dir())?;
    write_records(tx, domain, section)
}

/// Writes `section`'s records under the domain's `physmap` directory, in `phys_offset`
/// order.
fn write_records(tx: &Tx<'_>, domain: Domain, section: &Section) -> Result<(), Error> {
    let dir = domain.physmap_dir();
    for r in section.records() {
        let base = format!("{dir}/{:x}", r.phys_offset);
        tx.write(
            &format!("{base}/start_addr"),
            format!("{:x}", r.start_addr).as_bytes(),
        )?;
        tx.write(&format!("{base}/size"), format!("{:x}", r.size).as_bytes())?;
        if let Some(name) = &r.name {
            tx.write(&format!("{base}/name"), name.as_str().as_bytes())?;
        }
    }
    Ok(())
}
