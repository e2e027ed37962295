import XCTest
import Ember
@testable import EmberOptim

/// GradScaler against PyTorch's algorithm (torch.amp.GradScaler): initial scale 2^16,
/// growth ×2 after `growthInterval` finite steps in a row, backoff ×0.5 and a skipped step
/// on an inf or NaN gradient, unscaling before clipping.
final class GradScalerTests: XCTestCase {
    /// One parameter w = [1, 2] trained by SGD(lr 0.1) on sum(w · factor).
    func makeStep(_ scaler: GradScaler, factor: Float) -> (w: Tensor, optimizer: SGD) {
        let w = Tensor([1, 2] as [Float], shape: [2])
        w.requiresGrad = true
        let optimizer = SGD([w], lr: 0.1)
        scaler.scaled((w * Tensor([factor, factor], shape: [2])).sum()).backward()
        return (w, optimizer)
    }

    func testDefaultsArePyTorchs() {
        let scaler = GradScaler()
        XCTAssertEqual(scaler.scale, 65536)
        XCTAssertEqual(scaler.growthFactor, 2)
        XCTAssertEqual(scaler.backoffFactor, 0.5)
        XCTAssertEqual(scaler.growthInterval, 2000)
    }

    func testFiniteStepUsesUnscaledGradients() {
        let scaler = GradScaler()
        let (w, optimizer) = makeStep(scaler, factor: 3)
        XCTAssertEqual(w.grad!.floats, [3 * 65536, 3 * 65536], "backward sees the scaled loss")
        XCTAssertTrue(scaler.step(optimizer))
        // w - 0.1 · 3, the true gradient.
        XCTAssertEqual(w.floats[0], 0.7, accuracy: 1e-6)
        XCTAssertEqual(w.floats[1], 1.7, accuracy: 1e-6)
        scaler.update()
        XCTAssertEqual(scaler.scale, 65536)
        XCTAssertEqual(scaler.growthTracker, 1)
    }

    func testInfiniteGradientSkipsTheStepAndBacksOff() {
        let scaler = GradScaler()
        for bad in [Float.infinity, .nan] {
            let before = scaler.scale
            let (w, optimizer) = makeStep(scaler, factor: bad)
            XCTAssertFalse(scaler.step(optimizer), "step with a \(bad) gradient")
            XCTAssertTrue(scaler.skippedLastStep)
            XCTAssertEqual(w.floats, [1, 2], "the parameter is unchanged")
            scaler.update()
            XCTAssertEqual(scaler.scale, before * 0.5)
            XCTAssertEqual(scaler.growthTracker, 0)
        }
    }

    func testGrowthAfterTheIntervalOfFiniteSteps() {
        let scaler = GradScaler(initialScale: 8, growthInterval: 3)
        for step in 1...7 {
            let (_, optimizer) = makeStep(scaler, factor: 1)
            scaler.step(optimizer)
            scaler.update()
            XCTAssertEqual(scaler.scale, step < 3 ? 8 : step < 6 ? 16 : 32, "after step \(step)")
        }
        // An overflow resets the count.
        let (_, optimizer) = makeStep(scaler, factor: .infinity)
        scaler.step(optimizer)
        scaler.update()
        XCTAssertEqual(scaler.scale, 16)
        XCTAssertEqual(scaler.growthTracker, 0)
    }

    /// unscale before clipping: the clip sees the true norm, and step does not unscale twice.
    func testUnscaleBeforeClipping() {
        let scaler = GradScaler()
        let (w, optimizer) = makeStep(scaler, factor: 4)
        scaler.unscale(optimizer)
        XCTAssertEqual(w.grad!.floats, [4, 4])
        let norm = clipGradNorm([w], maxNorm: 1).item()
        XCTAssertEqual(norm, 32.0.squareRoot(), accuracy: 1e-4)
        scaler.step(optimizer)
        let clipped = 4 / 32.0.squareRoot()
        XCTAssertEqual(Double(w.floats[0]), 1 - 0.1 * clipped, accuracy: 1e-5)
        scaler.update()
    }

    func testDisabledScalerPassesThrough() {
        let scaler = GradScaler(enabled: false)
        let (w, optimizer) = makeStep(scaler, factor: 2)
        XCTAssertEqual(w.grad!.floats, [2, 2])
        XCTAssertTrue(scaler.step(optimizer))
        scaler.update()
        XCTAssertEqual(w.floats[0], 0.8, accuracy: 1e-6)
    }

    func testStateRoundTripAndRefusals() throws {
        let scaler = GradScaler(initialScale: 1024, growthInterval: 10)
        for _ in 0..<3 {
            let (_, optimizer) = makeStep(scaler, factor: 1)
            scaler.step(optimizer)
            scaler.update()
        }
        let restored = GradScaler(growthInterval: 10)
        try restored.load(scaler.state)
        XCTAssertEqual(restored.state, scaler.state)
        var bad = scaler.state
        bad.scale = .infinity
        XCTAssertThrowsError(try restored.load(bad)) { XCTAssertTrue("\($0)".contains("scale"), "\($0)") }
        bad = scaler.state
        bad.growthTracker = 10
        XCTAssertThrowsError(try restored.load(bad)) { XCTAssertTrue("\($0)".contains("growthTracker"), "\($0)") }
    }
}
