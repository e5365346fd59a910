import AriadneModel
import Testing

@Suite struct LinearRegexTests {
    func whole(_ p: String, _ s: String) throws -> Bool { try LinearRegex(p).wholeMatch(s) }

    @Test func wholeMatchesLikeRE2() throws {
        let cases: [(String, String, Bool)] = [
            ("abc", "abc", true), ("abc", "abcd", false), ("a.c", "axc", true), ("a.c", "a\nc", false),
            ("(?s)a.c", "a\nc", true), ("a*", "", true), ("a+", "", false), ("a+b", "aaab", true),
            ("colou?r", "color", true), ("colou?r", "colour", true), ("a{2,3}", "a", false), ("a{2,3}", "aaa", true),
            ("a{2,3}", "aaaa", false), ("a{2,}", "aaaaaa", true), ("a{2}", "aa", true), ("[a-c]+", "abcba", true),
            ("[^a-c]+", "xyz", true), ("[^a-c]+", "xaz", false), ("\\d{3}-\\d{4}", "555-1234", true), ("\\w+", "foo_bar9", true),
            ("\\s", " ", true), ("\\S+", "a b", false), ("(foo|bar)baz", "barbaz", true), ("foo|bar", "bar", true),
            ("(?i)GET /api", "get /API", true), ("(?i:ab)c", "ABc", true), ("(?i:ab)c", "ABC", false), ("x{1,2}?", "xx", true),
            ("Timeout.*", "TimeoutException", true), ("1.2.*", "1.2.9", true), ("[[:digit:]]+", "123", true),
            ("a\\.b", "a.b", true), ("a\\.b", "axb", false), ("\\x41", "A", true), ("\\x{263a}", "\u{263a}", true),
            ("^abc$", "abc", true), ("a{,2}", "a{,2}", true), ("[]a]+", "]a", true), ("[a-]+", "a-", true),
            ("é+", "éé", true), ("(?i)é", "É", true), ("\\bfoo\\b", "foo", true), ("(a|ab)(c|bcd)", "abcd", true),
            ("", "", true), ("", "a", false), ("(a*)*", "aaa", true), ("(a*)+b", "aab", true), ("(|a)+", "aa", true),
        ]
        for (p, s, want) in cases {
            #expect(try whole(p, s) == want, "\(p) on \(s)")
        }
    }

    @Test func refusesWhatItCannotDoWithAReason() {
        for p in ["(", ")", "a**", "*a", "[a", "a{2,1}", "a{1001}", "(?<n>", "\\1", "(?=a)", "(?!a)", "\\p{L}", "x\\"] {
            #expect(throws: LinearRegex.SyntaxError.self, "\(p)") { try LinearRegex(p) }
        }
        // Repetitions that would expand past the program limit are refused, not allocated.
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex("((a{1000}){1000}){1000}") }
        #expect(throws: LinearRegex.SyntaxError.self) {
            try LinearRegex(String(repeating: "(", count: 5000) + "a" + String(repeating: ")", count: 5000))
        }
    }

    /// Patterns that take a backtracking matcher exponential time answer here at once: a
    /// backtracking implementation does not finish this test.
    @Test func catastrophicPatternsAreLinear() throws {
        let input = String(repeating: "a", count: 20_000)
        for p in ["(a+)+b", "(a|a)+b", "(a|aa)+b", "(.*a){20}b", "(a*)*b", "((a+)+)+b"] {
            let r = try LinearRegex(p)
            #expect(!r.wholeMatch(input), "\(p)")
            #expect(!r.firstMatchExists(input), "\(p)")
        }
        #expect(try LinearRegex("(a+)+").wholeMatch(input))
    }

    @Test func namedGroupsOfTheLeftmostFirstMatch() throws {
        let r = try LinearRegex("^https?://(?<host>[^/:]+)(:(?P<port>\\d+))?(?<path>/[^?]*)?")
        let g = r.namedGroups(in: "https://shop.example.com:8443/cart?x=1")
        #expect(g.map(\.name) == ["host", "port", "path"])
        #expect(g.map { String($0.value) } == ["shop.example.com", "8443", "/cart"])
        let h = r.namedGroups(in: "http://a.b/c")
        #expect(h.map(\.name) == ["host", "path"])
        #expect(try LinearRegex("(?<n>\\d+?)").namedGroups(in: "x123").map { String($0.value) } == ["1"])
        #expect(try LinearRegex("(?<n>\\d+)").namedGroups(in: "x123y45").map { String($0.value) } == ["123"])
        #expect(try LinearRegex("(?<n>\\d+)").namedGroups(in: "none").isEmpty)
    }

    /// Random patterns over a small alphabet, compared with Swift's own (backtracking) Regex on
    /// short inputs, where backtracking is still fast.
    @Test func agreesWithSwiftRegexOnRandomPatterns() throws {
        var rng = SplitMix64(seed: 0x5EED)
        func atom(_ depth: Int) -> String {
            switch rng.next() % 9 {
            case 0: return "."
            case 1: return "[ab]"
            case 2: return "[^a]"
            case 3 where depth < 3: return "(" + expr(depth + 1) + ")"
            case 4 where depth < 3: return "(?:" + expr(depth + 1) + "|" + expr(depth + 1) + ")"
            default: return ["a", "b", "c"][Int(rng.next() % 3)]
            }
        }
        func piece(_ depth: Int) -> String {
            let a = atom(depth)
            switch rng.next() % 8 {
            case 0: return a + "*"
            case 1: return a + "+"
            case 2: return a + "?"
            case 3: return a + "{1,2}"
            case 4: return a + "*?"
            default: return a
            }
        }
        func expr(_ depth: Int) -> String { (0..<Int(1 + rng.next() % 3)).map { _ in piece(depth) }.joined() }
        var compared = 0
        for _ in 0..<400 {
            let p = expr(0)
            let ours = try LinearRegex(p)
            let theirs = try Regex(p)
            for _ in 0..<8 {
                let s = String((0..<Int(rng.next() % 6)).map { _ in Character(["a", "b", "c"][Int(rng.next() % 3)]) })
                let expected = (try? theirs.wholeMatch(in: s)) != nil
                #expect(ours.wholeMatch(s) == expected, "\(p) on \(s)")
                let expectedSome = (try? theirs.firstMatch(in: s)) != nil
                #expect(ours.firstMatchExists(s) == expectedSome, "\(p) in \(s)")
                compared += 1
            }
        }
        #expect(compared == 3200)
    }
}
