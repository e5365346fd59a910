/// Regular expressions matched in time linear in the input: a Thompson NFA run as a Pike VM,
/// never backtracking. The syntax is RE2's (what Jaeger, Tempo and the Collector accept through
/// Go's `regexp`), minus back-references and look-around, which no linear matcher can offer.
///
/// Swift's `Regex` backtracks: `(a+)+b` against 16 `a`s takes minutes and holds a thread of the
/// cooperative pool the whole time. Here the cost of a match is at most
/// (input scalars + 1) × (program instructions), and programs are bounded
/// (``LinearRegex/maxInstructions``).
///
/// Supported: literals; `.`; classes `[a-z]`, `[^…]`, `[[:alpha:]]`; escapes `\d \D \w \W \s \S`,
/// `\b \B`, `\A \z`, `\n \r \t \f \v`, `\xHH`, `\x{H…}` and any escaped punctuation; anchors `^ $`;
/// groups `(…)`, `(?:…)`, `(?<name>…)`, `(?P<name>…)`; flags `(?i)`, `(?s)`, `(?m)`, `(?U)` and
/// `(?flags:…)`; `|`; `* + ? {n} {n,} {n,m}` each with a lazy `?` form.
public struct LinearRegex: Sendable {
    /// Programs larger than this are refused (RE2 refuses large programs too), so that one
    /// pattern cannot cost more than a bounded amount per input character.
    public static let maxInstructions = 20_000
    /// The largest count `{n,m}` may name (RE2's limit).
    public static let maxRepeat = 1000
    /// The longest pattern accepted, in Unicode scalars.
    public static let maxPatternLength = 10_000

    public let pattern: String
    let program: [Inst]
    let classes: [CharClass]
    /// Capture groups counted from 1; group 0 is the whole match.
    let groupCount: Int
    let groupNames: [Int: String]
    /// The pattern is a plain string compared whole (no metacharacters, no flags).
    let literal: [Unicode.Scalar]?

    public struct SyntaxError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init(_ pattern: String) throws(SyntaxError) {
        self.pattern = pattern
        let scalars = Array(pattern.unicodeScalars)
        guard scalars.count <= Self.maxPatternLength else {
            throw SyntaxError(description: "pattern longer than \(Self.maxPatternLength) characters")
        }
        var parser = RegexParser(scalars)
        let node = try parser.parseAll()
        if case .literal(let lit) = node.plainLiteral { literal = lit } else { literal = nil }
        var compiler = RegexCompiler()
        try compiler.emit(node)
        compiler.program.append(.match)
        guard compiler.program.count <= Self.maxInstructions else {
            throw SyntaxError(description: "pattern too large (more than \(Self.maxInstructions) instructions once repetitions are expanded)")
        }
        program = compiler.program
        classes = compiler.classes
        groupCount = parser.groupCount
        groupNames = parser.groupNames
    }

    /// Whether the pattern matches all of `s`.
    public func wholeMatch(_ s: String) -> Bool {
        if let literal { return s.unicodeScalars.elementsEqual(literal) }
        let input = Array(s.unicodeScalars)
        return run(input, anchored: true, wantEnd: true, captures: false) != nil
    }

    /// Whether the pattern matches somewhere in `s`.
    public func firstMatchExists(_ s: String) -> Bool {
        let input = Array(s.unicodeScalars)
        return run(input, anchored: false, wantEnd: false, captures: false) != nil
    }

    /// The named groups of the leftmost-first match in `s` that took part in it, in group order.
    public func namedGroups(in s: String) -> [(name: String, value: Substring)] {
        let view = s.unicodeScalars
        var positions = [String.Index]()
        positions.reserveCapacity(view.count + 1)
        var input = [Unicode.Scalar]()
        input.reserveCapacity(view.count)
        var i = view.startIndex
        while i < view.endIndex {
            positions.append(i)
            input.append(view[i])
            i = view.index(after: i)
        }
        positions.append(view.endIndex)
        guard let slots = run(input, anchored: false, wantEnd: false, captures: true) else { return [] }
        var out = [(name: String, value: Substring)]()
        for g in 1...max(1, groupCount) where g <= groupCount {
            guard let name = groupNames[g] else { continue }
            let (a, b) = (slots[2 * g], slots[2 * g + 1])
            guard a >= 0, b >= a else { continue }
            out.append((name, s[positions[a]..<positions[b]]))
        }
        return out
    }

    // MARK: the machine

    /// One step of the simulation: the threads alive at an input position, in priority order,
    /// each with its capture slots (only when captures are wanted).
    private struct ThreadList {
        var pcs: [Int32] = []
        var caps: [[Int]] = []
        var onList: [UInt32]  // generation stamp per instruction: a sparse set without clearing
        init(size: Int) { onList = Array(repeating: 0, count: size) }
    }

    /// Runs the program over `input`. Returns the capture slots of the match (group 0 included)
    /// or nil. `anchored`: the match starts at 0; `wantEnd`: it must end at the end of input.
    private func run(_ input: [Unicode.Scalar], anchored: Bool, wantEnd: Bool, captures: Bool) -> [Int]? {
        let slotCount = captures ? 2 * (groupCount + 1) : 0
        var clist = ThreadList(size: program.count)
        var nlist = ThreadList(size: program.count)
        var generation: UInt32 = 1
        var matched: [Int]? = nil
        var stack = [(pc: Int32, caps: [Int])]()
        let noCaps = [Int]()
        let n = input.count

        // Follows jumps, splits, saves and assertions from `pc` at position `pos`, adding every
        // instruction that consumes a character (or matches) to `list`, in priority order.
        func add(_ list: inout ThreadList, _ pc0: Int32, _ caps0: [Int], _ pos: Int, _ gen: UInt32) {
            stack.append((pc0, caps0))
            while let (pc, caps) = stack.popLast() {
                let p = Int(pc)
                if list.onList[p] == gen { continue }
                list.onList[p] = gen
                switch program[p] {
                case .jump(let x):
                    stack.append((x, caps))
                case .split(let x, let y):
                    // The stack is LIFO: push the lower priority branch first.
                    stack.append((y, caps))
                    stack.append((x, caps))
                case .save(let slot):
                    if captures {
                        var c = caps
                        c[Int(slot)] = pos
                        stack.append((pc + 1, c))
                    } else {
                        stack.append((pc + 1, caps))
                    }
                case .assert(let a):
                    if check(a, input, pos) { stack.append((pc + 1, caps)) }
                default:
                    list.pcs.append(pc)
                    if captures { list.caps.append(caps) }
                }
            }
        }

        let initialCaps = captures ? Array(repeating: -1, count: slotCount) : noCaps
        var pos = 0
        while true {
            if matched == nil && (pos == 0 || !anchored) {
                var c = initialCaps
                if captures { c[0] = pos }
                add(&clist, 0, c, pos, generation)
            }
            if clist.pcs.isEmpty { break }
            generation &+= 1
            if generation == 0 {  // wrapped: reset the stamps
                for k in clist.onList.indices { clist.onList[k] = 0; nlist.onList[k] = 0 }
                generation = 1
            }
            nlist.pcs.removeAll(keepingCapacity: true)
            nlist.caps.removeAll(keepingCapacity: true)
            let c: Unicode.Scalar? = pos < n ? input[pos] : nil
            var t = 0
            threads: while t < clist.pcs.count {
                let pc = clist.pcs[t]
                let caps = captures ? clist.caps[t] : noCaps
                t += 1
                switch program[Int(pc)] {
                case .match:
                    if wantEnd && pos != n { continue threads }
                    var done = caps
                    if captures { done[1] = pos }
                    matched = captures ? done : noCaps
                    // Lower-priority threads are cut off: leftmost-first, as RE2 and Perl.
                    break threads
                case .char(let x):
                    if let c, c == x { add(&nlist, pc + 1, caps, pos + 1, generation) }
                case .any(let dotNL):
                    if let c, dotNL || c != "\n" { add(&nlist, pc + 1, caps, pos + 1, generation) }
                case .set(let k):
                    if let c, classes[Int(k)].contains(c) { add(&nlist, pc + 1, caps, pos + 1, generation) }
                case .jump, .split, .save, .assert:
                    break
                }
            }
            if pos >= n { break }
            swap(&clist, &nlist)
            pos += 1
            if matched != nil && clist.pcs.isEmpty { break }
            if matched != nil && !wantEnd && !captures { break }
        }
        return matched
    }

    private func check(_ a: Assertion, _ input: [Unicode.Scalar], _ pos: Int) -> Bool {
        switch a {
        case .textStart: return pos == 0
        case .textEnd: return pos == input.count
        case .lineStart: return pos == 0 || input[pos - 1] == "\n"
        case .lineEnd: return pos == input.count || input[pos] == "\n"
        case .wordBoundary, .notWordBoundary:
            let before = pos > 0 && CharClass.isWord(input[pos - 1])
            let after = pos < input.count && CharClass.isWord(input[pos])
            return (before != after) == (a == .wordBoundary)
        }
    }
}

enum Assertion: Sendable, Equatable {
    case textStart, textEnd, lineStart, lineEnd, wordBoundary, notWordBoundary
}

enum Inst: Sendable {
    case char(Unicode.Scalar)
    /// Any character; `true` includes newline.
    case any(Bool)
    case set(Int32)
    case jump(Int32)
    /// Try the first target, then the second.
    case split(Int32, Int32)
    case save(Int32)
    case assert(Assertion)
    case match
}

/// A set of characters: ranges, optionally negated.
struct CharClass: Sendable {
    var ranges: [ClosedRange<UInt32>] = []
    var negated = false

    func contains(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        var inside = false
        for r in ranges where r.contains(v) {
            inside = true
            break
        }
        return inside != negated
    }

    static func isWord(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
    }

    static let digit: [ClosedRange<UInt32>] = [0x30...0x39]
    static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    static let space: [ClosedRange<UInt32>] = [0x09...0x0A, 0x0C...0x0D, 0x20...0x20]

    /// The complement of `ranges` within the Unicode scalar values.
    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out = [ClosedRange<UInt32>]()
        var next: UInt32 = 0
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = max(next, r.upperBound &+ 1)
            if r.upperBound == UInt32.max { return out }
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return out
    }

    /// Adds the other case of each ASCII or simply-cased letter in the ranges.
    mutating func foldCase() {
        var extra = [ClosedRange<UInt32>]()
        for r in ranges {
            // Only small ranges are folded letter by letter; large ones are left as they are
            // (they rarely hold letters of one case only).
            guard r.count <= 2_000 else { continue }
            for v in r {
                guard let c = Unicode.Scalar(v) else { continue }
                for o in RegexNode.otherCases(c) where !r.contains(o.value) { extra.append(o.value...o.value) }
            }
        }
        ranges += extra
    }
}

indirect enum RegexNode {
    case empty
    case literal([Unicode.Scalar])
    case char(Unicode.Scalar, foldCase: Bool)
    case any(dotNL: Bool)
    case set(CharClass)
    case assert(Assertion)
    case group(RegexNode, index: Int?)
    case concat([RegexNode])
    case alternate([RegexNode])
    case `repeat`(RegexNode, min: Int, max: Int?, greedy: Bool)

    /// The pattern as one plain string, when it is nothing else.
    var plainLiteral: RegexNode? {
        switch self {
        case .char(let c, false): return .literal([c])
        case .concat(let parts):
            var out = [Unicode.Scalar]()
            for p in parts {
                guard case .char(let c, false) = p else { return nil }
                out.append(c)
            }
            return .literal(out)
        case .empty: return .literal([])
        default: return nil
        }
    }

    static func otherCases(_ c: Unicode.Scalar) -> [Unicode.Scalar] {
        let s = String(c)
        var out = [Unicode.Scalar]()
        for t in [s.lowercased(), s.uppercased()] where t != s {
            let u = Array(t.unicodeScalars)
            if u.count == 1 { out.append(u[0]) }
        }
        return out
    }
}

struct RegexParser {
    typealias SyntaxError = LinearRegex.SyntaxError
    let s: [Unicode.Scalar]
    var i = 0
    var groupCount = 0
    var groupNames: [Int: String] = [:]
    var depth = 0

    struct Flags {
        var caseInsensitive = false
        var dotNL = false
        var multiLine = false
        var ungreedy = false
    }

    init(_ s: [Unicode.Scalar]) { self.s = s }

    func fail(_ message: String) -> SyntaxError {
        SyntaxError(description: "\(message) at offset \(i)")
    }

    mutating func parseAll() throws(SyntaxError) -> RegexNode {
        var flags = Flags()
        let node = try alternation(&flags)
        if i < s.count { throw fail(s[i] == ")" ? "unexpected )" : "unexpected character") }
        return node
    }

    mutating func alternation(_ flags: inout Flags) throws(SyntaxError) -> RegexNode {
        depth += 1
        defer { depth -= 1 }
        // Nesting is bounded so that parsing (recursive) cannot exhaust the stack.
        guard depth <= 200 else { throw fail("groups nested more than 200 deep") }
        var branches = [try concatenation(&flags)]
        while i < s.count, s[i] == "|" {
            i += 1
            branches.append(try concatenation(&flags))
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    mutating func concatenation(_ flags: inout Flags) throws(SyntaxError) -> RegexNode {
        var parts = [RegexNode]()
        while i < s.count, s[i] != "|", s[i] != ")" {
            guard var atom = try atom(&flags) else { continue }
            atom = try quantified(atom, flags)
            parts.append(atom)
        }
        if parts.isEmpty { return .empty }
        return parts.count == 1 ? parts[0] : .concat(parts)
    }

    mutating func quantified(_ atom: RegexNode, _ flags: Flags) throws(SyntaxError) -> RegexNode {
        var node = atom
        var quantifiers = 0
        while i < s.count {
            var lo = 0
            var hi: Int? = nil
            switch s[i] {
            case "*": lo = 0; hi = nil; i += 1
            case "+": lo = 1; hi = nil; i += 1
            case "?": lo = 0; hi = 1; i += 1
            case "{":
                guard let (a, b) = try counted() else { return node }
                lo = a
                hi = b
            default: return node
            }
            quantifiers += 1
            if quantifiers > 1 { throw fail("bad repetition operator") }
            if case .assert = node { throw fail("missing argument to repetition operator") }
            if case .empty = node { throw fail("missing argument to repetition operator") }
            var greedy = !flags.ungreedy
            if i < s.count, s[i] == "?" {
                greedy.toggle()
                i += 1
            }
            node = .repeat(node, min: lo, max: hi, greedy: greedy)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}` at `i`; nil (and `i` unchanged) when the brace is a literal.
    mutating func counted() throws(SyntaxError) -> (Int, Int?)? {
        let start = i
        i += 1
        func number() -> Int? {
            var v = 0
            var digits = 0
            while i < s.count, s[i].value >= 0x30, s[i].value <= 0x39 {
                v = min(v * 10 + Int(s[i].value - 0x30), 100_000)
                digits += 1
                i += 1
            }
            return digits > 0 ? v : nil
        }
        guard let lo = number() else {
            i = start
            return nil
        }
        var hi: Int? = lo
        if i < s.count, s[i] == "," {
            i += 1
            hi = number()
        }
        guard i < s.count, s[i] == "}" else {
            i = start
            return nil
        }
        i += 1
        if lo > LinearRegex.maxRepeat || (hi ?? 0) > LinearRegex.maxRepeat {
            throw fail("repetition count above \(LinearRegex.maxRepeat)")
        }
        if let hi, hi < lo { throw fail("invalid repetition range {\(lo),\(hi)}") }
        return (lo, hi)
    }

    /// One atom; nil for a flag group such as `(?i)` that only changes the flags.
    mutating func atom(_ flags: inout Flags) throws(SyntaxError) -> RegexNode? {
        let c = s[i]
        switch c {
        case "(":
            i += 1
            var index: Int? = nil
            var inner = flags
            if i < s.count, s[i] == "?" {
                i += 1
                if i < s.count, s[i] == "P" || s[i] == "<" {
                    if s[i] == "P" { i += 1 }
                    guard i < s.count, s[i] == "<" else { throw fail("invalid named group") }
                    i += 1
                    var name = ""
                    while i < s.count, s[i] != ">" {
                        guard CharClass.isWord(s[i]) else { throw fail("invalid group name") }
                        name.unicodeScalars.append(s[i])
                        i += 1
                    }
                    guard i < s.count, !name.isEmpty else { throw fail("invalid named group") }
                    i += 1
                    groupCount += 1
                    index = groupCount
                    groupNames[groupCount] = name
                } else {
                    // Flags: (?i) (?-i) (?i:...) and so on.
                    var on = true
                    var sawFlag = false
                    while i < s.count, s[i] != ")", s[i] != ":" {
                        switch s[i] {
                        case "i": inner.caseInsensitive = on
                        case "s": inner.dotNL = on
                        case "m": inner.multiLine = on
                        case "U": inner.ungreedy = on
                        case "-":
                            guard on else { throw fail("invalid flags") }
                            on = false
                        default: throw fail("unsupported group syntax (?\(String(s[i]))")
                        }
                        sawFlag = true
                        i += 1
                    }
                    guard i < s.count else { throw fail("missing )") }
                    if s[i] == ")" {
                        guard sawFlag else { throw fail("empty flags") }
                        i += 1
                        flags = inner
                        return nil
                    }
                    i += 1  // ':'
                }
            } else {
                groupCount += 1
                index = groupCount
            }
            let body = try alternation(&inner)
            guard i < s.count, s[i] == ")" else { throw fail("missing )") }
            i += 1
            return .group(body, index: index)
        case ")":
            throw fail("unexpected )")
        case "*", "+", "?":
            throw fail("missing argument to repetition operator")
        case ".":
            i += 1
            return .any(dotNL: flags.dotNL)
        case "^":
            i += 1
            return .assert(flags.multiLine ? .lineStart : .textStart)
        case "$":
            i += 1
            return .assert(flags.multiLine ? .lineEnd : .textEnd)
        case "[":
            return .set(try bracket(flags))
        case "\\":
            return try escape(flags, inClass: false).node
        default:
            i += 1
            return char(c, flags)
        }
    }

    func char(_ c: Unicode.Scalar, _ flags: Flags) -> RegexNode {
        if flags.caseInsensitive, !RegexNode.otherCases(c).isEmpty {
            var cls = CharClass(ranges: [c.value...c.value])
            cls.foldCase()
            return .set(cls)
        }
        return .char(c, foldCase: false)
    }

    enum Escaped {
        case node(RegexNode)
        case scalar(Unicode.Scalar)
        case ranges([ClosedRange<UInt32>])
    }

    /// An escape at `i` (the backslash).
    mutating func escape(_ flags: Flags, inClass: Bool) throws(SyntaxError) -> (node: RegexNode, escaped: Escaped) {
        i += 1
        guard i < s.count else { throw fail("trailing backslash") }
        let c = s[i]
        i += 1
        func ranges(_ r: [ClosedRange<UInt32>]) -> (RegexNode, Escaped) {
            (.set(CharClass(ranges: r)), .ranges(r))
        }
        func scalar(_ v: Unicode.Scalar) -> (RegexNode, Escaped) { (char(v, flags), .scalar(v)) }
        switch c {
        case "d": return ranges(CharClass.digit)
        case "D": return ranges(CharClass.complement(CharClass.digit))
        case "w": return ranges(CharClass.word)
        case "W": return ranges(CharClass.complement(CharClass.word))
        case "s": return ranges(CharClass.space)
        case "S": return ranges(CharClass.complement(CharClass.space))
        case "n": return scalar("\n")
        case "r": return scalar("\r")
        case "t": return scalar("\t")
        case "f": return scalar("\u{0C}")
        case "v": return scalar("\u{0B}")
        case "a": return scalar("\u{07}")
        case "x":
            var hex = ""
            if i < s.count, s[i] == "{" {
                i += 1
                while i < s.count, s[i] != "}" {
                    hex.unicodeScalars.append(s[i])
                    i += 1
                }
                guard i < s.count else { throw fail("missing } in \\x{...}") }
                i += 1
            } else {
                for _ in 0..<2 where i < s.count {
                    hex.unicodeScalars.append(s[i])
                    i += 1
                }
            }
            guard hex.count <= 8, let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) else { throw fail("invalid \\x escape") }
            return scalar(u)
        case "b", "B", "A", "z":
            guard !inClass else { throw fail("invalid escape \\\(String(c)) in a class") }
            let a: Assertion = c == "b" ? .wordBoundary : c == "B" ? .notWordBoundary : c == "A" ? .textStart : .textEnd
            return (.assert(a), .scalar(c))
        default:
            if c.isASCII && !CharClass.isWord(c) { return scalar(c) }
            throw fail("unsupported escape \\\(String(c))")
        }
    }

    mutating func bracket(_ flags: Flags) throws(SyntaxError) -> CharClass {
        i += 1  // '['
        var cls = CharClass()
        if i < s.count, s[i] == "^" {
            cls.negated = true
            i += 1
        }
        var first = true
        while true {
            guard i < s.count else { throw fail("missing ]") }
            if s[i] == "]" && !first { break }
            first = false
            // [:alpha:] and friends.
            if s[i] == "[", i + 1 < s.count, s[i + 1] == ":" {
                var j = i + 2
                var name = ""
                while j < s.count, s[j] != ":" {
                    name.unicodeScalars.append(s[j])
                    j += 1
                }
                guard j + 1 < s.count, s[j + 1] == "]", let r = Self.posix[name] else { throw fail("invalid character class [:\(name):]") }
                cls.ranges += r
                i = j + 2
                continue
            }
            var lo: UInt32
            if s[i] == "\\" {
                switch try escape(flags, inClass: true).escaped {
                case .scalar(let v): lo = v.value
                case .ranges(let r):
                    cls.ranges += r
                    continue
                case .node: throw fail("invalid escape in a class")
                }
            } else {
                lo = s[i].value
                i += 1
            }
            var hi = lo
            if i + 1 < s.count, s[i] == "-", s[i + 1] != "]" {
                i += 1
                if s[i] == "\\" {
                    guard case .scalar(let v) = try escape(flags, inClass: true).escaped else { throw fail("invalid class range") }
                    hi = v.value
                } else {
                    hi = s[i].value
                    i += 1
                }
                guard hi >= lo else { throw fail("invalid class range") }
            }
            cls.ranges.append(lo...hi)
        }
        i += 1  // ']'
        if flags.caseInsensitive { cls.foldCase() }
        return cls
    }

    static let posix: [String: [ClosedRange<UInt32>]] = [
        "alpha": [0x41...0x5A, 0x61...0x7A], "digit": CharClass.digit, "alnum": [0x30...0x39, 0x41...0x5A, 0x61...0x7A],
        "space": [0x09...0x0D, 0x20...0x20], "upper": [0x41...0x5A], "lower": [0x61...0x7A], "xdigit": [0x30...0x39, 0x41...0x46, 0x61...0x66],
        "word": CharClass.word, "punct": [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E], "blank": [0x09...0x09, 0x20...0x20],
        "cntrl": [0x00...0x1F, 0x7F...0x7F], "print": [0x20...0x7E], "graph": [0x21...0x7E], "ascii": [0x00...0x7F],
    ]
}

struct RegexCompiler {
    var program: [Inst] = []
    var classes: [CharClass] = []

    var pc: Int32 { Int32(program.count) }

    mutating func emit(_ node: RegexNode) throws(LinearRegex.SyntaxError) {
        // Checked as it grows, so that `(a{1000}){1000}` stops early instead of allocating.
        guard program.count <= LinearRegex.maxInstructions else {
            throw LinearRegex.SyntaxError(
                description: "pattern too large (more than \(LinearRegex.maxInstructions) instructions once repetitions are expanded)")
        }
        switch node {
        case .empty: break
        case .literal(let cs): for c in cs { program.append(.char(c)) }
        case .char(let c, _): program.append(.char(c))
        case .any(let dotNL): program.append(.any(dotNL))
        case .set(let cls):
            classes.append(cls)
            program.append(.set(Int32(classes.count - 1)))
        case .assert(let a): program.append(.assert(a))
        case .group(let body, let index):
            if let index { program.append(.save(Int32(2 * index))) }
            try emit(body)
            if let index { program.append(.save(Int32(2 * index + 1))) }
        case .concat(let parts):
            for p in parts { try emit(p) }
        case .alternate(let branches):
            // split L1, next; L1: branch; jump end; next: split ...
            var jumps = [Int]()
            for (k, b) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = program.count
                    program.append(.split(0, 0))
                    try emit(b)
                    jumps.append(program.count)
                    program.append(.jump(0))
                    program[split] = .split(Int32(split + 1), pc)
                } else {
                    try emit(b)
                }
            }
            for j in jumps { program[j] = .jump(pc) }
        case .repeat(let body, let lo, let hi, let greedy):
            for _ in 0..<lo { try emit(body) }
            if let hi {
                // (body)? repeated hi - lo times, each nested: x{2,4} = xx(x(x)?)?
                var splits = [Int]()
                for _ in lo..<hi {
                    splits.append(program.count)
                    program.append(.split(0, 0))
                    try emit(body)
                }
                for sp in splits { program[sp] = greedy ? .split(Int32(sp + 1), pc) : .split(pc, Int32(sp + 1)) }
            } else {
                // L: split body, end; body; jump L
                let split = program.count
                program.append(.split(0, 0))
                let bodyStart = pc
                try emit(body)
                // An empty-matching body loops without consuming; the sparse set stops it.
                program.append(.jump(Int32(split)))
                program[split] = greedy ? .split(bodyStart, pc) : .split(pc, bodyStart)
            }
        }
    }
}
