import AriadnePipeline
import Testing

@Suite struct PrometheusExpositionTests {
    @Test func labelValuesAreEscapedAndHistogramsAreCumulative() {
        var out = PrometheusExposition()
        out.family("x_total", .counter, help: "X.")
        out.sample("x_total", [("service", #"a "quoted" \ back"#), ("line", "one\ntwo")], 3)
        out.family("d_seconds", .histogram, help: "D.")
        out.histogram("d_seconds", [("k", "v")], bounds: [0.1, 1], counts: [2, 3, 1], sum: 4.5)
        #expect(
            out.text == """
                # HELP x_total X.
                # TYPE x_total counter
                x_total{service="a \\"quoted\\" \\\\ back",line="one\\ntwo"} 3
                # HELP d_seconds D.
                # TYPE d_seconds histogram
                d_seconds_bucket{k="v",le="0.1"} 2
                d_seconds_bucket{k="v",le="1"} 5
                d_seconds_bucket{k="v",le="+Inf"} 6
                d_seconds_sum{k="v"} 4.5
                d_seconds_count{k="v"} 6

                """)
    }

    @Test func oneRegistryRendersEverySourceInOrder() {
        let registry = MetricsRegistry()
        let pipeline = PipelineMetrics()
        pipeline.describe("p_total", "P.")
        pipeline.add("p_total", 2, ["exporter": #"otlp/"odd""#])
        registry.register(GaugeSource { [("g", "G.", 7)] })
        registry.register(pipeline)
        #expect(
            registry.render()
                == "# HELP g G.\n# TYPE g gauge\ng 7\n# HELP p_total P.\n# TYPE p_total counter\np_total{exporter=\"otlp/\\\"odd\\\"\"} 2\n")
    }
}
