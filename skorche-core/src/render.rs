//! DOT and Mermaid renderings of a declared graph, plain or shaded by a run's report.

use std::fmt::Write;

use crate::graph::DEFAULT_CAPACITY;
use crate::graph::{Graph, Mode};
use crate::report::{rate, Report, StageReport};

fn workers(mode: Mode) -> String {
    match mode {
        Mode::Threads(n) => format!("{n} thread{}", if n == 1 { "" } else { "s" }),
        Mode::Processes(n) => format!("{n} process{}", if n == 1 { "" } else { "es" }),
    }
}

/// What a drawing shows of a graph: kept in the [`Report`] too, so that a run's graph can
/// be drawn after the pipeline was consumed.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Shape {
    nodes: Vec<ShapeNode>,
    edges: Vec<ShapeEdge>,
}

#[derive(Debug, Clone, PartialEq)]
struct ShapeNode {
    id: usize,
    name: String,
    kind: crate::StageKind,
    mode: Mode,
}

#[derive(Debug, Clone, PartialEq)]
struct ShapeEdge {
    from: usize,
    to: usize,
    label: String,
    /// The queue is one of several merged into the consumer's input.
    merged: bool,
}

impl Shape {
    pub(crate) fn of(g: &Graph) -> Shape {
        // All nodes but the placeholders of dead-letter queues whose stage took them over
        // (they run nothing and touch no queue).
        let nodes = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.runner.is_some() || !n.inputs.is_empty() || !n.outputs.is_empty())
            .map(|(id, n)| ShapeNode {
                id,
                name: n.name.clone(),
                kind: n.kind,
                mode: n.mode,
            })
            .collect();
        let cap_default = g.default_capacity.unwrap_or(DEFAULT_CAPACITY);
        let mut edges = Vec::new();
        for q in &g.queues {
            let Some(consumer) = q.consumer else { continue };
            let cap = g.queues[g.channel_of_decl(q)]
                .capacity
                .unwrap_or(cap_default);
            let ty = short_type(q.type_name);
            let merged = q.merged_into.is_some()
                || g.queues.iter().any(|o| {
                    o.merged_into.is_some() && std::ptr::eq(&g.queues[g.channel_of_decl(o)], q)
                });
            let label = if q.merged_into.is_some() {
                ty
            } else {
                format!("{ty} [{cap}]")
            };
            edges.push(ShapeEdge {
                from: q.producer,
                to: consumer,
                label,
                merged,
            });
        }
        Shape { nodes, edges }
    }

    fn name_of(&self, id: usize) -> &str {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .map_or("", |n| n.name.as_str())
    }
}

fn short_type(t: &str) -> String {
    // `alloc::vec::Vec<u8>` -> `Vec<u8>`: drop module paths inside the type name.
    let mut out = String::new();
    let mut word = String::new();
    for c in t.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(""));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(""));
    out
}

fn per_sec(n: u64, s: &StageReport) -> f64 {
    let secs = s.wall.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// The figures a shaded drawing shows for one node and one edge.
struct Heat<'a> {
    report: &'a Report,
}

impl Heat<'_> {
    fn stage(&self, name: &str) -> Option<&StageReport> {
        self.report.stage(name)
    }

    fn is_bottleneck(&self, name: &str) -> bool {
        self.report.bottleneck.as_deref() == Some(name)
    }

    /// `#rrggbb` from white (idle) to red (100% busy).
    fn color(&self, name: &str) -> String {
        let busy = self.stage(name).map_or(0.0, |s| s.busy_pct) / 100.0;
        let other = (255.0 * (1.0 - 0.75 * busy.clamp(0.0, 1.0))) as u8;
        format!("#ff{other:02x}{other:02x}")
    }

    fn node_line(&self, name: &str) -> String {
        match self.stage(name) {
            Some(s) => format!(
                "{}% busy · {}",
                s.busy_pct.round(),
                rate(per_sec(s.items_out, s))
            ),
            None => String::new(),
        }
    }

    /// The edge's rate (the consumer's intake, or the producer's output where several
    /// queues merge into the consumer) and the consumer's mean queue fill.
    fn edge_line(&self, shape: &Shape, e: &ShapeEdge) -> String {
        let (from, to) = (shape.name_of(e.from), shape.name_of(e.to));
        let r = if e.merged {
            self.stage(from).map(|s| per_sec(s.items_out, s))
        } else {
            self.stage(to).map(|s| per_sec(s.items_in, s))
        };
        let mut line = r.map(rate).unwrap_or_default();
        if let (Some(s), false) = (self.stage(to), e.merged) {
            let _ = write!(line, " · q {:.0}/{}", s.mean_queue_depth, s.queue_capacity);
        }
        line
    }
}

pub(crate) fn to_dot(shape: &Shape, report: Option<&Report>) -> String {
    let heat = report.map(|report| Heat { report });
    let mut s =
        String::from("digraph skorche {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for n in &shape.nodes {
        let mut label = format!("{}\\n{} · {}", escape(&n.name), n.kind, workers(n.mode));
        let mut attrs = String::new();
        if let Some(h) = &heat {
            let _ = write!(label, "\\n{}", h.node_line(&n.name));
            let _ = write!(
                attrs,
                ", style=\"rounded,filled\", fillcolor=\"{}\"",
                h.color(&n.name)
            );
            if h.is_bottleneck(&n.name) {
                attrs = format!(
                    ", style=\"rounded,filled,bold\", penwidth=3, fillcolor=\"{}\", fontname=\"bold\"",
                    h.color(&n.name)
                );
            }
        }
        let _ = writeln!(s, "  n{} [label=\"{label}\"{attrs}];", n.id);
    }
    for e in &shape.edges {
        let mut label = escape(&e.label);
        if let Some(h) = &heat {
            let _ = write!(label, "\\n{}", escape(&h.edge_line(shape, e)));
        }
        let _ = writeln!(s, "  n{} -> n{} [label=\"{label}\"];", e.from, e.to);
    }
    s.push_str("}\n");
    s
}

pub(crate) fn to_mermaid(shape: &Shape, report: Option<&Report>) -> String {
    let heat = report.map(|report| Heat { report });
    let mut s = String::from("flowchart LR\n");
    for n in &shape.nodes {
        let name = n.name.replace('"', "#quot;");
        let mut label = format!("{name}<br/>{} · {}", n.kind, workers(n.mode));
        if let Some(h) = &heat {
            let _ = write!(label, "<br/>{}", h.node_line(&n.name));
            if h.is_bottleneck(&n.name) {
                label = format!("<b>{label}</b>");
            }
        }
        let _ = writeln!(s, "  n{}[\"{label}\"]", n.id);
    }
    for e in &shape.edges {
        let mut label = e.label.replace('"', "#quot;");
        if let Some(h) = &heat {
            let _ = write!(label, "<br/>{}", h.edge_line(shape, e));
        }
        let _ = writeln!(s, "  n{} -->|\"{label}\"| n{}", e.from, e.to);
    }
    if let Some(h) = &heat {
        for n in &shape.nodes {
            let width = if h.is_bottleneck(&n.name) { 4 } else { 1 };
            let _ = writeln!(
                s,
                "  style n{} fill:{},stroke-width:{width}px",
                n.id,
                h.color(&n.name)
            );
        }
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
