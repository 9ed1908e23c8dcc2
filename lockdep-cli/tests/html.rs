//! `lockdep html`: the page escapes every name it shows and needs no
//! network; in a real headless Chromium (when `chromium` is on `PATH`; the
//! test shows as ignored otherwise) the cycle's classes are drawn red, the
//! others are not, a deep link opens a lock order's acquisition sites, and
//! no hostile name runs as script. `UPDATE_SCREENSHOTS=1` also writes the
//! screenshot the book shows (docs/src/across-runs.png).

use std::path::{Path, PathBuf};
use std::process::Command;

use lockdep::save::SavedGraph;
use lockdep::sync::Mutex;
use lockdep::{Config, Validator};

const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_THREAD: &str = "<img src=x onerror=\"document.title='pwned'\">";

/// Two runs of a small bank: run A takes account -> ledger -> audit, run B
/// audit -> account (closing a cycle neither saw), and orders around them,
/// one lock with a name that is markup and a thread whose name is too.
fn demo_runs(dir: &Path) -> Vec<PathBuf> {
    // One construction site (one class) each.
    let locks = [
        Mutex::named((), "account"),
        Mutex::named((), "ledger"),
        Mutex::named((), "audit"),
        Mutex::named((), "cache"),
        Mutex::named((), SCRIPT_NAME),
        Mutex::named((), "session"),
        Mutex::named((), "pool"),
        Mutex::named((), "conn"),
    ];
    /// A run: its name, its thread's name, the pairs of locks it takes in order.
    type RunSpec<'a> = (&'a str, &'a str, &'a [(usize, usize)]);
    let runs: [RunSpec<'_>; 2] = [
        ("suite-a", "transfer", &[(0, 1), (1, 2), (3, 0), (4, 3), (5, 6), (6, 7), (5, 3)]),
        ("suite-b", IMG_THREAD, &[(2, 0), (7, 3), (5, 0)]),
    ];
    let mut files = Vec::new();
    for (run, thread, pairs) in runs {
        let v = Validator::new(Config::collect());
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name(thread.to_owned())
                .spawn_scoped(s, || {
                    v.scope(|| {
                        for &(x, y) in pairs {
                            let _x = locks[x].lock();
                            let _y = locks[y].lock();
                        }
                    })
                })
                .unwrap()
                .join()
                .unwrap();
        });
        assert!(v.reports().is_empty(), "each run alone is fine");
        let mut g = v.saved_graph();
        g.runs[0].name = run.to_owned();
        files.push(g.write(dir.join(format!("{run}.json"))).unwrap());
    }
    files
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lockdep-html-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_page(dir: &Path) -> (PathBuf, SavedGraph) {
    let runs = demo_runs(dir);
    let page = dir.join("report.html");
    let out =
        Command::new(env!("CARGO_BIN_EXE_lockdep")).arg("html").args(&runs).arg("-o").arg(&page).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let graphs: Vec<SavedGraph> = runs.iter().map(|r| SavedGraph::read(r).unwrap()).collect();
    (page, SavedGraph::merge(&graphs))
}

#[test]
fn the_page_escapes_every_name_and_needs_no_network() {
    let dir = temp_dir("escape");
    let (page, g) = write_page(&dir);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains(SCRIPT_NAME), "the lock name is never markup");
    assert!(!html.contains("<img"), "nor the thread name");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "it is drawn as text");
    assert_eq!(html.matches("<script").count(), 2, "the data block and the page's own script, nothing else");
    assert_eq!(html.matches("</script>").count(), 2);
    // The hostile thread name is the only "src=" (as text); nothing else loads anything.
    let scrubbed = html.replace("src=x", "");
    for external in ["src=", "href=", "<link", "<iframe", "<object", "@import", "fetch(", "XMLHttpRequest"] {
        assert!(!scrubbed.contains(external), "nothing loaded from anywhere: {external}");
    }
    assert_eq!(scrubbed.matches("url(").count(), scrubbed.matches("url(#").count(), "only local references");
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count(),
        "only the SVG namespace"
    );
    // Every class is drawn (8 are few), the cycle's three in red.
    assert_eq!(g.classes.len(), 8);
    assert_eq!(html.matches("<g class=\"node cycle\"").count(), 3);
    assert_eq!(html.matches("<g class=\"node\"").count(), 5);
    assert_eq!(html.matches("<path class=\"edge cycle\"").count(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn large_graphs_are_trimmed_to_the_cycles_neighbourhood() {
    let dir = temp_dir("large");
    let runs = demo_runs(&dir);
    let page = dir.join("small.html");
    let out = Command::new(env!("CARGO_BIN_EXE_lockdep"))
        .arg("html")
        .args(&runs)
        .args(["--max-classes", "4", "-o"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Showing 4 of 8 classes"), "the cycle's classes and a neighbour, at this limit");
    assert_eq!(html.matches("<g class=\"node cycle\"").count(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs headless Chromium on `url` with `args`; its stdout.
fn chromium(args: &[&str], url: &str) -> String {
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .args(["--disable-extensions", "--disable-background-networking"])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[cfg_attr(not(has_chromium), ignore = "chromium is not on PATH (apt-get install chromium)")]
fn in_a_real_browser_the_cycle_is_red_and_details_open() {
    let dir = temp_dir("browser");
    let (page, g) = write_page(&dir);
    let url = format!("file://{}", page.display());
    let cycle = g.cycles();
    assert_eq!(cycle.len(), 1);
    let closing = *cycle[0].edges.last().unwrap();

    // The DOM after the page's script ran, with the closing edge's details open.
    let dom = chromium(&["--dump-dom"], &format!("{url}#edge={closing}"));
    assert!(
        dom.contains("<title>lockdep: the lock graph across runs</title>"),
        "the title is ours: {}",
        &dom[..300.min(dom.len())]
    );
    assert!(!dom.contains("<title>pwned"), "no name ran as script");
    let cycle_classes: Vec<&str> = dom
        .match_indices("<g class=\"node cycle\" data-class=\"")
        .map(|(i, m)| {
            let rest = &dom[i + m.len()..];
            let idx: usize = rest[..rest.find('"').unwrap()].parse().unwrap();
            g.classes[idx].name.as_str()
        })
        .collect();
    let mut sorted = cycle_classes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["account", "audit", "ledger"]);
    let details = &dom[dom.find("<div id=\"details\">").expect("details panel")..];
    let details = &details[..details.find("</aside>").unwrap()];
    assert!(details.contains("<h2>audit -&gt; account</h2>"), "{details}");
    assert!(details.contains("run #1 suite-b"), "{details}");
    assert!(details.contains("thread &lt;img src=x"), "the hostile thread name is text: {details}");
    assert!(details.contains(&format!("taken: account (write) at {}:", file!())), "{details}");
    let class_dom = chromium(&["--dump-dom"], &format!("{url}#search=script"));
    assert!(
        class_dom.contains("<span id=\"matches\">1 drawn, 1 in all</span>"),
        "search finds the class named as markup"
    );

    // The screenshot: the cycle's fill and stroke colours are on screen; and
    // on a page without the closing run, they are not.
    let shot = dir.join("page.png");
    chromium(
        &["--window-size=1400,860", &format!("--screenshot={}", shot.display())],
        &format!("{url}#edge={closing}"),
    );
    let (w, h, px) = decode_png(&std::fs::read(&shot).unwrap());
    assert_eq!((w, h), (1400, 860));
    let count = |rgb: [u8; 3]| px.chunks(4).filter(|p| p[..3] == rgb).count();
    let (fill, stroke) = (count([0xff, 0xd6, 0xd6]), count([0xdd, 0x00, 0x00]));
    assert!(fill > 3 * 400, "three red class boxes: {fill} pixels");
    assert!(stroke > 200, "red cycle edges: {stroke} pixels");
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/src/across-runs.png");
        std::fs::copy(&shot, docs).unwrap();
    }

    let only_a = dir.join("a-only.html");
    let out = Command::new(env!("CARGO_BIN_EXE_lockdep"))
        .args(["html", dir.join("suite-a.json").to_str().unwrap(), "-o", only_a.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let shot_a = dir.join("a.png");
    chromium(
        &["--window-size=1400,860", &format!("--screenshot={}", shot_a.display())],
        &format!("file://{}", only_a.display()),
    );
    let (_, _, px) = decode_png(&std::fs::read(&shot_a).unwrap());
    assert_eq!(px.chunks(4).filter(|p| p[..3] == [0xff, 0xd6, 0xd6]).count(), 0, "no cycle, nothing red");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)
/// to RGBA pixels.
fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let (mut w, mut h, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let body = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                assert_eq!((body[8], body[12]), (8, 0), "8-bit, not interlaced");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&idat).expect("zlib data");
    let stride = w * channels;
    let mut out = vec![0u8; w * h * 4];
    let mut prev = vec![0u8; stride];
    let mut line = vec![0u8; stride];
    for y in 0..h {
        let row = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let (filter, data) = (row[0], &row[1..]);
        for i in 0..stride {
            let a = if i >= channels { line[i - channels] } else { 0 };
            let (b, c) = (prev[i], if i >= channels { prev[i - channels] } else { 0 });
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = ((p - a as i16).abs(), (p - b as i16).abs(), (p - c as i16).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            line[i] = data[i].wrapping_add(predicted);
        }
        for x in 0..w {
            let p = &line[x * channels..x * channels + channels];
            out[(y * w + x) * 4..(y * w + x) * 4 + 3].copy_from_slice(&p[..3]);
            out[(y * w + x) * 4 + 3] = if channels == 4 { p[3] } else { 255 };
        }
        std::mem::swap(&mut prev, &mut line);
    }
    (w, h, out)
}
