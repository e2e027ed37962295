import Foundation
import XCTest
import Ember
import EmberIO

/// The files Fixtures/generate_bert.py writes into Fixtures/bert/.
enum BERTFixtures {
    static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent("bert")
    }

    /// A model folder written by `save_pretrained`: tiny_classifier, tiny_masked_lm_f16, tiny_sharded_bf16.
    static func folder(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Inputs, outputs and gradients computed by transformers and sentence-transformers.
    static func reference() throws -> [String: Tensor] {
        try SafeTensors.load(contentsOf: directory.appendingPathComponent("reference.safetensors"))
    }
}

extension Dictionary where Key == String, Value == Tensor {
    /// The tensor `name`, failing the test (not crashing) when the fixture lacks it.
    func fixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Tensor {
        try XCTUnwrap(self[name], "reference.safetensors has no \(name); rerun Fixtures/generate_bert.py", file: file, line: line)
    }
}
