import Ember

/// How tensors of one dtype are split across the ranks of a group for ZeRO and FSDP: each
/// tensor, flattened and padded with zeros to a multiple of the world size, is cut into
/// worldSize equal chunks, and rank r owns chunk r of every tensor (per-parameter sharding,
/// as FSDP2 does, so that every rank holds a piece of every parameter and an optimizer sees
/// one shard tensor per parameter).
///
/// The chunks a rank owns lie side by side in its *section*; the sections of all ranks,
/// stacked, form a [worldSize, sectionSize] buffer, so that one reduce-scatter gives each
/// rank its section of a sum and one all-gather rebuilds every full tensor.
struct ShardLayout {
    let worldSize: Int
    let dtype: DType
    /// The full shape of each tensor.
    let shapes: [[Int]]
    /// Each tensor's element count.
    let counts: [Int]
    /// Each tensor's chunk length (its count divided by worldSize, rounded up).
    let chunks: [Int]
    /// Where each tensor's chunk starts within a section.
    let offsets: [Int]
    let sectionSize: Int

    init(shapes: [[Int]], dtype: DType, worldSize: Int) {
        self.worldSize = worldSize
        self.dtype = dtype
        self.shapes = shapes
        counts = shapes.map { $0.reduce(1, *) }
        chunks = counts.map { ($0 + worldSize - 1) / worldSize }
        var offsets = [Int](), running = 0
        for chunk in chunks {
            offsets.append(running)
            running += chunk
        }
        self.offsets = offsets
        sectionSize = running
    }

    /// The [worldSize, sectionSize] buffer whose row r holds chunk r of every tensor (nil
    /// tensors count as zeros).
    func stackedSections(_ tensors: [Tensor?]) -> Tensor {
        noGrad {
            Tensor.concatenate(tensors.indices.map { i in
                let flat = tensors[i].map { $0.detached().cast(to: dtype).reshaped(to: [-1]) }
                    ?? Tensor.zeros([counts[i]], dtype: dtype)
                let padding = chunks[i] * worldSize - counts[i]
                return (padding > 0 ? flat.padded([Padding(0, padding)]) : flat).reshaped(to: [worldSize, chunks[i]])
            }, axis: 1)
        }
    }

    /// Rank r's section of `tensors` (a [sectionSize] tensor of its own: a row of the stack
    /// is contiguous, so `contiguous()` would keep the whole stack alive behind it).
    func section(of tensors: [Tensor?], rank: Int) -> Tensor {
        noGrad { stackedSections(tensors).narrow(axis: 0, start: rank, count: 1).reshaped(to: [sectionSize]).cloned() }
    }

    /// Tensor i's chunk within a section (a view).
    func chunk(_ i: Int, of section: Tensor) -> Tensor {
        section.narrow(axis: 0, start: offsets[i], count: chunks[i])
    }

    /// Tensor i, full and in its shape, from the [worldSize, sectionSize] stack of every
    /// rank's section.
    func tensor(_ i: Int, fromSections stacked: Tensor) -> Tensor {
        noGrad {
            stacked.narrow(axis: 1, start: offsets[i], count: chunks[i]).reshaped(to: [worldSize * chunks[i]])
                .narrow(axis: 0, start: 0, count: counts[i]).reshaped(to: shapes[i])
        }
    }

    /// Every rank's section, stacked: [worldSize, sectionSize].
    func allGather(_ section: Tensor, in group: any ProcessGroup) throws -> Tensor {
        try group.allGather(section).reshaped(to: [worldSize, sectionSize])
    }
}

/// Splits `tensors` into one layout per dtype, keeping their order within each: the
/// indices (into `tensors`) and layout of each dtype present.
func shardLayouts(of tensors: [Tensor], worldSize: Int) -> [(indices: [Int], layout: ShardLayout)] {
    DType.allCases.compactMap { dtype in
        let indices = tensors.indices.filter { tensors[$0].dtype == dtype }
        guard !indices.isEmpty else { return nil }
        return (indices, ShardLayout(shapes: indices.map { tensors[$0].shape }, dtype: dtype, worldSize: worldSize))
    }
}
