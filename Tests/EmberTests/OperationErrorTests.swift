import Ember
import XCTest

/// `catchingOperationErrors`: what would stop the process (a shape rule refusing its inputs,
/// an index read from data out of range, an integer division by zero) is thrown instead,
/// eagerly, while tracing and inside compiled functions, and leaves nothing behind.
final class OperationErrorTests: XCTestCase {
    private func message(_ body: () -> Void, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            try catchingOperationErrors { body() }
            return nil
        } catch {
            return (error as? OperationError)?.message ?? "\(error)"
        }
    }

    func testShapeRuleRefusalsAreThrown() throws {
        let a = Tensor.ones([2, 3]), b = Tensor.ones([4])
        let refused = message { _ = (a + b).sum() * 2 }
        XCTAssertNotNil(refused)
        XCTAssertTrue(refused!.hasPrefix("add:"), refused!)
        XCTAssertTrue(refused!.contains("[2, 3]") && refused!.contains("[4]"), refused!)
        // Only the first failure is kept, and the next call starts clean.
        let first = message { _ = matmul(a, b.reshaped(to: [2, 2])); _ = a + b }
        XCTAssertTrue(first!.hasPrefix("matmul:"), first!)
        XCTAssertEqual(try catchingOperationErrors { (a + 1).sum().item() }, 12)
    }

    func testIndicesOutOfRangeAreThrownBeforeAnyElementMoves() throws {
        let table = Tensor([[1, 2], [3, 4], [5, 6]] as [[Float]])
        XCTAssertEqual(message { _ = table.indexSelect(axis: 0, index: Tensor([0, 3] as [Int64])) },
                       "index_select: index 3 is out of range for an axis of size 3 (valid: 0..<3)")
        XCTAssertEqual(message { _ = table.gather(axis: 1, index: Tensor([[0, 1], [2, 0], [1, 1]] as [[Int64]])) },
                       "gather: index 2 is out of range for an axis of size 2 (valid: 0..<2)")
        XCTAssertEqual(message { _ = Tensor.zeros([3]).indexAdding(axis: 0, index: Tensor([-1] as [Int64]), source: Tensor([1] as [Float])) },
                       "index_add: index -1 is out of range for an axis of size 3 (valid: 0..<3)")
        let fine = try catchingOperationErrors { table.indexSelect(axis: 0, index: Tensor([2, 0] as [Int64])) }
        XCTAssertEqual(fine.scalars(as: Float.self), [5, 6, 1, 2])
    }

    func testIntegerDivisionByZeroIsThrown() throws {
        let a = Tensor([7, -7, 9] as [Int64])
        XCTAssertEqual(message { _ = a.floorDivided(by: Tensor([2, 0, 3] as [Int64])) }, "div: integer division by zero")
        XCTAssertEqual(try catchingOperationErrors { a.floorDivided(by: Tensor([2, -2, 3] as [Int64])) }.scalars(as: Int64.self), [3, 3, 3])
    }

    /// A compiled function refuses a trace whose shapes fail and keeps no graph for them; a
    /// compiled gather checks the indices each call.
    func testCompiledFunctionsRefuseBadShapesAndIndices() throws {
        let table = Tensor([[1, 2], [3, 4], [5, 6]] as [[Float]])
        let f = compile({ (v: [Tensor]) in [table.indexSelect(axis: 0, index: v[0]) + v[1]] })
        let bad = message { _ = f([Tensor([0, 1] as [Int64]), Tensor.ones([3, 3])]) }
        XCTAssertTrue(bad?.hasPrefix("add:") == true, bad ?? "nil")
        XCTAssertEqual(f.traceCount, 0, "a refused trace is not kept")

        let good = try catchingOperationErrors { f([Tensor([2, 0] as [Int64]), Tensor.ones([2, 2])]) }
        XCTAssertEqual(good[0].scalars(as: Float.self), [6, 7, 2, 3])
        XCTAssertEqual(f.traceCount, 1)
        XCTAssertEqual(message { _ = f([Tensor([2, 5] as [Int64]), Tensor.ones([2, 2])]) },
                       "index_select: index 5 is out of range for an axis of size 3 (valid: 0..<3)")
        XCTAssertEqual(f.traceCount, 1)
        XCTAssertEqual(f([Tensor([1, 1] as [Int64]), Tensor.zeros([2, 2])])[0].scalars(as: Float.self), [3, 4, 3, 4])
    }

    func testPendingErrorLetsACallerStopEarly() throws {
        var seenInside: String?
        XCTAssertThrowsError(try catchingOperationErrors {
            XCTAssertNil(pendingOperationError())
            _ = Tensor.ones([2]) + Tensor.ones([3])
            seenInside = pendingOperationError()?.message
        })
        XCTAssertTrue(seenInside?.hasPrefix("add:") == true, seenInside ?? "nil")
        XCTAssertNil(pendingOperationError(), "outside, nothing is pending")
    }
}
