//! Save and restore of one domain's physmap records: the record model and a wire format on
//! one side, xenstore on the other.
//!
//! * Save reads every record in one transaction, so it sees one consistent state even while
//!   QEMU rewrites an entry, validates it with the decoding rules, and encodes it.
//! * Restore decodes and validates the whole section before touching xenstore, then replaces
//!   the domain's `physmap` directory in one transaction: all of it lands, or nothing does.

use crate::error::{Error, Location, SectionError};
use crate::format::{self, Format};
use crate::logging::CallLog;
use crate::record::{parse_hex, PhysmapRecord, RecordName, Section, MAX_RECORDS};
use crate::xenstore::{xs_permissions, Tx, Xenstore, XS_PERM_NONE, XS_PERM_READ};
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
    let committed = xs.transaction(|tx| read_section(tx, domain))?;
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

/// Writes an already decoded, non-empty section (`format` and `len` are for the log line).
///
/// The records are written in one transaction that touches only the domain's own subtree.
/// The device-model directory is not created in it: creating `device-model/<domid>` changes
/// the children of the shared `device-model` directory, which every first restore of a
/// domain changes too, so inside the main transaction it would make concurrent restores of
/// different domains conflict with each other. A missing directory is therefore created
/// first, in a small transaction of its own; if the main transaction then fails, the
/// directory is removed again (when still empty), so a failed restore leaves xenstore as it
/// was. A plain read first skips that transaction when the directory exists.
pub fn restore_section(
    xs: &Xenstore,
    domain: Domain,
    section: &Section,
    format: Format,
    len: usize,
    log: &CallLog,
) -> Result<(), Error> {
    let dm_dir = domain.device_model_dir();
    let created = if xs.direct().read(&dm_dir)?.is_some() {
        None
    } else {
        Some(xs.transaction(|tx| create_device_model_dir(tx, domain))?)
    };
    let result = xs.transaction(|tx| write_section(tx, domain, section));
    if result.is_err() && created.as_ref().is_some_and(|c| c.value) {
        if let Err(e) = xs.transaction(|tx| remove_if_empty(tx, &dm_dir)) {
            log.error(format_args!(
                "could not remove {dm_dir}, created for the failed restore: {e}"
            ));
        }
    }
    let committed = result?;
    log.debug(format_args!(
        "restored {} physmap records from {} ({} bytes, {} transaction conflicts)",
        section.len(),
        format,
        len,
        committed.conflicts + created.map_or(0, |c| c.conflicts)
    ));
    Ok(())
}

/// Creates the domain's device-model directory if it does not exist (returns whether it
/// did), owned by the device-model domain, with read access for the guest when the device
/// model runs in a stub domain: the permissions `libxl__spawn_stub_dm` gives it.
pub fn create_device_model_dir(tx: &Tx<'_>, domain: Domain) -> Result<bool, Error> {
    let dm_dir = domain.device_model_dir();
    if tx.read(&dm_dir)?.is_some() {
        return Ok(false);
    }
    tx.mkdir(&dm_dir)?;
    let owner = xs_permissions {
        id: domain.dm_domid,
        perms: XS_PERM_NONE,
    };
    let guest_reads = xs_permissions {
        id: domain.domid,
        perms: XS_PERM_READ,
    };
    let perms: &[xs_permissions] = if domain.dm_domid == 0 {
        &[owner]
    } else {
        &[owner, guest_reads]
    };
    tx.set_permissions(&dm_dir, perms)?;
    Ok(true)
}

fn remove_if_empty(tx: &Tx<'_>, dir: &str) -> Result<(), Error> {
    if tx
        .directory(dir)?
        .is_some_and(|children| children.is_empty())
    {
        tx.rm(dir)?;
    }
    Ok(())
}

/// Replaces the domain's `physmap` directory with `section`'s records.
///
/// New nodes inherit the permissions of their parent, so the records get those of the
/// device-model directory, as QEMU's own writes do (see [`restore_section`] for creating it).
pub fn write_section(tx: &Tx<'_>, domain: Domain, section: &Section) -> Result<(), Error> {
    let dir = domain.physmap_dir();
    tx.rm(&dir)?;
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
