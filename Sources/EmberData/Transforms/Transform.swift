/// A per-example transformation (torchvision's transforms). Random transforms draw from the
/// generator they are handed, which loaders seed per example from (seed, epoch, index);
/// deterministic ones ignore it.
public protocol Transform<Input, Output> {
    associatedtype Input
    associatedtype Output
    func callAsFunction(_ input: Input, using random: inout SeededRandom) -> Output
}

extension Transform {
    /// Applies the transform with a generator seeded by 0 (for deterministic transforms and tests).
    public func callAsFunction(_ input: Input) -> Output {
        var random = SeededRandom(seed: 0)
        return self(input, using: &random)
    }
}

/// Transforms applied one after another, each drawing from the same generator:
///
///     let augment = Compose {
///         RandomCrop(32, padding: 4)
///         RandomHorizontalFlip()
///         ToTensor()
///         Normalize(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
///     }
public struct Compose<Body: Transform>: Transform {
    public let body: Body

    public init(@TransformBuilder _ body: () -> Body) { self.body = body() }

    public func callAsFunction(_ input: Body.Input, using random: inout SeededRandom) -> Body.Output {
        body(input, using: &random)
    }
}

/// Chains the transforms listed in a `Compose` block; the compiler checks that each one's
/// output is the next one's input.
@resultBuilder
public enum TransformBuilder {
    public static func buildPartialBlock<T: Transform>(first: T) -> T { first }

    public static func buildPartialBlock<A: Transform, B: Transform>(accumulated: A, next: B) -> Chained<A, B> where A.Output == B.Input {
        Chained(first: accumulated, second: next)
    }
}

/// `first`, then `second`.
public struct Chained<First: Transform, Second: Transform>: Transform where First.Output == Second.Input {
    public let first: First
    public let second: Second

    public func callAsFunction(_ input: First.Input, using random: inout SeededRandom) -> Second.Output {
        second(first(input, using: &random), using: &random)
    }
}

/// A transform from a closure (torchvision's Lambda).
public struct Lambda<Input, Output>: Transform {
    private let body: (Input, inout SeededRandom) -> Output

    public init(_ body: @escaping (Input) -> Output) { self.body = { input, _ in body(input) } }

    public init(_ body: @escaping (Input, inout SeededRandom) -> Output) { self.body = body }

    public func callAsFunction(_ input: Input, using random: inout SeededRandom) -> Output { body(input, &random) }
}
