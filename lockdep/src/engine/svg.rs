//! A picture of a circular dependency: the classes of the cycle on a ring,
//! the classes one dependency away from them around it, as a
//! self-contained SVG written beside the report's graph dump — so a report
//! can be looked at without Graphviz or a browser page.
//!
//! The layout is our own and deliberately simple: a cycle is drawn as what
//! it is, a ring, in the order the dependencies go; each neighbour sits
//! outside the ring next to the first cycle class it is attached to; both
//! rings grow until no two boxes overlap. Every name and site is escaped,
//! so a class named `<script>` stays text.

use std::collections::{BTreeMap, HashMap};
use std::f64::consts::PI;
use std::fmt::Write as _;

/// Neighbours drawn at most (the rest are counted in the title line).
pub(crate) const MAX_NEIGHBOURS: usize = 24;
/// Characters of a class name shown in its box.
const MAX_LABEL: usize = 60;
const CHAR_W: f64 = 7.2;
const BOX_H: f64 = 26.0;
const PAD_X: f64 = 8.0;
const GAP: f64 = 18.0;
const MARGIN: f64 = 24.0;
const HEADER: f64 = 46.0;

/// A class to draw.
pub(crate) struct Node {
    pub(crate) name: String,
    /// Where its key comes from (shown on hover).
    pub(crate) key: String,
    pub(crate) in_cycle: bool,
}

/// How an edge is drawn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum EdgeKind {
    /// A dependency of the cycle that is in the graph.
    Cycle,
    /// The dependency that would have closed the cycle (refused, so not in
    /// the graph).
    Closing,
    /// Any other dependency between two drawn classes.
    Other,
}

/// A dependency to draw, between indices into the node list.
pub(crate) struct Edge {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) label: String,
    pub(crate) kind: EdgeKind,
}

/// What to draw: the cycle's classes in cycle order first, then the
/// neighbours with the cycle class each is drawn next to.
pub(crate) struct Picture {
    pub(crate) nodes: Vec<Node>,
    /// For each neighbour (node index), the cycle node it is drawn beside.
    pub(crate) anchor: HashMap<usize, usize>,
    pub(crate) edges: Vec<Edge>,
    /// Neighbours left out (beyond [`MAX_NEIGHBOURS`]).
    pub(crate) left_out: usize,
}

/// The cycle's classes in the order its dependencies go, from
/// `(from, to)` pairs of any opaque ids; `None` when the pairs do not
/// form one cycle.
pub(crate) fn cycle_order<T: Copy + Ord>(pairs: &[(T, T)]) -> Option<Vec<T>> {
    let next: BTreeMap<T, T> = pairs.iter().copied().collect();
    if next.len() != pairs.len() {
        return None;
    }
    let &start = next.keys().next()?;
    let mut order = vec![start];
    let mut at = start;
    loop {
        let &n = next.get(&at)?;
        if n == start {
            break;
        }
        if order.len() >= pairs.len() {
            return None;
        }
        order.push(n);
        at = n;
    }
    (order.len() == pairs.len()).then_some(order)
}

#[derive(Clone, Copy)]
struct Placed {
    x: f64,
    y: f64,
    w: f64,
}

impl Placed {
    fn overlaps(&self, o: &Placed) -> bool {
        (self.x - o.x).abs() < (self.w + o.w) / 2.0 + GAP && (self.y - o.y).abs() < BOX_H + GAP
    }
}

fn label_of(name: &str) -> String {
    if name.chars().count() <= MAX_LABEL {
        name.to_owned()
    } else {
        let mut s: String = name.chars().take(MAX_LABEL - 1).collect();
        s.push('…');
        s
    }
}

fn width_of(label: &str) -> f64 {
    label.chars().count() as f64 * CHAR_W + 2.0 * PAD_X
}

/// Text made safe for SVG content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Positions of every node: the cycle on an ellipse, neighbours on an
/// outer one, each ring scaled up until nothing overlaps.
fn layout(p: &Picture, widths: &[f64]) -> Vec<Placed> {
    let k = p.nodes.iter().filter(|n| n.in_cycle).count().max(1);
    let angle_of = |i: usize| -PI / 2.0 + 2.0 * PI * i as f64 / k as f64;
    let max_w = widths.iter().copied().fold(0.0, f64::max);
    let mut placed: Vec<Placed> = widths.iter().map(|&w| Placed { x: 0.0, y: 0.0, w }).collect();

    // The ring: wide enough for its boxes side by side.
    let (mut rx, mut ry) = ((max_w * 0.6).max(90.0), 70.0_f64);
    for _ in 0..60 {
        for (i, b) in placed.iter_mut().take(k).enumerate() {
            let a = angle_of(i);
            b.x = rx * a.cos();
            b.y = ry * a.sin();
        }
        let clash = (0..k).any(|i| (i + 1..k).any(|j| placed[i].overlaps(&placed[j])));
        if !clash {
            break;
        }
        rx *= 1.15;
        ry *= 1.15;
    }

    // Neighbours: grouped by anchor, fanned out around the anchor's angle.
    let mut by_anchor: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (&n, &a) in &p.anchor {
        by_anchor.entry(a).or_default().push(n);
    }
    if by_anchor.is_empty() {
        return placed;
    }
    let slice = 2.0 * PI / k as f64;
    let mut grow = 1.0_f64;
    for _ in 0..60 {
        let (ox, oy) = (rx + max_w * 0.75 + 60.0 * grow, ry + 70.0 * grow);
        for (&a, ns) in &by_anchor {
            let m = ns.len();
            let step = (slice * 0.9 / m as f64).min(0.45);
            for (j, &n) in ns.iter().enumerate() {
                let t = angle_of(a) + (j as f64 - (m as f64 - 1.0) / 2.0) * step;
                placed[n].x = ox * t.cos();
                placed[n].y = oy * t.sin();
            }
        }
        let all = placed.len();
        let clash = (k..all).any(|i| (0..all).any(|j| j != i && placed[i].overlaps(&placed[j])));
        if !clash {
            break;
        }
        grow *= 1.2;
    }
    placed
}

/// Where the segment from the centre of `a` towards the centre of `b`
/// leaves `a`'s box.
fn exit_point(a: &Placed, b: &Placed) -> (f64, f64) {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    if dx == 0.0 && dy == 0.0 {
        return (a.x, a.y);
    }
    let tx = if dx == 0.0 { f64::INFINITY } else { (a.w / 2.0 + 3.0) / dx.abs() };
    let ty = if dy == 0.0 { f64::INFINITY } else { (BOX_H / 2.0 + 3.0) / dy.abs() };
    let t = tx.min(ty).min(1.0);
    (a.x + dx * t, a.y + dy * t)
}

/// The SVG document for `p`.
pub(crate) fn render(p: &Picture) -> String {
    let labels: Vec<String> = p.nodes.iter().map(|n| label_of(&n.name)).collect();
    let widths: Vec<f64> = labels.iter().map(|l| width_of(l)).collect();
    let placed = layout(p, &widths);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for b in &placed {
        x0 = x0.min(b.x - b.w / 2.0);
        x1 = x1.max(b.x + b.w / 2.0);
        y0 = y0.min(b.y - BOX_H / 2.0);
        y1 = y1.max(b.y + BOX_H / 2.0);
    }
    let k = p.nodes.iter().filter(|n| n.in_cycle).count();
    let title = format!(
        "lockdep: circular dependency of {k} {} (red){}",
        if k == 1 { "class" } else { "classes" },
        match p.nodes.len() - k {
            0 => String::new(),
            n => format!(", {n} {} one dependency away", if n == 1 { "neighbour" } else { "neighbours" }),
        }
    );
    let more = if p.left_out > 0 { format!(" ({} more not drawn)", p.left_out) } else { String::new() };
    let legend = "red: the cycle's dependencies; dashed: the one that closed it (refused); grey: the others";
    let min_w =
        (title.chars().count() + more.chars().count()).max(legend.chars().count()) as f64 * CHAR_W + 2.0 * MARGIN;
    let width = (x1 - x0 + 2.0 * MARGIN).max(min_w);
    let height = y1 - y0 + 2.0 * MARGIN + HEADER;
    // Centre the drawing horizontally in the canvas.
    let dx = (width - (x1 - x0)) / 2.0 - x0;
    let dy = MARGIN + HEADER - y0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="monospace" font-size="12">"#
    );
    s.push_str(
        "<defs>\
<marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#888\"/></marker>\
<marker id=\"arrow-red\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c00\"/></marker>\
</defs>\n",
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#fff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="{}" font-size="13" font-weight="bold">{}{}</text>"#,
        MARGIN,
        escape(&title),
        escape(&more)
    );
    let _ = writeln!(s, r##"<text x="{MARGIN}" y="{}" fill="#555">{}</text>"##, MARGIN + 18.0, escape(legend));

    // Edges first, so boxes are drawn over their ends. Each bends to its
    // right, so the two directions between one pair of classes (a
    // two-class cycle) are two arcs, not one line.
    for e in &p.edges {
        let (Some(a), Some(b)) = (placed.get(e.from), placed.get(e.to)) else { continue };
        let (mx, my) = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0);
        let (ddx, ddy) = (b.x - a.x, b.y - a.y);
        let len = (ddx * ddx + ddy * ddy).sqrt().max(1.0);
        let bend = (0.18 * len).clamp(14.0, 60.0);
        let ctrl = Placed { x: mx - ddy / len * bend, y: my + ddx / len * bend, w: 0.0 };
        let (sx, sy) = exit_point(a, &ctrl);
        let (tx, ty) = exit_point(b, &ctrl);
        let (lx, ly) = (0.25 * sx + 0.5 * ctrl.x + 0.25 * tx, 0.25 * sy + 0.5 * ctrl.y + 0.25 * ty);
        let (stroke, marker, wide, dash) = match e.kind {
            EdgeKind::Cycle => ("#c00", "arrow-red", 2.0, ""),
            EdgeKind::Closing => ("#c00", "arrow-red", 2.0, r#" stroke-dasharray="6,4""#),
            EdgeKind::Other => ("#888", "arrow", 1.0, ""),
        };
        let class = match e.kind {
            EdgeKind::Cycle => "cycle",
            EdgeKind::Closing => "cycle closing",
            EdgeKind::Other => "dep",
        };
        let _ = writeln!(
            s,
            r##"<g class="edge {class}"><path d="M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}" fill="none" stroke="{stroke}" stroke-width="{wide}"{dash} marker-end="url(#{marker})"/><text x="{:.1}" y="{:.1}" font-size="10" fill="{stroke}" text-anchor="middle" paint-order="stroke" stroke="#fff" stroke-width="3">{}</text></g>"##,
            sx + dx,
            sy + dy,
            ctrl.x + dx,
            ctrl.y + dy,
            tx + dx,
            ty + dy,
            lx + dx,
            ly + dy + 3.0,
            escape(&e.label)
        );
    }
    for ((n, b), label) in p.nodes.iter().zip(&placed).zip(&labels) {
        let (stroke, fill, class) =
            if n.in_cycle { ("#c00", "#fee", "node cycle") } else { ("#666", "#f4f4f4", "node") };
        let _ = writeln!(
            s,
            r#"<g class="{class}"><title>{}&#10;key: {}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{BOX_H}" rx="4" fill="{fill}" stroke="{stroke}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"#,
            escape(&n.name),
            escape(&n.key),
            b.x - b.w / 2.0 + dx,
            b.y - BOX_H / 2.0 + dy,
            b.w,
            b.x + dx,
            b.y + 4.0 + dy,
            escape(label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(cycle: &[&str], neighbours: &[(&str, usize)]) -> Picture {
        let mut nodes: Vec<Node> =
            cycle.iter().map(|n| Node { name: (*n).to_owned(), key: format!("{n}.rs:1:1"), in_cycle: true }).collect();
        let mut anchor = HashMap::new();
        let mut edges: Vec<Edge> = (0..cycle.len())
            .map(|i| Edge {
                from: i,
                to: (i + 1) % cycle.len(),
                label: "EN".into(),
                kind: if i + 1 == cycle.len() { EdgeKind::Closing } else { EdgeKind::Cycle },
            })
            .collect();
        for (name, a) in neighbours {
            anchor.insert(nodes.len(), *a);
            edges.push(Edge { from: *a, to: nodes.len(), label: "EN".into(), kind: EdgeKind::Other });
            nodes.push(Node { name: (*name).to_owned(), key: String::new(), in_cycle: false });
        }
        Picture { nodes, anchor, edges, left_out: 0 }
    }

    #[test]
    fn cycle_order_follows_the_dependencies() {
        assert_eq!(cycle_order(&[(7, 3), (3, 9), (9, 7)]), Some(vec![3, 9, 7]));
        assert_eq!(cycle_order(&[(1, 2), (2, 1)]), Some(vec![1, 2]));
        // Two cycles, a path, a fork: not one cycle.
        assert_eq!(cycle_order(&[(1, 2), (2, 1), (3, 4), (4, 3)]), None);
        assert_eq!(cycle_order(&[(1, 2), (2, 3)]), None);
        assert_eq!(cycle_order(&[(1, 2), (1, 3), (3, 1)]), None);
        assert_eq!(cycle_order::<u32>(&[]), None);
    }

    #[test]
    fn names_are_escaped() {
        let p = picture(&["<script>alert('x')</script>", "a&b \"q\""], &[]);
        let svg = render(&p);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(svg.contains("a&amp;b &quot;q&quot;"));
        assert_eq!(escape("\u{1}x"), "\u{fffd}x");
    }

    #[test]
    fn no_two_boxes_overlap() {
        let long = "Mutex<alloc::collections::btree::map::BTreeMap<u64, alloc::string::String>>@src/lib.rs:10";
        for k in 2..9 {
            let names: Vec<String> = (0..k).map(|i| format!("{}{i}", &long[..20 + 5 * i])).collect();
            let cycle: Vec<&str> = names.iter().map(String::as_str).collect();
            let neigh: Vec<(String, usize)> =
                (0..k * 3).map(|i| (format!("neighbour-{i}-{}", &long[..i % 40]), i % k)).collect();
            let neigh: Vec<(&str, usize)> = neigh.iter().map(|(n, a)| (n.as_str(), *a)).collect();
            let p = picture(&cycle, &neigh);
            let widths: Vec<f64> = p.nodes.iter().map(|n| width_of(&label_of(&n.name))).collect();
            let placed = layout(&p, &widths);
            for i in 0..placed.len() {
                for j in i + 1..placed.len() {
                    assert!(!placed[i].overlaps(&placed[j]), "k={k}: boxes {i} and {j} overlap");
                }
            }
        }
    }

    #[test]
    fn the_cycle_is_red_and_its_closing_edge_dashed() {
        let p = picture(&["A", "B", "C"], &[("D", 0)]);
        let svg = render(&p);
        assert_eq!(svg.matches(r#"class="edge cycle""#).count(), 2);
        assert_eq!(svg.matches(r#"class="edge cycle closing""#).count(), 1);
        assert_eq!(svg.matches("stroke-dasharray").count(), 1);
        assert_eq!(svg.matches(r#"class="node cycle""#).count(), 3);
        assert_eq!(svg.matches(r#"class="node""#).count(), 1);
        assert!(svg.contains("circular dependency of 3 classes (red), 1 neighbour one dependency away"));
        // Balanced: every group and the document are closed.
        assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn long_names_are_cut() {
        let name = "x".repeat(200);
        let p = picture(&[&name, "B"], &[]);
        let svg = render(&p);
        assert!(svg.contains(&format!("{}…</text>", "x".repeat(MAX_LABEL - 1))));
        // The whole name stays in the hover text.
        assert!(svg.contains(&format!("<title>{name}")));
    }
}
