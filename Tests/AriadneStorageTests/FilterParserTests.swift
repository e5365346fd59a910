import AriadneStorage
import Testing

@Suite struct FilterParserTests {
    @Test func parsesFieldsOperatorsAndLiterals() throws {
        let parsed = try FilterParser.parse(
            #"{ resource.service.name = "checkout" && span.http.response.status_code >= 500 || (.user.id != nil && duration > 1.5ms) }"#)
        #expect(
            parsed.filter
                == .or([
                    .and([
                        .compare(.attribute(.resource, "service.name"), .eq, .string("checkout")),
                        .compare(.attribute(.span, "http.response.status_code"), .ge, .int(500)),
                    ]),
                    .and([
                        .compare(.attribute(.any, "user.id"), .exists, nil),
                        .compare(.duration, .gt, .int(1_500_000)),
                    ]),
                ]))
        #expect(
            try FilterParser.parse(#"event."exception type" =~ "Time.*" && status = error"#).filter
                == .and([
                    .compare(.attribute(.event, "exception type"), .regex, .string("Time.*")),
                    .compare(.status, .eq, .string("error")),
                ]))
        #expect(
            try FilterParser.parse("span.ratio <= -0.25 && span.ok = false").filter
                == .and([.compare(.attribute(.span, "ratio"), .le, .double(-0.25)), .compare(.attribute(.span, "ok"), .eq, .bool(false))]))
        #expect(try FilterParser.parse("").filter == nil)
        #expect(try FilterParser.parse("{}").filter == nil)
    }

    @Test func traceDurationBecomesTraceBounds() throws {
        let parsed = try FilterParser.parse("traceDuration >= 2s && kind = server && traceDuration < 1m")
        #expect(parsed.traceDurationMin == 2_000_000_000)
        #expect(parsed.traceDurationMax == 59_999_999_999)
        #expect(parsed.filter == .compare(.kind, .eq, .string("server")))
    }

    @Test(arguments: [
        ("span.a = ", "expected a value"),
        ("span.a == 1", "expected a value"),
        ("foo = 1", "unknown field \"foo\""),
        ("(span.a = 1", "expected )"),
        ("span.a = \"x", "unterminated string"),
        ("span.a = 1 span.b = 2", "unexpected text"),
        ("duration > fast", "duration needs a value"),
        ("name < nil", "only attributes can be compared with nil"),
        ("traceDuration > 1s || kind = server", "traceDuration may only be combined with && at the top level"),
        ("span.a ~ 1", "expected an operator"),
    ])
    func rejectsMalformedFiltersWithAMessage(_ text: String, _ message: String) {
        #expect {
            try FilterParser.parse(text)
        } throws: { error in
            (error as? FilterError)?.description.contains(message) == true
        }
    }

    @Test func invalidRegularExpressionIsAnError() {
        let query = TraceQuery(filter: .compare(.name, .regex, .string("(unclosed")))
        #expect(throws: FilterError.self) { try SpanMatcher(query) }
    }
}
