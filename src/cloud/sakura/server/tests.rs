use super::{ArchiveQuery, archive_query};

fn tags(t: &[&str]) -> ArchiveQuery {
    ArchiveQuery::Tags(t.iter().map(|s| (*s).to_owned()).collect())
}

#[test]
fn os_names_map_to_the_sdks_archive_tags() {
    assert_eq!(archive_query("ubuntu-24.04"), tags(&["ubuntu-24.04-latest"]));
    assert_eq!(archive_query("Ubuntu"), tags(&["current-stable", "distro-ubuntu"]));
    assert_eq!(archive_query("debian-12"), tags(&["debian-12-latest"]));
    assert_eq!(archive_query("rockylinux-9"), tags(&["rocky-9-latest"]));
    assert_eq!(archive_query("almalinux"), tags(&["current-stable", "distro-alma"]));
    assert_eq!(archive_query("FreeBSD 14"), ArchiveQuery::Name("freebsd 14".into()));
}
