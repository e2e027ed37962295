import Ember
import EmberFuzzTargets
import EmberNN
import EmberOptim
@testable import EmberTrain
import Foundation
import XCTest

/// Replays every committed fuzzing input (Fuzz/Corpus/TARGET/: seeds, and what fuzzing
/// found that reaches new code or once crashed) through its loader: each must load or be
/// refused with an error, never crash. `scripts/fuzz.sh` fuzzes the same targets.
final class FuzzCorpusTests: XCTestCase {
    private let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/Corpus").standardizedFileURL

    func testEveryCommittedInputIsAnsweredWithoutACrash() throws {
        if ProcessInfo.processInfo.environment["EMBER_WRITE_FUZZ_SEEDS"] != nil { try writeCheckpointSeed() }
        var replayed = 0
        for target in FuzzTargets.all {
            let folder = corpus.appendingPathComponent(target.name)
            let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            XCTAssertFalse(files.isEmpty, "no seed inputs for fuzz target \(target.name) in \(folder.path)")
            for file in files {
                let bytes = try Data(contentsOf: file)
                bytes.withUnsafeBytes { FuzzTargets.run(target, $0) }
                replayed += 1
            }
        }
        XCTAssertGreaterThan(replayed, FuzzTargets.all.count)
    }

    /// The checkpoint seed: a tiny model after one SGD step with momentum (written when
    /// EMBER_WRITE_FUZZ_SEEDS is set, then committed).
    private func writeCheckpointSeed() throws {
        manualSeed(0)
        let model = Sequential(Linear(2, 3), ReLU(), Linear(3, 2))
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1, momentum: 0.9), loss: CrossEntropyLoss())
        let data = InMemoryBatches(inputs: Tensor.randomNormal([4, 2]), targets: Tensor([0, 1, 1, 0] as [Int64]), batchSize: 4)
        _ = try trainer.fit(data, epochs: 1)
        try TrainingCheckpoint(trainer, model: "seed").write(to: corpus.appendingPathComponent("checkpoint/tiny.ckpt"))
    }
}
