import Ember

/// Turning a list of examples into one batch. Collates run on loader worker threads, so they
/// copy bytes into one Swift buffer and create each batch tensor once, running no kernels on
/// batch-sized tensors (Ember's kernels share one OpenMP pool; several threads calling them
/// would oversubscribe the cores).
public enum Collate {
    /// Tensors of one shape and dtype stacked along a new leading axis.
    public static func stack(_ tensors: [Tensor]) -> Tensor {
        precondition(!tensors.isEmpty, "Collate.stack: no tensors to stack")
        let first = tensors[0]
        let bytesEach = first.count * first.dtype.byteSize
        var bytes = [UInt8](repeating: 0, count: bytesEach * tensors.count)
        bytes.withUnsafeMutableBytes { buffer in
            for (i, tensor) in tensors.enumerated() {
                precondition(tensor.shape == first.shape && tensor.dtype == first.dtype,
                             "Collate.stack: example \(i) is \(tensor.dtype) \(tensor.shape), example 0 is \(first.dtype) \(first.shape)")
                tensor.copyBytes(into: UnsafeMutableRawBufferPointer(rebasing: buffer[(i * bytesEach)..<((i + 1) * bytesEach)]))
            }
        }
        return Tensor(bytes: bytes, shape: [tensors.count] + first.shape, dtype: first.dtype)
    }

    /// Class indices as an int64 vector, the dtype `crossEntropy` takes.
    public static func labels(_ labels: [Int]) -> Tensor {
        Tensor(labels.map(Int64.init), shape: [labels.count])
    }

    public static func batch(_ examples: [(Tensor, Int)]) -> Batch {
        Batch(inputs: stack(examples.map(\.0)), targets: labels(examples.map(\.1)))
    }

    public static func batch(_ examples: [(image: Tensor, label: Int)]) -> Batch {
        Batch(inputs: stack(examples.map(\.image)), targets: labels(examples.map(\.label)))
    }

    public static func batch(_ examples: [(Tensor, Tensor)]) -> Batch {
        Batch(inputs: stack(examples.map(\.0)), targets: stack(examples.map(\.1)))
    }

    /// Examples of a two-tensor `TensorDataset`: (inputs, targets).
    public static func batch(_ examples: [[Tensor]]) -> Batch {
        precondition(examples.allSatisfy { $0.count == 2 }, "Collate.batch: examples must hold two tensors (inputs, targets), got \(examples.first?.count ?? 0)")
        return Batch(inputs: stack(examples.map { $0[0] }), targets: stack(examples.map { $0[1] }))
    }

    /// Images become float32 N x C x H x W in [0, 1], as `ToTensor` makes them.
    public static func batch(_ examples: [(image: Image, label: Int)]) -> Batch {
        precondition(!examples.isEmpty, "Collate.batch: no examples")
        let first = examples[0].image
        let size = first.pixels.count
        var floats = [Float](repeating: 0, count: size * examples.count)
        floats.withUnsafeMutableBufferPointer { buffer in
            for (i, example) in examples.enumerated() {
                let image = example.image
                precondition(image.height == first.height && image.width == first.width && image.channels == first.channels,
                             "Collate.batch: image \(i) is \(image.height)x\(image.width)x\(image.channels), image 0 is \(first.height)x\(first.width)x\(first.channels)")
                ToTensor.write(image, into: UnsafeMutableBufferPointer(rebasing: buffer[(i * size)..<((i + 1) * size)]))
            }
        }
        return Batch(inputs: Tensor(floats, shape: [examples.count, first.channels, first.height, first.width]),
                     targets: labels(examples.map(\.label)))
    }
}

extension Tensor {
    /// The elements' bytes in row-major order, read without running a kernel unless the
    /// tensor is a strided view.
    func copyBytes(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count == count * dtype.byteSize, "copyBytes: \(buffer.count) bytes for a \(count)-element \(dtype) tensor")
        let dense = isContiguous ? self : contiguous()
        backend.download(dense, into: buffer)
    }

    /// A tensor holding raw row-major bytes of `dtype`.
    convenience init(bytes: [UInt8], shape: [Int], dtype: DType) {
        self.init(uninitializedShape: shape, dtype: dtype)
        precondition(bytes.count == count * dtype.byteSize, "Tensor(bytes:): \(bytes.count) bytes for \(count) \(dtype) elements")
        bytes.withUnsafeBytes { backend.upload($0, to: storage, at: 0) }
    }

    /// The float32 elements of a float32 tensor in row-major order, read without a kernel
    /// unless the tensor is a strided view.
    func float32Values(_ caller: String) -> [Float] {
        precondition(dtype == .float32, "\(caller): expects a float32 tensor, got \(dtype)")
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            copyBytes(into: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}
