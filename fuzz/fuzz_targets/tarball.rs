//! The input as an (uncompressed) tar stream, gzipped here, unpacked by the deploy job's
//! unpacker into /dev/shm/fleet-fuzz-<pid>/root beside an empty outside/. Afterwards nothing
//! may exist beside root but the empty outside/, nothing new in /dev/shm, and every symlink
//! under root that resolves must resolve inside root. The root is removed after each run.
#![no_main]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fleetflow::application::deploy::source_archive::unpack_tarball;
use libfuzzer_sys::fuzz_target;

/// The unpacker's limits in the harness (bytes, entries): 1 MiB, 1,000 entries.
const LIMITS: (u64, usize) = (1 << 20, 1_000);

/// No single file may grow past this (RLIMIT_FSIZE): a tiny input can declare a sparse file of
/// gigabytes, and /dev/shm is memory shared with everyone on the machine.
const MAX_FILE_BYTES: u64 = 16 << 20;

struct Dirs {
    parent: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

fn dirs() -> &'static Dirs {
    static DIRS: OnceLock<Dirs> = OnceLock::new();
    DIRS.get_or_init(|| {
        // SAFETY: plain libc calls at start-up, before any file is unpacked.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: MAX_FILE_BYTES,
                rlim_max: MAX_FILE_BYTES,
            };
            assert_eq!(
                libc::setrlimit(libc::RLIMIT_FSIZE, &limit),
                0,
                "setrlimit(RLIMIT_FSIZE)"
            );
        }
        let parent = parent_dir();
        let _ = std::fs::remove_dir_all(&parent);
        // SAFETY: registers a plain function; a crash (abort) leaves the directory to look at.
        unsafe { libc::atexit(remove_parent) };
        let outside = parent.join("outside");
        std::fs::create_dir_all(&outside).expect("create outside/");
        Dirs {
            root: parent.join("root"),
            parent,
            outside,
        }
    })
}

fn parent_dir() -> PathBuf {
    PathBuf::from(format!("/dev/shm/fleet-fuzz-{}", std::process::id()))
}

extern "C" fn remove_parent() {
    let _ = std::fs::remove_dir_all(parent_dir());
}

fn names(dir: &Path) -> BTreeSet<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

/// Every path under `dir` (symlinks not followed), with its metadata.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, out);
        }
        out.push((path, meta));
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip to memory");
    gz.finish().expect("gzip to memory")
}

fuzz_target!(|data: &[u8]| {
    let d = dirs();
    std::fs::create_dir_all(&d.root).expect("create root");
    let shm_before = names(Path::new("/dev/shm"));
    let archive = gzip(data);

    let (max_bytes, max_entries) = LIMITS;
    let limits = fleetflow::application::deploy::source_archive::UnpackLimits { max_bytes, max_entries };
    let result = unpack_tarball(archive.as_slice(), &d.root, limits);

    let shm_after = names(Path::new("/dev/shm"));
    // Other fuzz processes (-jobs) and POSIX semaphores come and go there by themselves.
    let ours = |name: &&std::ffi::OsString| {
        let name = name.to_string_lossy();
        !name.starts_with("fleet-fuzz-") && !name.starts_with("sem.")
    };
    let new_in_shm: Vec<_> = shm_after.difference(&shm_before).filter(ours).collect();
    assert!(
        new_in_shm.is_empty(),
        "the unpacker wrote to /dev/shm: {new_in_shm:?} ({result:?})"
    );
    let beside: BTreeSet<_> = names(&d.parent);
    let expected: BTreeSet<std::ffi::OsString> = ["outside", "root"].map(Into::into).into();
    assert_eq!(beside, expected, "the unpacker wrote beside its root ({result:?})");
    let mut outside = Vec::new();
    walk(&d.outside, &mut outside);
    assert!(
        outside.is_empty(),
        "the unpacker wrote outside its root: {outside:?} ({result:?})"
    );

    let root = d.root.canonicalize().expect("canonical root");
    let mut tree = Vec::new();
    walk(&d.root, &mut tree);
    for (path, meta) in &tree {
        if meta.file_type().is_symlink()
            && let Ok(resolved) = path.canonicalize()
        {
            assert!(
                resolved.starts_with(&root),
                "{} resolves outside the root, to {} ({result:?})",
                path.display(),
                resolved.display()
            );
        }
    }
    if let Ok(count) = &result {
        assert!(
            *count <= max_entries,
            "{count} entries unpacked over the limit {max_entries}"
        );
        let bytes: u64 = tree.iter().filter(|(_, m)| m.is_file()).map(|(_, m)| m.len()).sum();
        assert!(bytes <= max_bytes, "{bytes} bytes unpacked over the limit {max_bytes}");
    }
    std::fs::remove_dir_all(&d.root).expect("remove root");
});
