use super::*;
use std::collections::{BTreeMap, BTreeSet};

/// Every message of a catalogue with the placeholders it uses, refusing
/// parse errors, duplicate ids and empty texts.
fn messages(name: &str, src: &'static str) -> BTreeMap<String, BTreeSet<String>> {
    let res = match FluentResource::try_new(src.to_string()) {
        Ok(r) => r,
        Err((_, errors)) => panic!("{name} does not parse: {errors:?}"),
    };
    let mut out = BTreeMap::new();
    for entry in res.entries() {
        let ast::Entry::Message(m) = entry else {
            continue;
        };
        let Some(pattern) = &m.value else {
            panic!("{name}: {} has no text", m.id.name);
        };
        let mut vars = BTreeSet::new();
        for el in &pattern.elements {
            match el {
                ast::PatternElement::TextElement { value } => {
                    assert!(!value.trim().is_empty(), "{name}: {} is blank", m.id.name)
                }
                ast::PatternElement::Placeable {
                    expression:
                        ast::Expression::Inline(ast::InlineExpression::VariableReference { id }),
                } => {
                    vars.insert(id.name.to_string());
                }
                other => panic!("{name}: {} uses {other:?}", m.id.name),
            }
        }
        assert!(
            out.insert(m.id.name.to_string(), vars).is_none(),
            "{name}: {} is listed twice",
            m.id.name
        );
    }
    out
}

#[test]
fn both_catalogues_hold_the_same_keys_and_placeholders() {
    let pt = messages("pt-BR.ftl", PT_BR_FTL);
    let en = messages("en.ftl", EN_FTL);
    let pt_keys: BTreeSet<_> = pt.keys().collect();
    let en_keys: BTreeSet<_> = en.keys().collect();
    let only_pt: Vec<_> = pt_keys.difference(&en_keys).collect();
    let only_en: Vec<_> = en_keys.difference(&pt_keys).collect();
    assert!(
        only_pt.is_empty() && only_en.is_empty(),
        "only in pt-BR: {only_pt:?}; only in en: {only_en:?}"
    );
    for (k, vars) in &pt {
        assert_eq!(Some(vars), en.get(k), "{k}: placeholders differ");
    }
    assert!(pt.len() > 100, "only {} messages", pt.len());
}

/// Every key the sources pass to `t`/`get` as a literal is a message
/// without placeholders, and every key passed to `tf` exists, so a typo
/// or a forgotten translation fails here.
#[test]
fn every_key_the_code_uses_exists() {
    let pt = messages("pt-BR.ftl", PT_BR_FTL);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut used = 0;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            // This file asks for missing keys on purpose.
            if path.extension().and_then(|e| e.to_str()) != Some("rs")
                || path.ends_with("i18n/tests.rs")
            {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            for (marker, plain) in [(".t(\"", true), (".tf(\"", false)] {
                for (i, _) in src.match_indices(marker) {
                    let rest = &src[i + marker.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    used += 1;
                    let vars = pt
                        .get(&fluent_id(key))
                        .unwrap_or_else(|| panic!("{}: no key {key}", path.display()));
                    assert!(
                        !plain || vars.is_empty(),
                        "{}: {key} has placeholders; use tf",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(used > 30, "the scan found only {used} keys");
}

#[test]
fn accept_language_picks_english_only_when_asked() {
    let pick = |v: &str| Lang::from_accept_language(Some(v), Lang::PtBr);
    assert_eq!(Lang::from_accept_language(None, Lang::PtBr), Lang::PtBr);
    assert_eq!(Lang::from_accept_language(None, Lang::En), Lang::En);
    assert_eq!(pick("en"), Lang::En);
    assert_eq!(pick("en-US,en;q=0.9"), Lang::En);
    assert_eq!(pick("pt-BR,pt;q=0.9,en;q=0.8"), Lang::PtBr);
    assert_eq!(pick("de, en;q=0.5"), Lang::En);
    assert_eq!(pick("fr"), Lang::PtBr);
    assert_eq!(Lang::from_accept_language(Some("fr"), Lang::En), Lang::En);
    assert_eq!(pick("en;q=0.2, pt;q=0.8"), Lang::PtBr);
    assert_eq!(pick("en;q=0"), Lang::PtBr);
}

#[test]
fn tags_parse_both_ways() {
    for l in Lang::ALL {
        assert_eq!(Lang::parse(l.tag()), Some(l));
    }
    assert_eq!(Lang::parse("PT_br"), Some(Lang::PtBr));
    assert_eq!(Lang::parse("en-GB"), Some(Lang::En));
    assert_eq!(Lang::parse("es"), None);
    assert_eq!(Lang::parse(""), None);
}

#[test]
fn placeholders_are_filled_without_isolation_marks() {
    assert_eq!(Lang::PtBr.tf("desk.hello", &[("name", "Ana")]), "Olá, Ana");
    assert_eq!(
        Lang::En.tf("duration.h_min", &[("h", "1"), ("m", "05")]),
        "1 h 05 min"
    );
    assert_eq!(Lang::PtBr.t("presence.in_call"), "Em chamada");
    assert_eq!(Lang::En.t("no.such.key"), "no.such.key");
    assert_eq!(Lang::En.tf("no.such.key", &[]), "no.such.key");
}

#[test]
fn numbers_are_written_the_way_each_language_reads_them() {
    assert_eq!(Lang::PtBr.number(1234.5, 1), "1.234,5");
    assert_eq!(Lang::En.number(1234.5, 1), "1,234.5");
    assert_eq!(Lang::PtBr.number(1234567.0, 0), "1.234.567");
    assert_eq!(Lang::PtBr.number(0.25, 2), "0,25");
    assert_eq!(Lang::PtBr.number(-12.04, 1), "-12,0");
    assert_eq!(Lang::PtBr.number(-0.01, 1), "0,0");
    assert_eq!(Lang::En.number(999.0, 0), "999");
}

#[test]
fn dates_are_brazilian_in_both_languages() {
    use chrono::TimeZone as _;
    let t = chrono_tz::America::Sao_Paulo
        .with_ymd_and_hms(2026, 11, 24, 9, 30, 0)
        .unwrap();
    for l in Lang::ALL {
        assert_eq!(l.date_time(&t), "24/11/2026 09:30");
        assert_eq!(l.date(&t), "24/11/2026");
    }
}
