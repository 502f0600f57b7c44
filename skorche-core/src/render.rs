//! DOT and Mermaid renderings of a declared graph.

use std::fmt::Write;

use crate::graph::DEFAULT_CAPACITY;
use crate::graph::{Graph, Mode};

fn workers(mode: Mode) -> String {
    match mode {
        Mode::Threads(n) => format!("{n} thread{}", if n == 1 { "" } else { "s" }),
        Mode::Processes(n) => format!("{n} process{}", if n == 1 { "" } else { "es" }),
    }
}

/// The nodes to draw: all but the placeholders of dead-letter queues whose stage took them
/// over (they run nothing and touch no queue).
fn nodes(g: &Graph) -> impl Iterator<Item = (usize, &crate::graph::NodeDecl)> {
    g.nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.runner.is_some() || !n.inputs.is_empty() || !n.outputs.is_empty())
}

fn edges(g: &Graph) -> Vec<(usize, usize, String)> {
    let cap_default = g.default_capacity.unwrap_or(DEFAULT_CAPACITY);
    let mut out = Vec::new();
    for q in &g.queues {
        let Some(consumer) = q.consumer else { continue };
        let cap = g.queues[g.channel_of_decl(q)]
            .capacity
            .unwrap_or(cap_default);
        let ty = short_type(q.type_name);
        let label = if q.merged_into.is_some() {
            ty
        } else {
            format!("{ty} [{cap}]")
        };
        out.push((q.producer, consumer, label));
    }
    out
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

pub(crate) fn to_dot(g: &Graph) -> String {
    let mut s =
        String::from("digraph skorche {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for (i, n) in nodes(g) {
        let _ = writeln!(
            s,
            "  n{i} [label=\"{}\\n{} · {}\"];",
            escape(&n.name),
            n.kind,
            workers(n.mode)
        );
    }
    for (a, b, label) in edges(g) {
        let _ = writeln!(s, "  n{a} -> n{b} [label=\"{}\"];", escape(&label));
    }
    s.push_str("}\n");
    s
}

pub(crate) fn to_mermaid(g: &Graph) -> String {
    let mut s = String::from("flowchart LR\n");
    for (i, n) in nodes(g) {
        let _ = writeln!(
            s,
            "  n{i}[\"{}<br/>{} · {}\"]",
            n.name.replace('"', "#quot;"),
            n.kind,
            workers(n.mode)
        );
    }
    for (a, b, label) in edges(g) {
        let _ = writeln!(s, "  n{a} -->|\"{}\"| n{b}", label.replace('"', "#quot;"));
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
