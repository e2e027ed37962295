import Ember
import EmberData
@testable import EmberDistributed
import XCTest

/// DistributedSampler against PyTorch's torch.utils.data.DistributedSampler (shuffle=False,
/// where its order does not depend on torch's generator): the expected shares are what
/// PyTorch 2.x returns for the same dataset size, world size and drop_last.
final class DistributedSamplerTests: XCTestCase {
    func shares(_ count: Int, _ world: Int, _ mode: DistributedSampler.Mode, shuffle: Bool = false, epoch: Int = 0) -> [[Int]] {
        (0..<world).map { DistributedSampler(datasetCount: count, rank: $0, worldSize: world, shuffle: shuffle, mode: mode).indices(epoch: epoch) }
    }

    func testPaddingRepeatsIndicesFromTheStart() {
        XCTAssertEqual(shares(10, 3, .pad), [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]])
        XCTAssertEqual(shares(2, 4, .pad), [[0], [1], [0], [1]])
        // More padding than data: PyTorch repeats the whole list as often as needed.
        XCTAssertEqual(shares(1, 4, .pad), [[0], [0], [0], [0]])
        XCTAssertEqual(DistributedSampler(datasetCount: 10, rank: 1, worldSize: 3, shuffle: false).count, 4)
    }

    func testDropLastDropsTheTail() {
        XCTAssertEqual(shares(10, 3, .dropLast), [[0, 3, 6], [1, 4, 7], [2, 5, 8]])
        XCTAssertEqual(DistributedSampler(datasetCount: 10, rank: 0, worldSize: 3, mode: .dropLast).count, 3)
        XCTAssertEqual(shares(2, 4, .dropLast), [[], [], [], []])
    }

    func testExactModeNeitherPadsNorDrops() {
        let exact = shares(10, 3, .exact)
        XCTAssertEqual(exact, [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]])
        XCTAssertEqual((0..<3).map { DistributedSampler(datasetCount: 10, rank: $0, worldSize: 3, mode: .exact).count }, [4, 3, 3])
        XCTAssertEqual(exact.flatMap { $0 }.sorted(), Array(0..<10), "each example exactly once")
    }

    func testShuffleIsSharedByTheRanksAndChangesWithTheEpoch() {
        let epoch0 = shares(11, 2, .pad, shuffle: true, epoch: 0)
        let epoch1 = shares(11, 2, .pad, shuffle: true, epoch: 1)
        XCTAssertEqual(epoch0.map(\.count), [6, 6])
        // The ranks deal out one permutation (plus one padded index).
        XCTAssertEqual(Set(epoch0.flatMap { $0 }), Set(0..<11))
        XCTAssertNotEqual(epoch0, epoch1)
        XCTAssertEqual(epoch0, shares(11, 2, .pad, shuffle: true, epoch: 0), "the same seed and epoch give the same order")
        var sampler = DistributedSampler(datasetCount: 11, rank: 1, worldSize: 2)
        sampler.setEpoch(1)
        XCTAssertEqual(sampler.indices(), epoch1[1])
        XCTAssertNotEqual(DistributedSampler(datasetCount: 11, rank: 0, worldSize: 2, seed: 5).indices(epoch: 0), epoch0[0])
    }

    func testDataLoaderBatchesTheSamplersIndices() {
        let data = TensorDataset(Tensor((0..<10).map { Float($0) }, shape: [10, 1]), Tensor((0..<10).map { Int64($0) }))
        let loader = DataLoader(data, batchSize: 2, shuffle: true)
        loader.sampler = DistributedSampler(datasetCount: 10, rank: 2, worldSize: 3, shuffle: false)
        XCTAssertEqual(loader.count, 2)
        let labels = Array(AnySequence { loader.iterator(epoch: 0) }).map { $0.targets.scalars(as: Int64.self) }
        XCTAssertEqual(labels, [[2, 5], [8, 1]])
    }
}

final class GradientBucketTests: XCTestCase {
    /// PyTorch's compute_bucket_assignment_by_size: one open bucket per dtype, the first
    /// limit for each dtype's first bucket, buckets ordered by their first parameter.
    func testBucketsFillInTheGivenOrderPerDType() {
        let sizes: [(bytes: Int, dtype: DType)] = [(800, .float32), (400, .float32), (2000, .float32), (100, .float64)]
        XCTAssertEqual(bucketAssignment(sizes: sizes, order: [3, 2, 1, 0], limits: (first: 1000, rest: 2500)), [[3], [2], [1, 0]])
        XCTAssertEqual(bucketAssignment(sizes: sizes, order: [0, 1, 2, 3], limits: (first: 1000, rest: 1000)), [[0, 1], [2], [3]])
    }
}

final class ProcessGroupTests: XCTestCase {
    func testSingleProcessGroupIsTheIdentityAndChecksArguments() throws {
        let group = SingleProcessGroup()
        let x = Tensor([1, 2, 3] as [Float])
        XCTAssertEqual(try group.allReduce(x, op: .average).floats, [1, 2, 3])
        XCTAssertEqual(try group.allGather(x).shape, [1, 3])
        XCTAssertThrowsError(try group.allReduce(Tensor([1, 2] as [Int32]), op: .average)) { error in
            XCTAssertEqual("\(error)", "rank 0: allreduce #3: average needs a floating-point tensor, got int32 (use sum)")
        }
        XCTAssertThrowsError(try group.broadcast(x, root: 1)) { error in
            XCTAssertEqual("\(error)", "rank 0: broadcast #4: rank 1 is not in a group of 1 ranks")
        }
        try group.send(x, to: 0, tag: 3)
        let received = Tensor.zeros([3])
        try group.receive(into: received, from: 0, tag: 3)
        XCTAssertEqual(received.floats, [1, 2, 3])
        XCTAssertThrowsError(try group.receive(into: received, from: 0, tag: 3))
    }

    func testDisagreementNamesEachRanksCall() {
        let a = CollectiveCall(.allReduce, Tensor.zeros([4, 3]), op: .sum).encoded(sequence: 5)
        let b = CollectiveCall(.broadcast, Tensor.zeros([4], dtype: .float64), root: 0).encoded(sequence: 5)
        XCTAssertNil(CollectiveCall.disagreement(a + a, worldSize: 2))
        XCTAssertEqual(CollectiveCall.disagreement(a + b + a, worldSize: 3),
                       "the ranks disagree: ranks 0, 2 called allreduce(sum) of float32 [4, 3] as collective #5; rank 1 called broadcast(root 0) of float64 [4] as collective #5")
    }
}
