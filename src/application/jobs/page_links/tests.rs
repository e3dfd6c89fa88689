use super::*;

#[test]
fn a_link_opens_its_page_until_it_expires_and_not_altered() {
    let links = PageLinks::new("https://fleet.example.com/", &Secret::new("whsec"));
    let link = links.link(42, 1_000);
    let query = link
        .strip_prefix("https://fleet.example.com/deploys/42?")
        .expect("the page's path");
    let (exp, sig) = query.split_once("&sig=").expect("exp and sig");
    let exp: i64 = exp.trim_start_matches("exp=").parse().expect("a number");
    assert_eq!(links.verify(42, exp, sig, 2_000), Ok(()));
    assert_eq!(
        links.verify(43, exp, sig, 2_000),
        Err(LinkError::Altered),
        "another job"
    );
    assert_eq!(
        links.verify(42, exp + 1, sig, 2_000),
        Err(LinkError::Altered),
        "a later expiry"
    );
    assert_eq!(links.verify(42, exp, "zz", 2_000), Err(LinkError::Altered));
    assert_eq!(links.verify(42, exp, sig, exp + 1), Err(LinkError::Expired));
    let other = PageLinks::new("https://fleet.example.com", &Secret::new("other"));
    assert_eq!(
        other.verify(42, exp, sig, 2_000),
        Err(LinkError::Altered),
        "another App's key"
    );
    assert!(!link.contains("whsec"));
}
