//! Re-derives the validator's tables from the OCSF 1.3.0 schema files in `../shared/ocsf` and
//! checks they agree: required attributes and enum values of the classes, profiles and objects
//! logfetch emits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use logfetch_common::validate::{self, Attr, Req};
use serde_json::Value;

fn schema_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/ocsf/1.3.0")
}

fn load(rel: &str) -> Value {
    let p = schema_root().join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

type Attrs = BTreeMap<String, serde_json::Map<String, Value>>;

fn merge(into: &mut Attrs, from: Attrs) {
    for (k, v) in from {
        let e = into.entry(k).or_default();
        for (kk, vv) in v {
            e.insert(kk, vv);
        }
    }
}

/// Attributes of a class/object file with its `$include`s (profiles only when asked).
fn own_attrs(doc: &Value, with_profiles: bool) -> Attrs {
    let mut out = Attrs::new();
    let Some(attrs) = doc.get("attributes").and_then(Value::as_object) else { return out };
    if let Some(incs) = attrs.get("$include").and_then(Value::as_array) {
        for inc in incs.iter().filter_map(Value::as_str) {
            if inc.starts_with("profiles/") && !with_profiles {
                continue;
            }
            merge(&mut out, own_attrs(&load(inc), with_profiles));
        }
    }
    let mut mine = Attrs::new();
    for (k, v) in attrs {
        if k != "$include" {
            mine.insert(k.clone(), v.as_object().cloned().unwrap_or_default());
        }
    }
    merge(&mut out, mine);
    out
}

fn find_class(name: &str) -> Value {
    fn walk(dir: &Path, name: &str) -> Option<Value> {
        for entry in std::fs::read_dir(dir).ok()? {
            let p = entry.ok()?.path();
            if p.is_dir() {
                if let Some(v) = walk(&p, name) {
                    return Some(v);
                }
            } else if p.extension().is_some_and(|e| e == "json") {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).ok()?).ok()?;
                if v.get("name").and_then(Value::as_str) == Some(name) {
                    return Some(v);
                }
            }
        }
        None
    }
    walk(&schema_root().join("events"), name).unwrap_or_else(|| panic!("class {name} not found"))
}

fn class_attrs(name: &str) -> Attrs {
    let doc = find_class(name);
    let mut base = match doc.get("extends").and_then(Value::as_str) {
        Some(parent) => class_attrs(parent),
        None => Attrs::new(),
    };
    merge(&mut base, own_attrs(&doc, false));
    base
}

/// The category a class declares, or inherits from the class it extends.
fn category_of(name: &str) -> String {
    let doc = find_class(name);
    match (doc.get("category").and_then(Value::as_str), doc.get("extends").and_then(Value::as_str)) {
        (Some(c), _) => c.to_string(),
        (None, Some(parent)) => category_of(parent),
        (None, None) => String::new(),
    }
}

fn object_attrs(name: &str) -> Attrs {
    let doc = load(&format!("objects/{name}.json"));
    let mut base = match doc.get("extends").and_then(Value::as_str) {
        Some(parent) if !parent.is_empty() => object_attrs(parent),
        _ => Attrs::new(),
    };
    merge(&mut base, own_attrs(&doc, false));
    base
}

fn dictionary() -> serde_json::Map<String, Value> {
    load("dictionary.json")["attributes"].as_object().cloned().unwrap()
}

fn enum_values(attr: &str, local: &serde_json::Map<String, Value>, dict: &serde_json::Map<String, Value>) -> BTreeSet<i64> {
    // A class's enum adds to the dictionary's (which holds 0 Unknown / 99 Other).
    let mut out = BTreeSet::new();
    for src in [dict.get(attr).and_then(|d| d.get("enum")), local.get("enum")] {
        if let Some(Value::Object(m)) = src {
            out.extend(m.keys().filter_map(|k| k.parse::<i64>().ok()));
        }
    }
    out
}

fn required(attrs: &Attrs) -> BTreeSet<String> {
    attrs.iter().filter(|(_, v)| v.get("requirement").and_then(Value::as_str) == Some("required")).map(|(k, _)| k.clone()).collect()
}

fn ours_required(list: &[&Attr]) -> BTreeSet<String> {
    list.iter().filter(|a| a.req == Req::Required).map(|a| a.name.to_string()).collect()
}

fn check_enums(what: &str, ours: &[&Attr], theirs: &Attrs) {
    let dict = dictionary();
    // category_uid / class_uid are fixed per class (the schema computes them), not dictionary enums.
    for a in ours.iter().filter(|a| !a.values.is_empty() && a.name != "category_uid" && a.name != "class_uid") {
        let local = theirs.get(a.name).unwrap_or_else(|| panic!("{what}: `{}` is not in the schema", a.name));
        let want = enum_values(a.name, local, &dict);
        let have: BTreeSet<i64> = a.values.iter().copied().collect();
        assert_eq!(have, want, "{what}.{}: enum values differ from the schema", a.name);
    }
    for a in ours {
        if a.name == "category_uid" || a.name == "class_uid" {
            continue;
        }
        let local = theirs.get(a.name).unwrap_or_else(|| panic!("{what}: `{}` is not in the schema", a.name));
        let req = match local.get("requirement").and_then(Value::as_str) {
            Some("required") => Req::Required,
            Some("recommended") => Req::Recommended,
            _ => Req::Optional,
        };
        assert_eq!(a.req, req, "{what}.{}: requirement differs from the schema", a.name);
    }
}

fn class_table(rules: &validate::ClassRules) -> Vec<&'static Attr> {
    rules.common.iter().chain(rules.attrs.iter()).collect()
}

#[test]
fn class_tables_match_the_schema() {
    for rules in validate::CLASSES {
        let theirs = class_attrs(rules.name);
        let ours = class_table(rules);
        assert_eq!(ours_required(&ours), required(&theirs), "{}: required attributes differ", rules.name);
        check_enums(rules.name, &ours, &theirs);
    }
    // Class and category numbers.
    let cats = load("categories.json");
    assert_eq!(cats["attributes"]["network"]["uid"], 4);
    assert_eq!(cats["attributes"]["findings"]["uid"], 2);
    assert_eq!(find_class("network_activity")["uid"], 1);
    assert_eq!(find_class("dns_activity")["uid"], 3);
    assert_eq!(find_class("detection_finding")["uid"], 4);
    for rules in validate::CLASSES {
        let cat = if rules.uid / 1000 == 2 { "findings" } else { "network" };
        assert_eq!(category_of(rules.name), cat, "{}", rules.name);
        // Every attribute we list exists in the class (with its category's).
        let theirs = class_attrs(rules.name);
        for a in class_table(rules) {
            assert!(theirs.contains_key(a.name), "{}: `{}` is not an attribute of the class", rules.name, a.name);
        }
    }
    assert_eq!(load("version.json")["version"], logfetch_common::ocsf::OCSF_VERSION);
}

#[test]
fn profile_tables_match_the_schema() {
    for (name, attrs) in validate::PROFILES {
        let theirs = own_attrs(&load(&format!("profiles/{name}.json")), true);
        let ours: Vec<&Attr> = attrs.iter().collect();
        assert_eq!(ours_required(&ours), required(&theirs), "profile {name}");
        check_enums(&format!("profile {name}"), &ours, &theirs);
    }
}

#[test]
fn object_tables_match_the_schema() {
    let file_of = |n: &str| match n {
        "network_connection_info" => "network_connection_info".to_string(),
        other => other.to_string(),
    };
    for (name, attrs) in validate::OBJECTS {
        let theirs = object_attrs(&file_of(name));
        let ours: Vec<&Attr> = attrs.iter().collect();
        assert_eq!(ours_required(&ours), required(&theirs), "object {name}");
        check_enums(&format!("object {name}"), &ours, &theirs);
    }
}

#[test]
fn closed_object_lists_are_exactly_the_schema_attributes() {
    for (name, known) in validate::CLOSED_OBJECTS_FOR_TESTS {
        let theirs: BTreeSet<String> = object_attrs(name).keys().cloned().collect();
        let ours: BTreeSet<String> = known.iter().map(|s| s.to_string()).collect();
        assert_eq!(ours, theirs, "object {name}");
    }
}
