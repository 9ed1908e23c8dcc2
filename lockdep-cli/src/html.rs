//! `lockdep html`: one self-contained page (no network, no Graphviz) showing
//! the class graph of the saved runs, laid out in layers, the cycles in red,
//! a details panel for the class or lock order clicked (acquisition sites,
//! threads, runs, stack traces), a search box, and the cycle reports.
//!
//! Everything taken from the saved graphs — untrusted — reaches the page in
//! one of two ways only: as SVG/HTML text through [`escape`], or inside the
//! JSON data block with `<`, `>` and `&` written as `\u003c`-style escapes
//! (so no string can close the `<script>` element), from which the page's
//! script puts it into the document with `textContent`, never as markup.
//!
//! Deep links: `page.html#class=N`, `#edge=N` (indices in the merged
//! graph, as `lockdep merge` writes it) open the details of a class or lock
//! order, `#search=text` searches.
//!
//! Large graphs: above `max_classes` classes, only the classes within two
//! hops of a cycle are drawn (or, without a cycle, the most connected ones),
//! and the page says how many were left out.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use lockdep::save::{Cycle, SavedGraph};
use serde_json::{Value, json};

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element.
fn script_json(v: &Value) -> String {
    v.to_string().replace('&', "\\u0026").replace('<', "\\u003c").replace('>', "\\u003e")
}

/// Hops around the cycles that a trimmed page keeps.
const HOPS: usize = 2;
const NODE_H: f64 = 28.0;
const LAYER_GAP: f64 = 90.0;
const NODE_GAP: f64 = 28.0;
const MARGIN: f64 = 40.0;

/// The classes to draw: all of them, or the neighbourhood of the cycles.
fn keep(g: &SavedGraph, cycle_nodes: &HashSet<usize>, max: usize) -> Vec<usize> {
    let n = g.classes.len();
    if n <= max {
        return (0..n).collect();
    }
    let mut adj = vec![Vec::new(); n];
    let mut degree = vec![0usize; n];
    for e in &g.edges {
        adj[e.from].push(e.to);
        adj[e.to].push(e.from);
        degree[e.from] += 1;
        degree[e.to] += 1;
    }
    let mut seeds: Vec<usize> = cycle_nodes.iter().copied().collect();
    if seeds.is_empty() {
        let mut by_degree: Vec<usize> = (0..n).collect();
        by_degree.sort_by_key(|&i| std::cmp::Reverse(degree[i]));
        seeds = by_degree.into_iter().take(max.max(1) / 8 + 1).collect();
    }
    seeds.sort_unstable();
    let mut kept: Vec<usize> = seeds.clone();
    let mut seen: HashSet<usize> = seeds.iter().copied().collect();
    let mut frontier = seeds;
    for _ in 0..HOPS {
        let mut next = Vec::new();
        for c in frontier {
            for &y in &adj[c] {
                if kept.len() < max.max(cycle_nodes.len()) && seen.insert(y) {
                    next.push(y);
                    kept.push(y);
                }
            }
        }
        frontier = next;
    }
    kept.sort_unstable();
    kept
}

/// Node positions of a layered drawing: layers by longest path once the
/// back edges of a depth-first search are turned around, the order within
/// each layer by a few barycentre sweeps.
struct Layout {
    x: Vec<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
    layer: Vec<usize>,
    width: f64,
    height: f64,
}

fn layout(n: usize, edges: &[(usize, usize)], widths: Vec<f64>) -> Layout {
    // Back edges of an iterative DFS, so that the rest is acyclic.
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        if a != b {
            out[a].push(b);
        }
    }
    let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
    let mut back: HashSet<(usize, usize)> = HashSet::new();
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if let Some(&w) = out[v].get(*i) {
                *i += 1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => {
                        back.insert((v, w));
                    }
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    let dag: Vec<(usize, usize)> = edges
        .iter()
        .filter(|&&(a, b)| a != b)
        .map(|&(a, b)| if back.contains(&(a, b)) { (b, a) } else { (a, b) })
        .collect();
    // Longest-path layers (Kahn's order).
    let mut indeg = vec![0usize; n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &dag {
        succ[a].push(b);
        pred[b].push(a);
        indeg[b] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut queue: Vec<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    let mut head = 0;
    while head < queue.len() {
        let v = queue[head];
        head += 1;
        for &w in &succ[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indeg[w] -= 1;
            if indeg[w] == 0 {
                queue.push(w);
            }
        }
    }
    let layers = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for v in 0..n {
        rows[layer[v]].push(v);
    }
    // Barycentre sweeps, down then up.
    let mut pos = vec![0f64; n];
    let reindex = |rows: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for r in rows {
            for (i, &v) in r.iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    };
    reindex(&rows, &mut pos);
    for sweep in 0..4 {
        let down = sweep % 2 == 0;
        let order: Vec<usize> =
            if down { (1..layers).collect() } else { (0..layers.saturating_sub(1)).rev().collect() };
        for l in order {
            let nbrs = if down { &pred } else { &succ };
            let mut keyed: Vec<(f64, usize)> = rows[l]
                .iter()
                .map(|&v| {
                    let ns = &nbrs[v];
                    let b =
                        if ns.is_empty() { pos[v] } else { ns.iter().map(|&u| pos[u]).sum::<f64>() / ns.len() as f64 };
                    (b, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rows[l] = keyed.into_iter().map(|(_, v)| v).collect();
            reindex(&rows, &mut pos);
        }
    }
    let row_width =
        |r: &Vec<usize>| r.iter().map(|&v| widths[v]).sum::<f64>() + NODE_GAP * r.len().saturating_sub(1) as f64;
    let width = rows.iter().map(row_width).fold(0.0, f64::max) + 2.0 * MARGIN;
    let (mut x, mut y) = (vec![0f64; n], vec![0f64; n]);
    for (l, r) in rows.iter().enumerate() {
        let mut cx = (width - row_width(r)) / 2.0;
        for &v in r {
            x[v] = cx;
            y[v] = MARGIN + l as f64 * LAYER_GAP;
            cx += widths[v] + NODE_GAP;
        }
    }
    let height = MARGIN * 2.0 + layers.max(1) as f64 * LAYER_GAP;
    Layout { x, y, w: widths, layer, width: width.max(200.0), height }
}

/// The SVG path of an edge between two laid-out nodes.
fn edge_path(l: &Layout, a: usize, b: usize) -> String {
    let (ax, ay, aw) = (l.x[a], l.y[a], l.w[a]);
    let (bx, by, bw) = (l.x[b], l.y[b], l.w[b]);
    if a == b {
        let (x, y) = (ax + aw, ay + NODE_H / 2.0);
        return format!("M{:.1},{:.1} c30,-30 30,30 0,8", x, y - 4.0);
    }
    if l.layer[b] > l.layer[a] {
        let (x1, y1, x2, y2) = (ax + aw / 2.0, ay + NODE_H, bx + bw / 2.0, by);
        let my = (y1 + y2) / 2.0;
        format!("M{x1:.1},{y1:.1} C{x1:.1},{my:.1} {x2:.1},{my:.1} {x2:.1},{y2:.1}")
    } else {
        // Upwards or sideways (the turned-around edges): bow out to the right.
        let (x1, y1, x2, y2) = (ax + aw, ay + NODE_H / 2.0, bx + bw, by + NODE_H / 2.0);
        let bow = 60.0 + (y1 - y2).abs() / 4.0;
        let cx = x1.max(x2) + bow;
        format!("M{x1:.1},{y1:.1} C{cx:.1},{y1:.1} {cx:.1},{y2:.1} {x2:.1},{y2:.1}")
    }
}

/// The page for the union `g` of the saved runs.
pub(crate) fn page(g: &SavedGraph, max_classes: usize) -> String {
    let cycles: Vec<Cycle> = g.cycles();
    let cycle_edges: HashSet<usize> = cycles.iter().flat_map(|c| c.edges.iter().copied()).collect();
    let cycle_nodes: HashSet<usize> = cycle_edges.iter().flat_map(|&e| [g.edges[e].from, g.edges[e].to]).collect();
    let kept = keep(g, &cycle_nodes, max_classes);
    let local: HashMap<usize, usize> = kept.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let drawn: Vec<usize> = (0..g.edges.len())
        .filter(|&e| local.contains_key(&g.edges[e].from) && local.contains_key(&g.edges[e].to))
        .collect();
    let names: Vec<String> = kept.iter().map(|&c| g.classes[c].display_name()).collect();
    let widths: Vec<f64> = names.iter().map(|n| (n.chars().count().min(60) as f64) * 7.2 + 20.0).collect();
    let pairs: Vec<(usize, usize)> = drawn.iter().map(|&e| (local[&g.edges[e].from], local[&g.edges[e].to])).collect();
    let l = layout(kept.len(), &pairs, widths);
    let bow = if pairs.iter().any(|&(a, b)| l.layer[b] <= l.layer[a]) { 200.0 } else { 0.0 };

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">",
        w = l.width + bow,
        h = l.height
    );
    svg.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
         orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker>\
         <marker id=\"arrow-hot\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
         orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#d00\"/></marker></defs>",
    );
    for (k, &e) in drawn.iter().enumerate() {
        let (a, b) = pairs[k];
        let hot = cycle_edges.contains(&e);
        let _ = write!(
            svg,
            "<path class=\"edge{}\" data-edge=\"{e}\" d=\"{}\" marker-end=\"url(#{})\"><title>{} -&gt; {} [{}]</title></path>",
            if hot { " cycle" } else { "" },
            edge_path(&l, a, b),
            if hot { "arrow-hot" } else { "arrow" },
            escape(&names[a]),
            escape(&names[b]),
            g.edges[e].types
        );
    }
    for (i, &c) in kept.iter().enumerate() {
        let hot = cycle_nodes.contains(&c);
        let shown: String = names[i].chars().take(60).collect();
        let _ = write!(
            svg,
            "<g class=\"node{}\" data-class=\"{c}\" transform=\"translate({:.1},{:.1})\"><rect width=\"{:.1}\" height=\"{NODE_H}\" rx=\"5\"/>\
             <text x=\"{:.1}\" y=\"18\">{}</text><title>{}</title></g>",
            if hot { " cycle" } else { "" },
            l.x[i],
            l.y[i],
            l.w[i],
            l.w[i] / 2.0,
            escape(&shown),
            escape(&names[i])
        );
    }
    svg.push_str("</svg>");

    let data = json!({
        "runs": g.runs.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "classes": g.classes.iter().enumerate().map(|(i, c)| json!({
            "name": c.display_name(),
            "key": match &c.key {
                lockdep::save::Key::Site(s) => match &c.ty {
                    Some(ty) => format!("site {s}, type {ty}"),
                    None => format!("site {s}"),
                },
                lockdep::save::Key::Addr(a) => format!("key at {a}"),
                _ => String::new(),
            },
            "cycle": cycle_nodes.contains(&i),
        })).collect::<Vec<_>>(),
        "edges": g.edges.iter().enumerate().map(|(i, e)| json!({
            "from": e.from,
            "to": e.to,
            "types": e.types.to_string(),
            "cycle": cycle_edges.contains(&i),
            "seen": e.seen.iter().map(|o| json!({
                "run": o.run,
                "thread": o.thread.clone().unwrap_or_else(|| "<unnamed>".into()),
                "held": format!("{} ({}) at {}", o.held.instance, o.held.read, o.held.site),
                "taken": format!("{} ({}) at {}", o.taken.instance, o.taken.read, o.taken.site),
                "trace": o.trace.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });

    let mut reports = String::new();
    for c in &cycles {
        let _ = write!(reports, "<pre class=\"report\">{}</pre>", escape(&c.render(g)));
    }
    let trimmed = if kept.len() < g.classes.len() {
        format!(
            "<p class=\"note\">Showing {} of {} classes: those within {HOPS} hops of a cycle{}. \
             Search finds every class; the details panel lists every lock order.</p>",
            kept.len(),
            g.classes.len(),
            if cycle_nodes.is_empty() { " (no cycle: around the most connected classes)" } else { "" }
        )
    } else {
        String::new()
    };
    let title = format!(
        "{} {} · {} {} · {} {} · {} {}",
        g.runs.len(),
        if g.runs.len() == 1 { "run" } else { "runs" },
        g.classes.len(),
        if g.classes.len() == 1 { "class" } else { "classes" },
        g.edges.len(),
        if g.edges.len() == 1 { "lock order" } else { "lock orders" },
        cycles.len(),
        if cycles.len() == 1 { "cycle" } else { "cycles" },
    );
    fill(
        TEMPLATE,
        &[
            ("{{TITLE}}", &escape(&title)),
            ("{{TRIMMED}}", &trimmed),
            ("{{SVG}}", &svg),
            ("{{REPORTS}}", &reports),
            ("{{DATA}}", &script_json(&data)),
        ],
    )
}

/// `template` with each marker replaced by its value, in one pass over the
/// template (so that nothing in a value is ever taken for a marker).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match values.iter().find(|(k, _)| rest.starts_with(k)) {
            Some((k, v)) => {
                out.push_str(v);
                rest = &rest[k.len()..];
            }
            None => {
                out.push_str("{{");
                rest = &rest[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lockdep: the lock graph across runs</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; display: grid; grid-template-columns: 1fr 380px; height: 100vh; }
header { grid-column: 1 / 3; padding: 8px 14px; border-bottom: 1px solid #ccc; display: flex; gap: 16px; align-items: center; }
header h1 { font-size: 16px; margin: 0; }
#search { width: 260px; padding: 4px 8px; }
#canvas { overflow: auto; border-right: 1px solid #ccc; }
aside { overflow: auto; padding: 10px 14px; }
.node rect { fill: #eef3fb; stroke: #5a7bb5; stroke-width: 1.2; }
.node text { font: 12px ui-monospace, monospace; text-anchor: middle; fill: #111; pointer-events: none; }
.node { cursor: pointer; }
.node.cycle rect { fill: #ffd6d6; stroke: #d00; stroke-width: 2.5; }
.edge { fill: none; stroke: #777; stroke-width: 1.3; cursor: pointer; }
.edge.cycle { stroke: #d00; stroke-width: 3; }
.dim { opacity: 0.18; }
.match rect { stroke: #f90; stroke-width: 3; }
.selected rect, path.selected { stroke: #0a0 !important; stroke-width: 3.5 !important; }
pre { font: 12px ui-monospace, monospace; white-space: pre-wrap; background: #f6f6f6; padding: 6px; }
.note { color: #a60; }
a.link { color: #0645ad; cursor: pointer; text-decoration: underline; }
#details h2 { font-size: 15px; margin: 6px 0; }
</style>
</head>
<body>
<header>
<h1>lockdep: the lock graph across runs</h1><span id="summary">{{TITLE}}</span>
<input id="search" type="search" placeholder="Search classes…" aria-label="Search classes">
<span id="matches"></span>
</header>
<div id="canvas">{{TRIMMED}}{{SVG}}
<section id="reports"><h2>Cycles</h2>{{REPORTS}}</section>
</div>
<aside><div id="details"><p>Click a class or a lock order to see where and by whom it was taken. Red: a cycle (a possible deadlock).</p></div></aside>
<script type="application/json" id="data">{{DATA}}</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const details = document.getElementById("details");
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function select(sel) {
  document.querySelectorAll(".selected").forEach(e => e.classList.remove("selected"));
  if (sel) sel.classList.add("selected");
}
function link(text, fn) {
  const a = el("a", text, "link");
  a.addEventListener("click", fn);
  return a;
}
function showEdge(i) {
  const e = data.edges[i];
  select(document.querySelector('path[data-edge="' + i + '"]'));
  details.replaceChildren();
  details.append(el("h2", data.classes[e.from].name + " -> " + data.classes[e.to].name));
  details.append(el("p", "types " + e.types + (e.cycle ? " · on a cycle" : "")));
  for (const s of e.seen) {
    details.append(el("h3", "run #" + s.run + " " + (data.runs[s.run] || "")));
    details.append(el("div", "thread " + s.thread));
    details.append(el("div", "held:  " + s.held));
    details.append(el("div", "taken: " + s.taken));
    if (s.trace.length) details.append(el("pre", s.trace.map((f, k) => k + ": " + f).join("\n")));
  }
  const back = el("p");
  back.append(link("from " + data.classes[e.from].name, () => showClass(e.from)), el("span", " · "),
              link("to " + data.classes[e.to].name, () => showClass(e.to)));
  details.append(back);
}
function showClass(c) {
  const k = data.classes[c];
  select(document.querySelector('g[data-class="' + c + '"]'));
  details.replaceChildren();
  details.append(el("h2", k.name));
  details.append(el("p", k.key + (k.cycle ? " · on a cycle" : "")));
  for (const [label, dir] of [["taken after it (->)", "from"], ["held before it (<-)", "to"]]) {
    details.append(el("h3", label));
    const ul = el("ul");
    data.edges.forEach((e, i) => {
      if (e[dir] !== c) return;
      const other = data.classes[dir === "from" ? e.to : e.from].name;
      const li = el("li");
      li.append(link(other + " [" + e.types + "]", () => showEdge(i)));
      if (e.cycle) li.append(el("strong", " cycle"));
      ul.append(li);
    });
    details.append(ul);
  }
}
document.querySelectorAll("g.node").forEach(g => g.addEventListener("click", () => showClass(+g.dataset.class)));
document.querySelectorAll("path.edge").forEach(p => p.addEventListener("click", () => showEdge(+p.dataset.edge)));
const search = document.getElementById("search");
search.addEventListener("input", () => {
  const q = search.value.trim().toLowerCase();
  let n = 0, first = null;
  document.querySelectorAll("g.node").forEach(g => {
    const hit = q !== "" && data.classes[+g.dataset.class].name.toLowerCase().includes(q);
    g.classList.toggle("match", hit);
    g.classList.toggle("dim", q !== "" && !hit);
    if (hit) { n++; if (!first) first = g; }
  });
  const all = q === "" ? 0 : data.classes.filter(k => k.name.toLowerCase().includes(q)).length;
  document.getElementById("matches").textContent = q === "" ? "" : n + " drawn, " + all + " in all";
  if (first) first.scrollIntoView({block: "center", inline: "center"});
  if (q !== "" && !first && all) {
    showClass(data.classes.findIndex(k => k.name.toLowerCase().includes(q)));
  }
});
// Deep links: #class=N, #edge=N, #search=TEXT.
function follow() {
  const m = /^#(class|edge|search)=(.*)$/.exec(location.hash);
  if (!m) return;
  const v = decodeURIComponent(m[2]);
  if (m[1] === "class" && data.classes[+v]) showClass(+v);
  if (m[1] === "edge" && data.edges[+v]) showEdge(+v);
  if (m[1] === "search") { search.value = v; search.dispatchEvent(new Event("input")); }
}
window.addEventListener("hashchange", follow);
follow();
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape("<script>alert('1')</script> & \"x\""),
            "&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt; &amp; &quot;x&quot;"
        );
        let v = json!({"n": "</script><script>alert(1)</script>"});
        let s = script_json(&v);
        assert!(!s.contains('<') && !s.contains('>'));
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v, "still the same JSON");
    }

    #[test]
    fn markers_in_values_stay_text() {
        let t = "<p>{{A}}</p><i>{{B}}</i>";
        assert_eq!(fill(t, &[("{{A}}", "{{B}}"), ("{{B}}", "b")]), "<p>{{B}}</p><i>b</i>");
    }

    #[test]
    fn layers_follow_edges_and_cycles_still_lay_out() {
        // a -> b -> c, c -> a (a cycle), d alone.
        let l = layout(4, &[(0, 1), (1, 2), (2, 0), (3, 3)], vec![50.0; 4]);
        assert!(l.layer[1] > l.layer[0] && l.layer[2] > l.layer[1], "{:?}", l.layer);
        let mut spots: Vec<(i64, i64)> = (0..4).map(|v| (l.x[v] as i64, l.y[v] as i64)).collect();
        spots.sort_unstable();
        spots.dedup();
        assert_eq!(spots.len(), 4, "no two nodes on one spot");
        assert!(l.x.iter().zip(&l.w).all(|(x, w)| x + w <= l.width));
    }
}
