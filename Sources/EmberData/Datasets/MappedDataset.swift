/// A dataset whose examples are another's passed through a transform, applied on demand
/// (`dataset.map(transform)`, torchvision's `transform=` argument).
public struct MappedDataset<Base: Dataset, Element>: RandomizedDataset {
    public let base: Base
    private let reader: ElementReader<Base.Element>
    private let transform: (Base.Element, inout SeededRandom) -> Element

    init(base: Base, transform: @escaping (Base.Element, inout SeededRandom) -> Element) {
        self.base = base
        reader = ElementReader(base)
        self.transform = transform
    }

    public var count: Int { base.count }

    public func element(at index: Int, using random: inout SeededRandom) -> Element {
        precondition(index >= 0 && index < count, "MappedDataset: index \(index) is out of range 0..<\(count)")
        return transform(reader.read(index, &random), &random)
    }
}

extension Dataset {
    /// Each example passed through `transform` (after the base's own random choices, if any).
    public func map<T: Transform>(_ transform: T) -> MappedDataset<Self, T.Output> where T.Input == Element {
        MappedDataset(base: self) { transform($0, using: &$1) }
    }

    /// The image of each labeled example passed through `transform`; the label is kept.
    public func map<T: Transform>(images transform: T) -> MappedDataset<Self, (image: T.Output, label: Int)>
    where Element == (image: Image, label: Int), T.Input == Image {
        MappedDataset(base: self) { (transform($0.image, using: &$1), $0.label) }
    }
}
