import Ember

extension Module {
    /// The parameters as a tree nested by name, for the functional style: differentiate a
    /// loss with respect to it with `grad`, update it with a functional optimizer.
    public func parameterTree() -> TensorTree {
        TensorTree(flat: Dictionary(uniqueKeysWithValues: namedParameters()))
    }

    /// Runs `body` with the module's parameters (and any buffers) taken from `tree` instead
    /// of its own, as torch.func.functional_call: `model.applying(params) { model(x) }`.
    public func applying<R>(_ tree: TensorTree, _ body: () throws -> R) rethrows -> R {
        try withState(tree.flat, body)
    }
}
