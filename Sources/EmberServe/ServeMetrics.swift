import Prometheus

/// The server's Prometheus metrics, exposed at `/metrics`: requests by model, endpoint and
/// status; request, queue and compute latencies; batch sizes; models loaded. A model label
/// is only ever a loaded model's name (else empty), so clients cannot grow the label set.
final class ServeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private static let latencyBuckets: [Duration] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        .map { Duration.nanoseconds(Int64($0 * 1e9)) }
    private static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    private func descriptor(_ name: String, unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ember_serve", metricName: name, unitName: unit, helpText: help)
    }

    /// One answered request.
    func request(model: String, endpoint: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: descriptor("requests", unit: "total", "HTTP requests answered, by model, endpoint and status"),
                             labels: [("model", model), ("endpoint", endpoint), ("status", "\(status)")]).increment()
        registry.makeDurationHistogram(descriptor: descriptor("request_duration", unit: "seconds", "Time from request to answer"),
                                       labels: [("model", model), ("endpoint", endpoint)], buckets: Self.latencyBuckets).record(duration)
    }

    /// One forward of a batch.
    func batch(model: String, _ report: DynamicBatcher.BatchReport) {
        registry.makeValueHistogram(descriptor: descriptor("batch_size", unit: "examples", "Examples per forward"),
                                    labels: [("model", model)], buckets: Self.batchBuckets).record(Double(report.examples))
        registry.makeDurationHistogram(descriptor: descriptor("compute_duration", unit: "seconds", "Time of one batched forward"),
                                       labels: [("model", model)], buckets: Self.latencyBuckets).record(report.computeTime)
        let queue = registry.makeDurationHistogram(descriptor: descriptor("queue_duration", unit: "seconds", "Time a request waited for its batch"),
                                                   labels: [("model", model)], buckets: Self.latencyBuckets)
        for time in report.queueTimes { queue.record(time) }
    }

    func modelsLoaded(_ count: Int) {
        registry.makeGauge(descriptor: descriptor("models_loaded", unit: "count", "Models serving a version")).set(Double(count))
    }

    /// The text exposition format.
    func exposition() -> [UInt8] { registry.emitToBuffer() }
}
