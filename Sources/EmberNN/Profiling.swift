import Ember

/// Profiles `body` (see Ember's `profile`) with every module call of `model` recorded as a
/// range named by the module's path in it (`layer1.0.conv1`; the model itself by its type),
/// so that kernels are attributed to the module that ran them.
public func profile<Result>(_ model: Module, _ body: () throws -> Result) rethrows -> (result: Result, profile: Profile) {
    try profile {
        let profiler = Profiler.current!
        for (path, module) in model.namedModules() {
            profiler.names[ObjectIdentifier(module)] = path.isEmpty ? "\(type(of: module))" : path
        }
        return try body()
    }
}

enum ModulePaths {
    /// The module's path when the profile was given its model, else its type.
    static func name(of module: Module, in profiler: Profiler) -> String {
        profiler.names[ObjectIdentifier(module)] ?? "\(type(of: module))"
    }
}
