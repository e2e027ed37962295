import XCTest
@testable import EmberTrain

final class ProgressBarTests: XCTestCase {
    /// Collects what the bar writes, with a clock the test moves by hand.
    private final class Recorder {
        var text = ""
        var now = 100.0
    }

    private func bar(total: Int?, isTerminal: Bool, plainEveryPercent: Int? = nil, _ recorder: Recorder) -> ProgressBar {
        ProgressBar(total: total, isTerminal: isTerminal, plainEveryPercent: plainEveryPercent,
                    output: { recorder.text += $0 }, clock: { recorder.now })
    }

    func testDurations() {
        XCTAssertEqual(ProgressFormat.duration(0), "0s")
        XCTAssertEqual(ProgressFormat.duration(3.4), "3s")
        XCTAssertEqual(ProgressFormat.duration(59.4), "59s")
        XCTAssertEqual(ProgressFormat.duration(60), "1:00")
        XCTAssertEqual(ProgressFormat.duration(65), "1:05")
        XCTAssertEqual(ProgressFormat.duration(3599), "59:59")
        XCTAssertEqual(ProgressFormat.duration(3600), "1:00:00")
        XCTAssertEqual(ProgressFormat.duration(7384), "2:03:04")
        XCTAssertEqual(ProgressFormat.duration(.infinity), "0s")
    }

    func testRatesAndValues() {
        XCTAssertEqual(ProgressFormat.rate(5210.4), "5210 samples/s")
        XCTAssertEqual(ProgressFormat.rate(42.46), "42.5 samples/s")
        XCTAssertEqual(ProgressFormat.rate(0.75), "0.75 samples/s")
        XCTAssertEqual(ProgressFormat.value(0.43214), "0.4321")
        XCTAssertEqual(ProgressFormat.value(0), "0.0000")
        XCTAssertEqual(ProgressFormat.value(1.5e-5), "1.5000e-05")
        XCTAssertEqual(ProgressFormat.value(.nan), "nan")
    }

    func testBar() {
        XCTAssertEqual(ProgressFormat.bar(step: 0, total: 40, width: 10), "[..........]")
        XCTAssertEqual(ProgressFormat.bar(step: 12, total: 40, width: 10), "[==>.......]")
        XCTAssertEqual(ProgressFormat.bar(step: 40, total: 40, width: 10), "[==========]")
        XCTAssertEqual(ProgressFormat.bar(step: 0, total: 0, width: 4), "[====]")
    }

    func testTerminalRedrawsInPlaceAtMostTenTimesASecond() {
        let recorder = Recorder()
        let progress = bar(total: 40, isTerminal: true, recorder)
        recorder.now += 1.2
        progress.update(step: 12, values: [("loss", 0.43214), ("accuracy", 0.88123)], samplesPerSecond: 5210)
        let first = "\r12/40 [========>.....................] - ETA: 3s - loss: 0.4321 - accuracy: 0.8812 - 5210 samples/s"
        XCTAssertEqual(recorder.text, first)

        recorder.now += 0.05
        progress.update(step: 13, values: [("loss", 0.4)])
        XCTAssertEqual(recorder.text, first, "within 0.1 s of the last draw")

        recorder.now += 0.06
        progress.update(step: 20, values: [("loss", 0.4)])
        // A shorter line is padded with spaces over the rest of the previous one.
        let second = "\r20/40 [==============>...............] - ETA: 1s - loss: 0.4000"
        XCTAssertEqual(recorder.text, first + second + String(repeating: " ", count: first.count - second.count))

        recorder.text = ""
        recorder.now += 0.01
        progress.finish(values: [("loss", 0.3), ("accuracy", 0.9)], samplesPerSecond: 5000)
        XCTAssertEqual(recorder.text, "\r40/40 [==============================] - 1s - loss: 0.3000 - accuracy: 0.9000 - 5000 samples/s\n")
    }

    func testPlainOutputIsOneLineAtTheEnd() {
        let recorder = Recorder()
        let progress = bar(total: 40, isTerminal: false, recorder)
        for step in 1...40 {
            recorder.now += 2
            progress.update(step: step, values: [("loss", 1)])
        }
        XCTAssertEqual(recorder.text, "")
        progress.finish(values: [("loss", 0.25)], samplesPerSecond: 16)
        XCTAssertEqual(recorder.text, "40/40 [==============================] - 1:20 - loss: 0.2500 - 16.0 samples/s\n")
        XCTAssertFalse(recorder.text.contains("\r"))
        XCTAssertFalse(recorder.text.contains("\u{1B}"))
    }

    func testPlainOutputEveryQuarter() {
        let recorder = Recorder()
        let progress = bar(total: 8, isTerminal: false, plainEveryPercent: 25, recorder)
        for step in 1...8 {
            recorder.now += 1
            progress.update(step: step)
        }
        progress.finish()
        XCTAssertEqual(recorder.text, """
            2/8 [======>.......................] - ETA: 6s
            4/8 [==============>...............] - ETA: 4s
            6/8 [=====================>........] - ETA: 2s
            8/8 [==============================] - 8s

            """)
    }

    /// Off a terminal a long epoch still shows it is alive: a line whenever the interval has
    /// passed since the last one.
    func testPlainOutputEveryTenSeconds() {
        let recorder = Recorder()
        let progress = ProgressBar(total: 100, isTerminal: false, plainEverySeconds: 10, output: { recorder.text += $0 }, clock: { recorder.now })
        for step in 1...30 {
            recorder.now += 4
            progress.update(step: step)
        }
        let steps = recorder.text.split(separator: "\n").map { Int($0.split(separator: "/")[0].trimmingCharacters(in: .whitespaces)) }
        XCTAssertEqual(steps, Array(stride(from: 3, through: 30, by: 3)))
        XCTAssertFalse(recorder.text.contains("\r"))
    }

    func testUnknownTotalShowsElapsedTime() {
        let recorder = Recorder()
        let progress = bar(total: nil, isTerminal: true, recorder)
        recorder.now += 75
        progress.update(step: 300, values: [("loss", 0.5)])
        XCTAssertEqual(recorder.text, "\r300/Unknown - 1:15 - loss: 0.5000")
        recorder.text = ""
        progress.finish(values: [("loss", 0.5)])
        XCTAssertEqual(recorder.text, "\r300/Unknown - 1:15 - loss: 0.5000\n")
    }
}
