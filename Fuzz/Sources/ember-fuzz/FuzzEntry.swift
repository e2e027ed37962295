import CFuzzerDriver
import EmberFuzzTargets
import Foundation

/// The target named by EMBER_FUZZ_TARGET, looked up once.
private let target: FuzzTargets.Target = {
    let name = ProcessInfo.processInfo.environment["EMBER_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.target(named: name) else {
        let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("ember-fuzz: EMBER_FUZZ_TARGET must be one of \(names); got '\(name)'\n".utf8))
        exit(2)
    }
    return target
}()

/// libFuzzer's entry point: one input, one run of the target's loader.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzTargets.run(target, UnsafeRawBufferPointer(start: data, count: count))
    return 0
}

/// The executable's entry point (SwiftPM links `main` to it): libFuzzer's driver with the
/// command line, running `fuzzOneInput` on each input.
@_cdecl("ember_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
