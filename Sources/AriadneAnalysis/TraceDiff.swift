public import AriadneModel

/// A node of the structural comparison of two traces. Spans are matched by their path of
/// (service, operation) from the root, as Jaeger's trace comparison does, so repeated calls
/// to the same operation under the same parent form one node with a count on each side.
public struct TraceDiffNode: Equatable, Sendable {
    public enum Change: String, Sendable {
        /// Only in the second trace.
        case added
        /// Only in the first trace.
        case removed
        /// In both, with a different count, more errors, or a mean duration changed by at least
        /// the threshold.
        case changed
        case same
    }

    public var depth: Int
    public var service: String
    public var operation: String
    public var countA: Int
    public var countB: Int
    public var errorsA: Int
    public var errorsB: Int
    /// Mean duration of the node's spans in each trace, ns (0 when absent).
    public var meanA: UInt64
    public var meanB: UInt64
    public var change: Change
}

public enum TraceDiff {
    /// Nodes in depth-first order (children by first start), with the change of each.
    /// `threshold` is the relative change of mean duration that counts as changed.
    public static func compare(_ a: TraceTree, _ b: TraceTree, threshold: Double = 0.2) -> [TraceDiffNode] {
        final class Node {
            var service: String
            var operation: String
            var first: UInt64 = .max
            var count = [0, 0]
            var errors = [0, 0]
            var total: [UInt64] = [0, 0]
            var children: [String: Node] = [:]
            var order: [String] = []
            init(_ service: String, _ operation: String) {
                self.service = service
                self.operation = operation
            }
            func child(_ service: String, _ operation: String) -> Node {
                let key = service + "\u{0}" + operation
                if let n = children[key] { return n }
                let n = Node(service, operation)
                children[key] = n
                order.append(key)
                return n
            }
        }
        let top = Node("", "")
        for (side, tree) in [a, b].enumerated() {
            let t = tree.trace
            var stack = tree.roots.map { ($0, top) }
            while let (i, parent) = stack.popLast() {
                let node = parent.child(t.serviceName(ofSpan: i), t.string(t.names[i]))
                node.first = min(node.first, t.startTimes[i] - min(t.startTimes[i], t.startTimes[tree.roots[0]]))
                node.count[side] += 1
                if t.statusCodes[i] == .error { node.errors[side] += 1 }
                node.total[side] += t.duration(ofSpan: i)
                for c in tree.children[i] { stack.append((c, node)) }
            }
        }
        var out = [TraceDiffNode]()
        func ordered(_ n: Node) -> [Node] {
            n.order.map { n.children[$0]! }.sorted { $0.first < $1.first }
        }
        // Iterative, so that a trace thousands of spans deep cannot overflow the stack.
        var stack = ordered(top).reversed().map { ($0, 0) }
        while let (n, depth) = stack.popLast() {
            let meanA = n.count[0] > 0 ? n.total[0] / UInt64(n.count[0]) : 0
            let meanB = n.count[1] > 0 ? n.total[1] / UInt64(n.count[1]) : 0
            let change: TraceDiffNode.Change
            if n.count[0] == 0 {
                change = .added
            } else if n.count[1] == 0 {
                change = .removed
            } else {
                let relative = abs(Double(meanB) - Double(meanA)) / Double(max(meanA, 1))
                change = n.count[0] != n.count[1] || n.errors[0] != n.errors[1] || relative >= threshold ? .changed : .same
            }
            out.append(
                TraceDiffNode(
                    depth: depth, service: n.service, operation: n.operation, countA: n.count[0], countB: n.count[1],
                    errorsA: n.errors[0], errorsB: n.errors[1], meanA: meanA, meanB: meanB, change: change))
            stack.append(contentsOf: ordered(n).reversed().map { ($0, depth + 1) })
        }
        return out
    }
}
