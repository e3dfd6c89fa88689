use super::*;

#[test]
fn inputs_keep_hyphens_and_uppercase() {
    let get = |k: &str| (k == "INPUT_DRY-RUN").then(|| " true ".to_owned());
    assert_eq!(input_from("dry-run", get).as_deref(), Some("true"));
    assert_eq!(input_from("dry_run", get), None);
}

#[test]
fn outputs_round_trip() {
    let text = output_entry("a", "x\ny") + "b=1\n" + &output_entry("c", "");
    let parsed = parse_outputs(&text).unwrap();
    assert_eq!(
        parsed,
        vec![
            ("a".into(), "x\ny".into()),
            ("b".into(), "1".into()),
            ("c".into(), "".into())
        ]
    );
}

#[test]
fn flags() {
    assert_eq!(flag(Some("False"), true), Ok(false));
    assert_eq!(flag(None, true), Ok(true));
    assert!(flag(Some("maybe"), true).is_err());
}
