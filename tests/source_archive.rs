//! The deploy job unpacks a pull request's tarball: nothing may land outside the build
//! directory, and what it unpacks is capped (the probe's findings, each reproduced here).

use std::io::Write;
use std::path::Path;

use fleetflow::application::deploy::source_archive::{ArchiveError, UnpackLimits, unpack_tarball};

enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// A gzipped tar with raw headers (no path checks of the builder in the way).
fn tarball(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (path, kind, data, mode, link): (&str, tar::EntryType, &[u8], u32, Option<&str>) = match entry {
            Entry::Dir(p) => (p, tar::EntryType::Directory, b"", 0o755, None),
            Entry::File(p, d, m) => (p, tar::EntryType::Regular, d, *m, None),
            Entry::Link(p, t) => (p, tar::EntryType::Symlink, b"", 0o777, Some(t)),
            Entry::HardLink(p, t) => (p, tar::EntryType::Link, b"", 0o644, Some(t)),
        };
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(t) = link {
            header.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).expect("append");
    }
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

/// A sandbox: `root` to unpack into, beside an `outside` directory that must stay empty.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("base/root")).expect("root");
        std::fs::create_dir_all(dir.path().join("outside")).expect("outside");
        Self { dir }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("base/root")
    }

    fn unpack(&self, entries: &[Entry], limits: UnpackLimits) -> Result<usize, ArchiveError> {
        unpack_tarball(tarball(entries).as_slice(), &self.root(), limits)
    }

    /// Everything in the sandbox outside `root`.
    fn outside_root(&self) -> Vec<String> {
        let mut found = Vec::new();
        walk(self.dir.path(), &self.root(), &mut found);
        found
    }
}

fn walk(dir: &Path, skip: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path == skip {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && (path.ends_with("base") || path.ends_with("outside")) {
            walk(&path, skip, found);
        } else {
            found.push(path.display().to_string());
        }
    }
}

fn unsafe_why(result: Result<usize, ArchiveError>) -> String {
    match result {
        Err(e @ ArchiveError::Unsafe { .. }) => e.to_string(),
        other => panic!("expected an unsafe entry, got {other:?}"),
    }
}

/// The probe: `a -> .`, then `b -> a/a/../../outside` passes a lexical check (a/a/../.. is
/// `.`) but really climbs two levels, and a file under `b/` was written outside.
#[test]
fn a_link_through_another_link_is_refused_and_nothing_lands_outside() {
    let sandbox = Sandbox::new();
    let why = unsafe_why(sandbox.unpack(
        &[
            Entry::Dir("top/"),
            Entry::Link("top/a", "."),
            Entry::Link("top/b", "a/a/../../outside"),
            Entry::File("top/b/evil", b"pwned", 0o644),
        ],
        UnpackLimits::default(),
    ));
    assert!(why.contains("passes through another link"), "{why}");
    assert_eq!(sandbox.outside_root(), Vec::<String>::new());
    // Links come last: the file went under a plain directory `b` inside the tree.
    assert!(!sandbox.root().join("b").is_symlink());
}

#[test]
fn links_that_leave_the_tree_are_refused() {
    for (link, target, why) in [
        ("top/x", "/etc/passwd", "absolute path"),
        ("top/x", "../outside", "outside the tree"),
        ("top/d/x", "../../outside", "outside the tree"),
    ] {
        let sandbox = Sandbox::new();
        let found = unsafe_why(sandbox.unpack(&[Entry::Link(link, target)], UnpackLimits::default()));
        assert!(found.contains(why), "{link} -> {target}: {found}");
        assert_eq!(sandbox.outside_root(), Vec::<String>::new());
    }
    // A link placed inside another link resolves against that link's target, not its path.
    let sandbox = Sandbox::new();
    let found = unsafe_why(sandbox.unpack(
        &[Entry::Link("top/a", "."), Entry::Link("top/a/c", "../outside")],
        UnpackLimits::default(),
    ));
    assert!(found.contains("inside another link"), "{found}");
}

#[test]
fn paths_hard_links_and_devices_outside_the_plain_kinds_are_refused() {
    let sandbox = Sandbox::new();
    let found = unsafe_why(sandbox.unpack(
        &[Entry::File("top/../../outside/x", b"x", 0o644)],
        UnpackLimits::default(),
    ));
    assert!(found.contains("outside the tree"), "{found}");
    let found = unsafe_why(sandbox.unpack(
        &[
            Entry::File("top/f", b"x", 0o644),
            Entry::HardLink("top/h", "/etc/passwd"),
        ],
        UnpackLimits::default(),
    ));
    assert!(found.contains("only files, directories and symbolic links"), "{found}");
    assert_eq!(sandbox.outside_root(), Vec::<String>::new());
}

/// The probe: a 306 KB archive held a 300 MB file, unpacked in full. Here 8 MiB of zeros
/// gzip to a few KB; with a 1 MiB cap the unpack stops and the partial file is removed.
#[test]
fn unpacked_bytes_and_entries_are_capped() {
    let zeros = vec![0u8; 8 << 20];
    let archive = tarball(&[Entry::File("top/bomb", &zeros, 0o644)]);
    assert!(archive.len() < 64 << 10, "{} bytes", archive.len());
    let sandbox = Sandbox::new();
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        max_entries: 100,
    };
    match unpack_tarball(archive.as_slice(), &sandbox.root(), limits) {
        Err(ArchiveError::TooLarge { limit }) => assert_eq!(limit, 1 << 20),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(!sandbox.root().join("bomb").exists());
    // Many small files add up too.
    let chunk = vec![7u8; 300 << 10];
    let names: Vec<String> = (0..5).map(|i| format!("top/f{i}")).collect();
    let entries: Vec<Entry> = names.iter().map(|n| Entry::File(n, &chunk, 0o644)).collect();
    assert!(matches!(
        sandbox.unpack(&entries, limits),
        Err(ArchiveError::TooLarge { .. })
    ));
    let names: Vec<String> = (0..101).map(|i| format!("top/e{i}")).collect();
    let entries: Vec<Entry> = names.iter().map(|n| Entry::File(n, b"", 0o644)).collect();
    match Sandbox::new().unpack(&entries, limits) {
        Err(e @ ArchiveError::TooManyEntries { limit: 100 }) => {
            assert_eq!(
                e.to_string(),
                "the source archive has more than 100 entries; nothing was built"
            )
        }
        other => panic!("expected TooManyEntries, got {other:?}"),
    }
}

#[test]
fn a_repository_with_links_inside_it_unpacks() {
    let sandbox = Sandbox::new();
    let n = sandbox
        .unpack(
            &[
                Entry::Dir("acme-mono-abc/"),
                Entry::File("acme-mono-abc/shared/Dockerfile", b"FROM scratch\n", 0o644),
                Entry::File("acme-mono-abc/fleets/web/run.sh", b"#!/bin/sh\n", 0o755),
                Entry::Link("acme-mono-abc/fleets/web/Dockerfile", "../../shared/Dockerfile"),
                Entry::Link("acme-mono-abc/fleets/web/shared", "../../shared"),
                Entry::Link("acme-mono-abc/fleets/api", "web"),
            ],
            UnpackLimits::default(),
        )
        .expect("unpacks");
    assert_eq!(n, 6);
    let root = sandbox.root();
    let via_link = std::fs::read_to_string(root.join("fleets/web/Dockerfile")).expect("read through the link");
    assert_eq!(via_link, "FROM scratch\n");
    assert!(root.join("fleets/api/run.sh").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("fleets/web/run.sh"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "{mode:o}");
}
