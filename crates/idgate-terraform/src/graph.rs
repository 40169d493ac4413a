//! The dependency graph between resource labels, and Coder's "nearest dependent" search.
//!
//! Coder reads the graph that `terraform graph` prints. That graph is transitively reduced (an
//! edge that another path already implies is left out), and Coder attaches each agent to the
//! managed resource closest to it among the resources that depend on it. A state's
//! `depends_on` lists every dependency, direct or not, so the graph built from it is reduced
//! here the same way before distances are measured; otherwise an `aws_eip` that depends on the
//! instance (and so, indirectly, on the agent) would look as close to the agent as the
//! instance itself.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Edges from a label to the labels it depends on.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    dependencies: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// Records that `from` depends on `to`. Self-references are ignored.
    pub fn add(&mut self, from: &str, to: &str) {
        if from != to {
            self.dependencies
                .entry(from.to_owned())
                .or_default()
                .insert(to.to_owned());
        }
    }

    /// The same reachability with as few edges as possible: `a → c` is dropped when `a`
    /// depends on some `b` that reaches `c`. (In a cycle, which Terraform refuses anyway,
    /// neither edge of a pair that reaches each other is dropped.)
    pub fn reduced(&self) -> Graph {
        let mut reduced = Graph::default();
        for (from, targets) in &self.dependencies {
            for to in targets {
                let implied = targets
                    .iter()
                    .any(|via| via != to && self.reaches(via, to) && !self.reaches(to, via));
                if !implied {
                    reduced.add(from, to);
                }
            }
        }
        reduced
    }

    /// Whether `to` can be reached from `from` by following dependencies.
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            if node == to {
                return true;
            }
            if !seen.insert(node) {
                continue;
            }
            if let Some(next) = self.dependencies.get(node) {
                stack.extend(next.iter().map(String::as_str));
            }
        }
        false
    }

    /// Every label that depends on `start`, directly or not, with its distance: 0 for a direct
    /// dependent, 1 for a dependent of one, and so on (Coder's `Depth`).
    pub fn dependents(&self, start: &str) -> BTreeMap<String, usize> {
        let mut reverse: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, targets) in &self.dependencies {
            for to in targets {
                reverse.entry(to.as_str()).or_default().push(from.as_str());
            }
        }
        let mut distances = BTreeMap::new();
        let mut queue = VecDeque::from([(start, 0usize)]);
        while let Some((node, depth)) = queue.pop_front() {
            for &dependent in reverse.get(node).into_iter().flatten() {
                if dependent != start && !distances.contains_key(dependent) {
                    distances.insert(dependent.to_owned(), depth);
                    queue.push_back((dependent, depth + 1));
                }
            }
        }
        distances
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::default();
        for (from, to) in edges {
            g.add(from, to);
        }
        g
    }

    #[test]
    fn reduction_keeps_only_direct_edges() {
        // What a state says: the EIP depends on the instance and, through it, on the agent.
        let g = graph(&[
            ("aws_instance.dev", "coder_agent.main"),
            ("aws_eip.dev", "aws_instance.dev"),
            ("aws_eip.dev", "coder_agent.main"),
        ]);
        let distances = g.reduced().dependents("coder_agent.main");
        let expected = BTreeMap::from([
            ("aws_eip.dev".to_owned(), 1),
            ("aws_instance.dev".to_owned(), 0),
        ]);
        assert_eq!(distances, expected);
        // Without the reduction both would be direct dependents.
        assert_eq!(g.dependents("coder_agent.main")["aws_eip.dev"], 0);
    }

    #[test]
    fn cycles_do_not_hang_or_lose_both_edges() {
        let g = graph(&[("a", "b"), ("b", "a"), ("c", "a"), ("c", "b")]);
        let reduced = g.reduced();
        assert!(reduced.reaches("c", "a"));
        assert_eq!(reduced.dependents("a").get("c"), Some(&0));
    }
}
