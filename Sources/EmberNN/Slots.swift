import Ember

/// What a tensor slot of a module holds: a trained parameter or a buffer.
enum SlotKind: Equatable {
    case parameter
    /// Non-persistent buffers are left out of the state dict (PyTorch's `persistent=False`).
    case buffer(persistent: Bool)
}

/// A module's tensor slot, seen through reflection. Slots are reference types so that
/// functional calls (`Module.withState`) can swap the tensor a layer reads.
protocol TensorSlot: AnyObject {
    var kind: SlotKind { get }
    var key: String? { get }
    var tensor: Tensor? { get set }
}

/// A slot that is a property wrapper: its tensor is the wrapped value.
protocol WrappedTensorSlot: TensorSlot {
    associatedtype Value: SlotValue
    var wrappedValue: Value { get set }
}

extension WrappedTensorSlot {
    var tensor: Tensor? {
        get { wrappedValue.slotTensor }
        set { wrappedValue = .fromSlot(newValue) }
    }
}

/// A stored value a slot can hold: a tensor, or an optional one (a bias that may be off).
public protocol SlotValue {
    var slotTensor: Tensor? { get }
    static func fromSlot(_ tensor: Tensor?) -> Self
}

extension Tensor: SlotValue {
    public var slotTensor: Tensor? { self }
    public static func fromSlot(_ tensor: Tensor?) -> Tensor {
        guard let tensor else { preconditionFailure("a required parameter or buffer was set to nil") }
        return tensor
    }
}

extension Optional: SlotValue where Wrapped == Tensor {
    public var slotTensor: Tensor? { self }
    public static func fromSlot(_ tensor: Tensor?) -> Tensor? { tensor }
}

/// A trained tensor of a module. Parameters require gradients unless frozen.
@propertyWrapper
public final class Parameter<Value: SlotValue>: WrappedTensorSlot {
    public var wrappedValue: Value
    let key: String?
    var kind: SlotKind { .parameter }

    public init(wrappedValue: Value, key: String? = nil) {
        wrappedValue.slotTensor?.requiresGrad = true
        self.wrappedValue = wrappedValue
        self.key = key
    }
}

/// A tensor that belongs to a module's state but is not trained (batch norm's running
/// statistics). `persistent: false` keeps it out of the state dict.
@propertyWrapper
public final class Buffer<Value: SlotValue>: WrappedTensorSlot {
    public var wrappedValue: Value
    let key: String?
    let persistent: Bool
    var kind: SlotKind { .buffer(persistent: persistent) }

    public init(wrappedValue: Value, key: String? = nil, persistent: Bool = true) {
        self.wrappedValue = wrappedValue
        self.key = key
        self.persistent = persistent
    }
}

/// A submodule whose state key is not its property name in snake case (Hugging Face's
/// `LayerNorm`). Plain `Module` properties need no wrapper.
@propertyWrapper
public struct Child<M: Module>: ChildSlot {
    public var wrappedValue: M
    let key: String?

    public init(wrappedValue: M, key: String) {
        self.wrappedValue = wrappedValue
        self.key = key
    }

    var module: Module? { wrappedValue }
}

protocol ChildSlot {
    var key: String? { get }
    var module: Module? { get }
}
