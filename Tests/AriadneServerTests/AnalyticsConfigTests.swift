import AriadneAnalysis
import AriadneModel
import AriadnePipeline
import AriadneServer
import Testing

@Suite struct AnalyticsConfigTests {
    func errors(_ yaml: String) -> [String] {
        do {
            _ = try PipelineConfiguration.parse(yaml, sections: ServerConfiguration.configSections)
            return []
        } catch {
            return error.errors.map { "\($0.line):\($0.column) \($0.message)" }
        }
    }

    @Test func alertsObjectivesAndSettingsAreRead() throws {
        let c = try PipelineConfiguration.parse(
            """
            analytics:
              interval: 30s
              duration_unit: ms
              external_url: http://tracing.example:16686/
              webhooks: [http://127.0.0.1:9000/hook]
              alerts:
                - {name: slow, type: latency, service: checkout, operation: POST /pay, span_kind: server, quantile: 0.99, threshold_ms: 300, window: 5m, for: 1m}
                - {name: failing, type: error_rate, threshold: 0.05}
                - {name: odd, type: anomaly, metric: error_rate, service: checkout}
                - {name: burn, type: slo_burn_rate, slo: fast, window: 1h}
              slos:
                - {name: fast, service: checkout, objective: 99.9, latency_threshold_ms: 300, window: 720h}
            """, sections: ServerConfiguration.configSections)
        let a = c.section(AnalyticsSection.self).settings
        #expect(a.interval == .seconds(30))
        #expect(a.durationUnit == .milliseconds)
        #expect(a.externalURL == "http://tracing.example:16686")
        #expect(a.webhooks == ["http://127.0.0.1:9000/hook"])
        #expect(
            a.alerts == [
                AlertRule(
                    name: "slow", condition: .latency(quantile: 0.99, thresholdMs: 300), service: "checkout", operation: "POST /pay",
                    spanKind: .server, window: .seconds(300), pendingFor: .seconds(60)),
                AlertRule(name: "failing", condition: .errorRate(threshold: 0.05)),
                AlertRule(name: "odd", condition: .anomaly(.errorRate), service: "checkout"),
                AlertRule(name: "burn", condition: .burnRate(slo: "fast", threshold: 14.4), window: .seconds(3600)),
            ])
        #expect(a.objectives.count == 1)
        var slo = try #require(a.objectives.first)
        #expect(abs(slo.objective - 0.999) < 1e-12)  // written as a percentage
        slo.objective = 0.999
        #expect(
            slo == ServiceLevelObjective(name: "fast", service: "checkout", objective: 0.999, latencyThresholdMs: 300, window: .seconds(720 * 3600)))
    }

    @Test func mistakesAreNamedWithTheirLines() {
        let found = errors(
            """
            analytics:
              interval: 0s
              duration_unit: minutes
              webhooks: [ftp://x]
              alerts:
                - {name: a, type: latency}
                - {name: b, type: error_rate, threshold: 5}
                - {name: c, type: slo_burn_rate, slo: nope}
                - {name: d, type: guess}
                - {type: latency, threshold_ms: 1}
                - {name: e, type: latency, threshold_ms: 1, quantile: 2}
              slos:
                - {name: s, objective: 99}
                - {name: t, service: x, objective: 100}
              colour: blue
            """)
        #expect(
            found == [
                "2:13 interval must be longer than zero",
                "3:18 duration_unit must be s or ms",
                "4:14 a webhook must be an http:// or https:// URL",
                "13:7 objective 's' needs a service",
                "14:40 objective must be a percentage below 100, such as 99.9",
                "15:3 unknown key 'colour' in analytics: expected interval, retention, evaluation_interval, duration_unit, external_url, webhooks, alerts, slos, anomaly",
                "6:7 alert 'a' needs threshold_ms",
                "7:7 alert 'b' needs a threshold between 0 and 1 (0.05: five percent)",
                "8:43 alert 'c': no objective named 'nope' under slos",
                "9:23 unknown alert type 'guess': expected latency, error_rate, anomaly or slo_burn_rate",
                "10:7 an alert needs a name",
                "11:59 quantile must be a number in (0.0, 1.0]",
            ], "\(found)")
    }
}
