//! The saved-graph format as untrusted input: a valid file round-trips, and
//! malformed, truncated, oversized or hostile files get one error of the
//! right kind — never a panic (a fuzz-style property test mutates a valid
//! file at random). Needs only the `save` feature.

use lockdep::save::{Limits, LoadErrorKind, SavedGraph};
use proptest::prelude::*;

/// A valid graph of two runs using every field of the format.
const VALID: &str = r#"{
  "format": "lockdep-graph",
  "version": 2,
  "runs": [
    { "name": "suite_a", "pid": 11, "validator": "global", "saved_at": 1767225600 },
    { "name": "suite_b", "source": "runs/b.json" }
  ],
  "classes": [
    { "name": "account", "key": { "site": "src/bank.rs:10:19" }, "type": "bank::Account" },
    { "name": "ledger", "key": { "addr": "0x55d0c3a1b2c0" }, "subclass": 1, "version": 2 },
    { "name": "C:odd", "key": { "site": "C:\\src\\win.rs:3:4" } },
    { "name": "account", "key": { "site": "src/bank.rs:10:19" }, "type": "bank::Audit", "version": 2 }
  ],
  "edges": [
    { "from": 0, "to": 1, "types": ["EN", "SR"], "distance": 1,
      "seen": [
        { "run": 0, "thread": "worker",
          "held": { "instance": "account", "read": "write", "site": "src/bank.rs:21:9" },
          "taken": { "instance": "ledger", "read": "read-recursive", "trylock": true, "site": "src/bank.rs:22:9" },
          "trace": [ { "function": "bank::transfer", "file": "src/bank.rs", "line": 22 }, { "function": "main" } ] },
        { "run": 1,
          "held": { "instance": "account", "read": "read", "site": "src/bank.rs:30:9" },
          "taken": { "instance": "ledger", "read": "write", "site": "src/bank.rs:31:9" } }
      ] },
    { "from": 2, "to": 2, "types": ["SR"], "distance": 2,
      "seen": [ { "run": 1,
          "held": { "instance": "x", "read": "read", "site": "a.rs:1:1" },
          "taken": { "instance": "x", "read": "read-recursive", "site": "a.rs:2:1" } } ] }
  ]
}"#;

#[test]
fn a_valid_file_reads_and_round_trips() {
    let g = SavedGraph::from_json(VALID.as_bytes()).unwrap();
    assert_eq!((g.runs.len(), g.classes.len(), g.edges.len()), (2, 4, 2));
    assert_eq!(g.classes[1].display_name(), "ledger#2/1");
    // One site, two types: two classes (and one without a type).
    assert_eq!(g.classes[0].ty.as_deref(), Some("bank::Account"));
    assert_eq!(g.classes[3].ty.as_deref(), Some("bank::Audit"));
    assert_eq!(g.classes[2].ty, None);
    assert_ne!(g.classes[0].identity(), g.classes[3].identity());
    assert_eq!(g.edges[0].types.to_string(), "EN|SR");
    let o = &g.edges[0].seen[0];
    assert!(o.taken.trylock && !o.held.trylock);
    assert_eq!(o.taken.site.to_string(), "src/bank.rs:22:9");
    let odd = match &g.classes[2].key {
        lockdep::save::Key::Site(s) => s,
        k => panic!("{k:?}"),
    };
    assert_eq!((odd.file.as_str(), odd.line, odd.col), ("C:\\src\\win.rs", 3, 4), "':' in a file name");
    let again = SavedGraph::from_json(g.to_json().as_bytes()).unwrap();
    assert_eq!(g, again);
    assert_eq!(again.to_json(), g.to_json());
}

#[test]
fn bad_files_get_one_error_of_the_right_kind() {
    let swap = |from: &str, to: &str| {
        assert!(VALID.contains(from), "{from}");
        VALID.replacen(from, to, 1)
    };
    let cases: Vec<(String, LoadErrorKind)> = vec![
        (String::new(), LoadErrorKind::Syntax),
        ("not json".into(), LoadErrorKind::Syntax),
        (VALID[..VALID.len() / 2].into(), LoadErrorKind::Syntax),
        ("[1, 2]".into(), LoadErrorKind::NotAGraph),
        ("{}".into(), LoadErrorKind::NotAGraph),
        (swap("lockdep-graph", "other-graph"), LoadErrorKind::NotAGraph),
        (swap("\"version\": 2", "\"version\": 3"), LoadErrorKind::Version),
        (swap("\"version\": 2", "\"version\": 1"), LoadErrorKind::Version),
        (swap("\"version\": 2", "\"version\": \"2\""), LoadErrorKind::Version),
        // One site and one type twice: one class twice.
        (swap("bank::Audit", "bank::Account"), LoadErrorKind::Invalid),
        // A type belongs to a site key.
        (swap("\"0x55d0c3a1b2c0\" },", "\"0x55d0c3a1b2c0\" }, \"type\": \"u8\","), LoadErrorKind::Invalid),
        (swap("\"to\": 1", "\"to\": 4"), LoadErrorKind::Invalid),
        (swap("\"to\": 1", "\"to\": -1"), LoadErrorKind::Syntax),
        (swap("\"to\": 1", "\"to\": 18446744073709551616"), LoadErrorKind::Syntax),
        (swap("\"run\": 1,", "\"run\": 2,"), LoadErrorKind::Invalid),
        (swap("\"subclass\": 1", "\"subclass\": 8"), LoadErrorKind::Invalid),
        (swap("\"from\": 2, \"to\": 2", "\"from\": 0, \"to\": 1"), LoadErrorKind::Invalid),
        (
            swap(
                "\"addr\": \"0x55d0c3a1b2c0\" }, \"subclass\": 1",
                "\"site\": \"src/bank.rs:10:19\" }, \"type\": \"bank::Account\", \"subclass\": 0",
            ),
            LoadErrorKind::Invalid,
        ),
        (swap("[\"EN\", \"SR\"]", "[]"), LoadErrorKind::Syntax),
        (swap("[\"EN\", \"SR\"]", "[\"XX\"]"), LoadErrorKind::Syntax),
        (swap("\"read-recursive\", \"trylock\"", "\"sometimes\", \"trylock\""), LoadErrorKind::Syntax),
        (swap("src/bank.rs:21:9", "src/bank.rs"), LoadErrorKind::Syntax),
        (swap("src/bank.rs:21:9", ":21:9"), LoadErrorKind::Syntax),
        (swap("\"seen\": [ { \"run\": 1,", "\"seen\": [], \"x\": [ { \"run\": 1,"), LoadErrorKind::Invalid),
        (swap("\"runs\": [", "\"runs\": 5, \"r\": ["), LoadErrorKind::Syntax),
        // Nesting far beyond any real file: refused by depth, no stack overflow.
        (
            format!("{{\"format\": \"lockdep-graph\", \"version\": 2, \"runs\": {}", "[".repeat(100_000)),
            LoadErrorKind::Syntax,
        ),
    ];
    for (text, kind) in &cases {
        let err = SavedGraph::from_json(text.as_bytes()).expect_err(text);
        assert_eq!(err.kind(), *kind, "{err} for {}", &text[..text.len().min(200)]);
        assert!(!err.to_string().is_empty() && !err.to_string().contains('\n'), "one line: {err}");
    }
    // A file of the format before types were part of a class says so.
    let old = SavedGraph::from_json(swap("\"version\": 2", "\"version\": 1").as_bytes()).unwrap_err().to_string();
    assert!(old.contains("version 1") && old.contains("save the graph again"), "{old}");
    // Hostile text is quoted clipped, never whole.
    let long =
        swap("\"write\", \"site\": \"src/bank.rs:21:9\"", &format!("\"{}\", \"site\": \"x:1:1\"", "w".repeat(5000)));
    let msg = SavedGraph::from_json(long.as_bytes()).unwrap_err().to_string();
    assert!(msg.len() < 600, "{msg}");
}

#[test]
fn limits_refuse_oversized_files() {
    let small = Limits::default().with_max_bytes(100);
    assert_eq!(SavedGraph::from_json_with(VALID.as_bytes(), &small).unwrap_err().kind(), LoadErrorKind::TooLarge);
    let mut few = Limits::default();
    few.max_classes = 2;
    assert_eq!(SavedGraph::from_json_with(VALID.as_bytes(), &few).unwrap_err().kind(), LoadErrorKind::TooLarge);
    let mut short = Limits::default();
    short.max_string = 10;
    assert_eq!(SavedGraph::from_json_with(VALID.as_bytes(), &short).unwrap_err().kind(), LoadErrorKind::TooLarge);
    let mut frames = Limits::default();
    frames.max_frames = 1;
    assert_eq!(SavedGraph::from_json_with(VALID.as_bytes(), &frames).unwrap_err().kind(), LoadErrorKind::TooLarge);

    // From a file: refused by its size before it is read, and while reading.
    let dir = std::env::temp_dir().join(format!("lockdep-save-format-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("big.json");
    std::fs::write(&f, VALID).unwrap();
    let err = SavedGraph::read_with(&f, &small).unwrap_err();
    assert_eq!(err.kind(), LoadErrorKind::TooLarge);
    assert_eq!(err.path(), Some(f.as_path()));
    assert!(err.to_string().starts_with(&f.display().to_string()), "{err}");
    assert_eq!(SavedGraph::read(&dir).unwrap_err().kind(), LoadErrorKind::Io);
    assert_eq!(SavedGraph::read(dir.join("missing.json")).unwrap_err().kind(), LoadErrorKind::Io);
    assert!(SavedGraph::read(&f).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A mutation of a byte string: overwrite, insert, delete or truncate.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// Replace a digit run by a huge or negative number.
    Number(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = prop::sample::select(b"{}[]\",:0123456789-eE.\\ ntfux\x00\xff".to_vec());
    prop_oneof![
        (any::<usize>(), bytes.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), bytes).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::sample::select(vec!["99999999999999999999", "-1", "1e400", "4294967296", "0.5"]))
            .prop_map(|(i, n)| Mutation::Number(i, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len().max(1);
    match *m {
        Mutation::Set(i, b) if !bytes.is_empty() => bytes[i % n] = b,
        Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        Mutation::Delete(i) if !bytes.is_empty() => {
            bytes.remove(i % n);
        }
        Mutation::Truncate(i) => bytes.truncate(i % n),
        Mutation::Number(i, num) => {
            let digits: Vec<usize> = (0..bytes.len()).filter(|&k| bytes[k].is_ascii_digit()).collect();
            if let Some(&at) = digits.get(i % digits.len().max(1)) {
                let end = (at..bytes.len()).find(|&k| !bytes[k].is_ascii_digit()).unwrap_or(bytes.len());
                bytes.splice(at..end, num.bytes());
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any mutation of a valid file reads as a graph that passes the checks
    /// (and round-trips) or fails with an error — it never panics.
    #[test]
    fn mutated_files_never_panic_the_loader(ms in prop::collection::vec(mutation(), 1..6)) {
        let mut bytes = VALID.as_bytes().to_vec();
        for m in &ms {
            apply(&mut bytes, m);
        }
        match SavedGraph::from_json(&bytes) {
            Ok(g) => {
                // Whatever was accepted is consistent enough to use.
                for e in &g.edges {
                    prop_assert!(e.from < g.classes.len() && e.to < g.classes.len());
                    prop_assert!(e.seen.iter().all(|o| o.run < g.runs.len()));
                }
                prop_assert_eq!(SavedGraph::from_json(g.to_json().as_bytes()).unwrap(), g.clone());
                let merged = SavedGraph::merge([&g, &g]);
                prop_assert_eq!(merged.classes.len(), g.classes.len());
                let _ = g.new_orders(&merged);
                let _ = g.to_baseline("b");
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Every prefix of a valid file is refused as truncated (or not a graph).
    #[test]
    fn truncated_files_are_refused(cut in 0usize..VALID.len()) {
        let err = SavedGraph::from_json(&VALID.as_bytes()[..cut]).unwrap_err();
        prop_assert!(matches!(err.kind(), LoadErrorKind::Syntax), "{}", err);
    }
}
