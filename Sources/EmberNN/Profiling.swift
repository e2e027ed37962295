import Ember

/// Profiles `body` (see Ember's `profile`) with every module call of `model` recorded as a
/// range named by the module's path in it (`layer1.0.conv1`; the model itself by its type),
/// so that kernels are attributed to the module that ran them.
public func profile<Result>(_ model: Module, _ body: () throws -> Result) rethrows -> (result: Result, profile: Profile) {
    try profile {
        Profiler.current!.nameModules(of: model)
        return try body()
    }
}

extension Profiler {
    /// Names the ranges of `model`'s module calls by their paths in it (the model itself by
    /// its type); unnamed modules are recorded by their type.
    public func nameModules(of model: Module) {
        for (path, module) in model.namedModules() {
            names[ObjectIdentifier(module)] = path.isEmpty ? "\(type(of: module))" : path
        }
    }
}

enum ModulePaths {
    /// The module's path when the profile was given its model, else its type.
    static func name(of module: Module, in profiler: Profiler) -> String {
        profiler.names[ObjectIdentifier(module)] ?? "\(type(of: module))"
    }
}
